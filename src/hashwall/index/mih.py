"""``MihIndex``: exact radius search by multi-index hashing, laid out for memory locality.

The codes and their substring tables live in immutable segments
(:mod:`hashwall.index.mih_tables`, which has the layout and the probe plan). For each
substring value within ``tau_t`` of the query's, a table's bitmap says at once whether any code
has it (at 1M codes and 23 bits, ~1 in 9 does); only those read their bucket, and keep the
entries whose packed bits equal the value, so only true substring neighbours cost a random read
of the codes. Results are exact for every radius 0..63.

Mutations: the main segment is immutable. Adds go to a small delta (scanned brute force),
removals to a sorted tombstone array; each mutation publishes a new immutable snapshot in a
single assignment, so a search (which reads the snapshot once) never sees a half-applied
change. When the delta or the tombstones grow past a threshold the main segment is rebuilt.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self

import numpy as np
import numpy.typing as npt

from hashwall.errors import InvalidInput
from hashwall.hashing.codes import Hash256
from hashwall.index import _kernels as k
from hashwall.index.base import (
    DihedralMatch,
    IdArray,
    Match,
    WordArray,
    as_ids,
    as_words,
    best_per_id,
    bytes_to_words,
    check_radius,
    dedupe_last,
    dihedral_words,
    group_matches,
    query_words,
    words_to_bytes,
)
from hashwall.index.mih_tables import NEAR, Layout, PosArray, Segment, empty_segment

FORMAT_VERSION = 1


_EMPTY_POS: PosArray = np.zeros(0, dtype=np.int64)
_NO_SCRATCH: PosArray = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """Everything a search reads, published in one assignment."""

    main: Segment
    removed: PosArray  # sorted positions in main that are tombstoned
    delta_ids: IdArray
    delta_words: WordArray

    def __len__(self) -> int:
        return int(self.main.ids.size - self.removed.size + self.delta_ids.size)

    def sample_id(self, rng: random.Random) -> int | None:
        """A random live id, uniform over them (None when there is none)."""
        main, delta = int(self.main.ids.size), int(self.delta_ids.size)
        if len(self) == 0:
            return None
        for _ in range(8):  # tombstones are a small share of main (compaction bounds them)
            k = rng.randrange(main + delta)
            if k >= main:
                return int(self.delta_ids[k - main])
            at = int(np.searchsorted(self.removed, k))
            if at == self.removed.size or int(self.removed[at]) != k:
                return int(self.main.ids[k])
        alive = np.setdiff1d(np.arange(main), self.removed, assume_unique=True)
        k = rng.randrange(alive.size + delta)
        return int(self.main.ids[alive[k]] if k < alive.size else self.delta_ids[k - alive.size])


class MihIndex:
    """Exact radius search over 256-bit codes; see the module docstring for the design.

    Thread safety: searches run concurrently (the numba kernels release the GIL); mutations
    are serialised by a lock and published atomically.
    """

    def __init__(
        self,
        *,
        layout: Layout | None = None,
        delta_max: int | None = None,
        removed_max: int | None = None,
    ) -> None:
        self._fixed_layout = layout
        self._delta_max = delta_max
        self._removed_max = removed_max
        self._lock = threading.Lock()
        self._scratch = threading.local()  # each searching thread's kernel work array
        self._snap = _Snapshot(
            empty_segment(layout), _EMPTY_POS, np.zeros(0, np.int64), np.zeros((0, 4), np.uint64)
        )

    # --- building ------------------------------------------------------------------------

    @classmethod
    def from_arrays(
        cls, ids: npt.ArrayLike, hashes: npt.ArrayLike, *, layout: Layout | None = None
    ) -> MihIndex:
        """Build in one pass from ``(n,)`` ids and ``(n, 32)`` uint8 codes (or ``(n, 4)`` words)."""
        new_ids = as_ids(ids)
        new_words = as_words(hashes)
        if new_ids.size != new_words.shape[0]:
            raise InvalidInput(f"{new_ids.size} ids for {new_words.shape[0]} hashes")
        new_ids, new_words = dedupe_last(new_ids, new_words)
        index = cls(layout=layout)
        # the index must not alias (and later see changes to) the caller's arrays; converting
        # (n, 32) bytes to words already copies, so copy only what would still be shared
        if isinstance(hashes, np.ndarray) and np.may_share_memory(new_words, hashes):
            new_words = new_words.copy()
        if isinstance(ids, np.ndarray) and np.may_share_memory(new_ids, ids):
            new_ids = new_ids.copy()
        seg = Segment.build(new_ids, new_words, layout)
        index._snap = _Snapshot(seg, _EMPTY_POS, np.zeros(0, np.int64), np.zeros((0, 4), np.uint64))
        return index

    @property
    def layout(self) -> Layout:
        """The substring layout of the current main segment."""
        return self._snap.main.layout

    def nbytes(self) -> int:
        """Bytes held by the arrays of the current snapshot."""
        s = self._snap
        return s.main.nbytes() + int(s.removed.nbytes + s.delta_ids.nbytes + s.delta_words.nbytes)

    def _limits(self, n: int) -> tuple[int, int]:
        delta_max = (
            self._delta_max if self._delta_max is not None else min(65536, max(2048, n // 256))
        )
        removed_max = self._removed_max if self._removed_max is not None else max(4096, n // 64)
        return delta_max, removed_max

    def add(self, ids: npt.ArrayLike, hashes: npt.ArrayLike) -> None:
        """Insert or replace ``ids[i] -> hashes[i]`` (see ``hashwall.index.base``)."""
        new_ids = as_ids(ids)
        new_words = as_words(hashes)
        if new_ids.size != new_words.shape[0]:
            raise InvalidInput(f"{new_ids.size} ids for {new_words.shape[0]} hashes")
        if new_ids.size == 0:
            return
        new_ids, new_words = dedupe_last(new_ids, new_words)
        with self._lock:
            s = self._snap
            removed = self._tombstone(s, new_ids)
            keep = ~np.isin(s.delta_ids, new_ids)
            delta_ids = np.concatenate([s.delta_ids[keep], new_ids])
            delta_words = np.concatenate([s.delta_words[keep], new_words])
            self._publish(_Snapshot(s.main, removed, delta_ids, delta_words))

    def remove(self, ids: npt.ArrayLike) -> None:
        """Forget these ids (unknown ids are ignored); effective for the next search."""
        gone = as_ids(ids)
        if gone.size == 0:
            return
        with self._lock:
            s = self._snap
            removed = self._tombstone(s, gone)
            keep = ~np.isin(s.delta_ids, gone)
            self._publish(_Snapshot(s.main, removed, s.delta_ids[keep], s.delta_words[keep]))

    @staticmethod
    def _tombstone(s: _Snapshot, ids: IdArray) -> PosArray:
        main_ids = s.main.ids
        if main_ids.size == 0:
            return s.removed
        pos = np.searchsorted(main_ids, ids)
        pos = pos[pos < main_ids.size]
        hit = pos[main_ids[pos] == ids[: pos.size]] if pos.size == ids.size else None
        if hit is None:  # some ids beyond the last: recompute the comparison per element
            pos_all = np.searchsorted(main_ids, ids)
            ok = pos_all < main_ids.size
            hit = pos_all[ok][main_ids[pos_all[ok]] == ids[ok]]
        if hit.size == 0:
            return s.removed
        return np.union1d(s.removed, hit.astype(np.int64))

    def _publish(self, snap: _Snapshot) -> None:
        delta_max, removed_max = self._limits(int(snap.main.ids.size))
        if snap.delta_ids.size > delta_max or snap.removed.size > removed_max:
            snap = self._compact(snap)
        self._snap = snap

    def _compact(self, snap: _Snapshot) -> _Snapshot:
        main = snap.main
        alive = np.ones(main.ids.size, dtype=bool)
        alive[snap.removed] = False
        ids = np.concatenate([main.ids[alive], snap.delta_ids])
        words = np.concatenate([main.words[alive], snap.delta_words])
        seg = Segment.build(ids, words, self._fixed_layout)
        return _Snapshot(seg, _EMPTY_POS, np.zeros(0, np.int64), np.zeros((0, 4), np.uint64))

    def compact(self) -> None:
        """Fold the delta and the tombstones into a rebuilt main segment now."""
        with self._lock:
            self._snap = self._compact(self._snap)

    # --- searching -----------------------------------------------------------------------

    def _search_words(
        self, queries: WordArray, radius: int
    ) -> tuple[npt.NDArray[np.int64], IdArray, npt.NDArray[np.int64]]:
        s = self._snap  # read once: the whole search uses one consistent snapshot
        main = s.main
        n = int(main.ids.size)
        if n == 0:
            off = np.zeros(queries.shape[0] + 1, dtype=np.int64)
            pos, dist = _EMPTY_POS, _EMPTY_POS
        else:
            plan = main.plan(radius)
            if plan.scan:
                off, pos, dist = k.scan(queries, radius, main.words, s.removed)
            else:
                lay = main.layout
                off, pos, dist, scratch = k.search_tables(
                    queries,
                    radius,
                    plan.taus,
                    main.starts,
                    main.widths,
                    lay.high_bits,
                    main.pos_bits,
                    plan.masks,
                    plan.mask_off,
                    plan.mask_cnt,
                    plan.groups,
                    plan.group_off,
                    plan.group_cnt,
                    NEAR,
                    main.bm_off,
                    main.bitmaps,
                    main.words,
                    main.offsets,
                    main.entries,
                    s.removed,
                    getattr(self._scratch, "array", _NO_SCRATCH),
                )
                self._scratch.array = scratch
        ids = main.ids[pos]
        if s.delta_ids.size == 0:
            return off, ids, dist
        d_off, d_pos, d_dist = k.scan(queries, radius, s.delta_words, _EMPTY_POS)
        return _merge_csr(off, ids, dist, d_off, s.delta_ids[d_pos], d_dist)

    def sample_id(self, rng: random.Random) -> int | None:
        """A random id held by the index now (None when it is empty).

        For callers that must do the work of a hit without having one (the check's decoy, see
        ``service/check.py``): a random item, so that its rows are as often cold in the
        store's caches as a real hit's.
        """
        return self._snap.sample_id(rng)

    def search(self, query: Hash256, radius: int) -> list[Match]:
        """Every id within ``radius`` bits of ``query``, by distance then id."""
        _, ids, dists = self._search_words(query_words(query), check_radius(radius))
        if ids.size == 0:
            return []
        return [Match(i, d) for d, i in sorted(zip(dists.tolist(), ids.tolist(), strict=True))]

    def search_many(self, queries: npt.ArrayLike, radius: int) -> list[list[Match]]:
        """``search`` for each row of an ``(q, 32)`` uint8 array, in one kernel call."""
        return group_matches(*self._search_words(as_words(queries), check_radius(radius)))

    def search_dihedral(
        self, orientations: Sequence[Hash256] | npt.ArrayLike, radius: int
    ) -> list[DihedralMatch]:
        """The 8 orientations of one upload in one kernel call; best distance per id."""
        return best_per_id(*self._search_words(dihedral_words(orientations), check_radius(radius)))

    def __len__(self) -> int:
        return len(self._snap)

    # --- persistence ---------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the compacted index as ``.npy`` arrays plus ``layout.json`` into ``path``."""
        with self._lock:
            snap = self._snap
            if snap.removed.size or snap.delta_ids.size:
                snap = self._compact(snap)
                self._snap = snap
        main = snap.main
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "ids.npy", main.ids, allow_pickle=False)
        np.save(path / "hashes.npy", words_to_bytes(main.words), allow_pickle=False)
        np.save(path / "offsets.npy", main.offsets, allow_pickle=False)
        np.save(path / "entries.npy", main.entries, allow_pickle=False)
        meta = {
            "format": FORMAT_VERSION,
            "kind": "mih",
            "widths": list(main.layout.widths),
            "high_bits": main.layout.high_bits,
        }
        (path / "layout.json").write_text(json.dumps(meta) + "\n")

    @classmethod
    def load(cls, path: Path, *, mmap: bool = False) -> Self:
        """Read an index written by ``save``; ``mmap=True`` maps the table arrays read-only."""
        meta = json.loads((path / "layout.json").read_text())
        if meta.get("format") != FORMAT_VERSION or meta.get("kind") != "mih":
            raise InvalidInput(f"{path} is not a hashwall MIH index (format {FORMAT_VERSION})")
        layout = Layout(tuple(int(w) for w in meta["widths"]), int(meta["high_bits"]))
        mode: Literal["r"] | None = "r" if mmap else None
        ids = np.load(path / "ids.npy", allow_pickle=False)
        codes = np.load(path / "hashes.npy", allow_pickle=False)
        offsets = np.load(path / "offsets.npy", allow_pickle=False, mmap_mode=mode)
        entries = np.load(path / "entries.npy", allow_pickle=False, mmap_mode=mode)
        n, m = int(ids.size), len(layout.widths)
        if (
            ids.dtype != np.int64
            or codes.shape != (n, 32)
            or offsets.shape != (m, (1 << layout.high_bits) + 1)
            or entries.shape != (m, n)
            or offsets.dtype != np.uint32
            or entries.dtype != np.uint32
            or (n > 1 and not bool(np.all(ids[1:] > ids[:-1])))
        ):
            raise InvalidInput(f"{path}: arrays do not match the layout; rebuild the index")
        seg = Segment(layout, ids, bytes_to_words(codes), offsets, entries)
        index = cls(layout=layout)
        index._snap = _Snapshot(seg, _EMPTY_POS, np.zeros(0, np.int64), np.zeros((0, 4), np.uint64))
        return index


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) the build and search kernels now.

    On a fresh install the first search compiles for several seconds; a serving process calls
    this before it reports ready, so no request pays for it. Fast once compiled (~1 ms).
    """
    words = np.random.default_rng(0).integers(0, 2**63, size=(64, 4), dtype=np.uint64)
    index = MihIndex.from_arrays(np.arange(64), words, layout=Layout.split(16, 4))
    index.search_many(words[:2], 0)  # the substring tables (radius 0 never scans)
    index.search_many(words[:2], 63)  # the scan
    index.add([64], words[:1])
    index.remove([0])
    index.search_many(words[:2], 0)  # the delta and the tombstones


def _merge_csr(
    a_off: npt.NDArray[np.int64],
    a_ids: IdArray,
    a_d: npt.NDArray[np.int64],
    b_off: npt.NDArray[np.int64],
    b_ids: IdArray,
    b_d: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], IdArray, npt.NDArray[np.int64]]:
    """Concatenate two CSR result sets query by query."""
    nq = a_off.size - 1
    qa = np.repeat(np.arange(nq), np.diff(a_off))
    qb = np.repeat(np.arange(nq), np.diff(b_off))
    q = np.concatenate([qa, qb])
    order = np.argsort(q, kind="stable")
    off = a_off + b_off
    return off, np.concatenate([a_ids, b_ids])[order], np.concatenate([a_d, b_d])[order]
