"""``MihIndex``: exact radius search by multi-index hashing, laid out for memory locality.

Layout (chosen by measurement, see ``docs/benchmarks.md``): the 256 bits are split into ``m``
contiguous substrings (11 of 23-24 bits for banks above 65,536 codes). Table ``t`` is a
counting sort of all positions by the top ``high_bits`` of substring ``t`` (about log2(n) - 2,
so buckets hold ~4 entries): an ``offsets`` array plus one uint32 per code in bucket order that
packs the code's position with the rest of its substring bits (as many as the position leaves
room for), and an occupancy bitmap of ``2**width`` bits (which substring values some code has;
at most 2 MiB per table, so substrings are at most 24 bits). Codes are stored once, sorted by
id (removal finds them by binary search).

Search at radius ``r`` gives each table a substring radius ``tau_t`` with
``sum(tau_t + 1) > r`` (the general pigeonhole principle): every code within ``r`` has some
substring ``t`` within ``tau_t``. The radii are chosen per query radius by a cost model; when
probing would cost more than a scan (large radii), the main segment is scanned. For each
substring value within ``tau_t`` of the query's, the bitmap says at once whether any code has
it (at 1M codes and 23 bits, ~1 in 9 does); only those read their bucket, and keep the entries
whose packed bits equal the value, so only true substring neighbours cost a random read of
the codes. Results are exact for every radius 0..63.

Mutations: the main segment is immutable. Adds go to a small delta (scanned brute force),
removals to a sorted tombstone array; each mutation publishes a new immutable snapshot in a
single assignment, so a search (which reads the snapshot once) never sees a half-applied
change. When the delta or the tombstones grow past a threshold the main segment is rebuilt.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
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

PosArray = npt.NDArray[np.int64]
FORMAT_VERSION = 1

#: Widest substring: each table keeps a bitmap of 2**width bits (2 MiB at 24).
MAX_WIDTH = 24
#: Most substrings a query may look up across the tables before a scan is cheaper to run.
MAX_LOOKUPS = 1 << 18

# Cost model (ns, one core of the benchmark machine): a substring looked up in a bitmap, a
# bucket read (random reads of offsets and entries), an entry read in a bucket (sequential),
# a candidate (random 32-byte read), and a code in a full scan.
_BIT_NS = 3.0
_PROBE_NS = 50.0
_ENTRY_NS = 2.5
_CANDIDATE_NS = 20.0
_SCAN_NS = 1.0


@dataclass(frozen=True, slots=True)
class Layout:
    """Substring widths (contiguous, summing to 256) and the bits addressed by ``offsets``."""

    widths: tuple[int, ...]
    high_bits: int

    def __post_init__(self) -> None:
        if sum(self.widths) != 256 or not all(1 <= w <= MAX_WIDTH for w in self.widths):
            raise InvalidInput(f"substring widths must be 1..{MAX_WIDTH} bits and sum to 256")
        if not 1 <= self.high_bits <= min(self.widths) or self.high_bits > 24:
            raise InvalidInput("high_bits must be in 1..min(widths) and <= 24")

    @property
    def starts(self) -> tuple[int, ...]:
        """Bit offset of each substring."""
        out, acc = [], 0
        for w in self.widths:
            out.append(acc)
            acc += w
        return tuple(out)

    @property
    def bitmap_offsets(self) -> tuple[int, ...]:
        """Where each table's occupancy bitmap starts in the flat uint64 array (and its end)."""
        out, acc = [], 0
        for w in self.widths:
            out.append(acc)
            acc += max(1, (1 << w) // 64)
        return (*out, acc)

    @classmethod
    def split(cls, m: int, high_bits: int) -> Layout:
        """``m`` near-equal contiguous substrings (wider ones first)."""
        base, extra = divmod(256, m)
        widths = tuple(base + 1 if i < extra else base for i in range(m))
        return cls(widths, min(high_bits, *widths))

    @classmethod
    def for_size(cls, n: int) -> Layout:
        """The measured default for a bank of ``n`` codes (see docs/benchmarks.md)."""
        log_n = round(math.log2(max(n, 1)))
        if n <= 1 << 16:
            return cls.split(16, int(min(16, max(8, log_n - 3))))
        high = int(min(21, max(8, log_n - 2)))  # buckets of ~4 entries
        # 11 x 23-24 bits, tau = 2 at radius 31 (measured best from 1M to 10M, see docs)
        return cls.split(11, high)


def _release_free_memory() -> None:
    """Hand the build's freed scratch memory back to the OS (glibc keeps it otherwise)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def pos_bits_for(n: int) -> int:
    """Bits needed for a position in a segment of ``n`` codes."""
    return max(1, (max(n, 1) - 1).bit_length())


def _combinations(n: int, k: int) -> float:
    return float(sum(math.comb(n, i) for i in range(k + 1))) if k >= 0 else 0.0


def plan_radii(layout: Layout, n: int, radius: int) -> tuple[npt.NDArray[np.int64], bool]:
    """Per-table substring radii for ``radius`` (``-1`` = unused) and whether to scan instead.

    Greedy on marginal cost; each unit of ``tau_t + 1`` counts one towards the ``radius + 1``
    the pigeonhole bound needs. Costs are convex in ``tau`` so greedy is optimal.
    """
    m = len(layout.widths)
    h = layout.high_bits
    key_bits = 32 - pos_bits_for(n)
    per_bucket = n / 2.0**h

    def cost(t: int, tau: int) -> float:
        if tau < 0:
            return 0.0
        w = layout.widths[t]
        lookups = _combinations(w, tau)
        occupied = lookups * -math.expm1(-n / 2.0**w)  # substrings some code has
        known = min(w, h + key_bits)  # bits compared before reading the code
        cands = lookups * n / 2.0**known
        return (
            lookups * _BIT_NS
            + occupied * (_PROBE_NS + per_bucket * _ENTRY_NS)
            + cands * _CANDIDATE_NS
        )

    taus = [-1] * m
    total = 0.0
    for _ in range(radius + 1):
        best_t, best_c = -1, math.inf
        for t in range(m):
            if taus[t] >= layout.widths[t]:
                continue
            c = cost(t, taus[t] + 1) - cost(t, taus[t])
            if c < best_c:
                best_t, best_c = t, c
        if best_t < 0:  # every bit enumerated: cannot happen for radius <= 63 and m >= 1
            return np.full(m, -1, dtype=np.int64), True
        taus[best_t] += 1
        total += best_c
    lookups = sum(_combinations(w, t) for w, t in zip(layout.widths, taus, strict=True))
    scan = n * _SCAN_NS < total or lookups > MAX_LOOKUPS
    return np.array(taus, dtype=np.int64), scan


@dataclass(frozen=True, slots=True)
class _Plan:
    taus: npt.NDArray[np.int64]
    scan: bool
    masks: npt.NDArray[np.uint32]  # each used table's flip masks (width w_t, <= tau_t bits)
    mask_off: npt.NDArray[np.int64]  # where table t's masks start
    mask_cnt: npt.NDArray[np.int64]  # how many (0 for unused tables)


@dataclass(frozen=True, slots=True)
class _Segment:
    """The immutable main part: codes sorted by id, and the substring tables."""

    layout: Layout
    ids: IdArray  # sorted, unique
    words: WordArray  # (n, 4) uint64, aligned with ids
    offsets: npt.NDArray[np.uint32]  # (m, 2**high_bits + 1)
    entries: npt.NDArray[np.uint32]  # (m, n) position | key << pos_bits, in bucket order
    plans: dict[int, _Plan] = field(default_factory=dict, compare=False)
    starts: npt.NDArray[np.int64] = field(init=False, compare=False)
    widths: npt.NDArray[np.int64] = field(init=False, compare=False)
    bm_off: npt.NDArray[np.int64] = field(init=False, compare=False)
    bitmaps: npt.NDArray[np.uint64] = field(init=False, compare=False)  # derived from words

    def __post_init__(self) -> None:
        lay = self.layout
        object.__setattr__(self, "starts", np.array(lay.starts, dtype=np.int64))
        object.__setattr__(self, "widths", np.array(lay.widths, dtype=np.int64))
        bm = lay.bitmap_offsets
        object.__setattr__(self, "bm_off", np.array(bm[:-1], dtype=np.int64))
        bitmaps = np.zeros(bm[-1], dtype=np.uint64)
        k.build_bitmaps(self.words, self.starts, self.widths, self.bm_off, bitmaps)
        object.__setattr__(self, "bitmaps", bitmaps)

    def plan(self, radius: int) -> _Plan:
        """The probing plan for ``radius`` (memoised: it depends only on the layout and n)."""
        found = self.plans.get(radius)
        if found is None:
            taus, scan = plan_radii(self.layout, int(self.ids.size), radius)
            m = len(self.layout.widths)
            per_table = [
                k.flip_masks(w, int(t)) if t >= 0 and not scan else np.zeros(0, np.uint32)
                for w, t in zip(self.layout.widths, taus, strict=True)
            ]
            counts = np.array([a.size for a in per_table], dtype=np.int64)
            offsets = np.zeros(m, dtype=np.int64)
            offsets[1:] = np.cumsum(counts)[:-1]
            masks = np.concatenate(per_table) if counts.sum() else np.zeros(1, np.uint32)
            found = self.plans[radius] = _Plan(taus, scan, masks, offsets, counts)
        return found

    @property
    def pos_bits(self) -> int:
        """Bits of an entry that hold the position (the rest hold substring key bits)."""
        return pos_bits_for(int(self.ids.size))

    @classmethod
    def build(cls, ids: IdArray, words: WordArray, layout: Layout | None = None) -> _Segment:
        n = int(ids.size)
        if n >= 2**32:
            raise InvalidInput("at most 2**32 - 1 codes per index segment")
        if n > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            order = np.argsort(ids, kind="stable")
            ids, words = ids[order], words[order]
        words = np.ascontiguousarray(words, dtype=np.uint64)
        lay = layout or Layout.for_size(n)
        m, h = len(lay.widths), lay.high_bits
        offsets = np.empty((m, (1 << h) + 1), dtype=np.uint32)
        entries = np.empty((m, n), dtype=np.uint32)
        for t, (start, width) in enumerate(zip(lay.starts, lay.widths, strict=True)):
            k.build_table(words, start, width, h, pos_bits_for(n), offsets[t], entries[t])
        if n >= 1 << 16:
            _release_free_memory()
        return cls(lay, ids, words, offsets, entries)

    def nbytes(self) -> int:
        arrays = (self.ids, self.words, self.offsets, self.entries, self.bitmaps)
        return sum(int(a.nbytes) for a in arrays)


_EMPTY_POS: PosArray = np.zeros(0, dtype=np.int64)
_NO_SCRATCH: PosArray = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """Everything a search reads, published in one assignment."""

    main: _Segment
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


def _empty_segment(layout: Layout | None) -> _Segment:
    return _Segment.build(np.zeros(0, np.int64), np.zeros((0, 4), np.uint64), layout)


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
            _empty_segment(layout), _EMPTY_POS, np.zeros(0, np.int64), np.zeros((0, 4), np.uint64)
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
        seg = _Segment.build(new_ids, new_words, layout)
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
        seg = _Segment.build(ids, words, self._fixed_layout)
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
        seg = _Segment(layout, ids, bytes_to_words(codes), offsets, entries)
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
