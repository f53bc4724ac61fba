"""The ``HashIndex`` protocol: exact radius search over 256-bit codes with integer ids.

Conventions shared by every implementation:

* A single hash crosses the API as a :class:`~hashwall.hashing.codes.Hash256`; bulk
  operations take numpy arrays: hashes ``(n, 32)`` uint8 in canonical byte order (most
  significant bit first, the hex order), or ``(n, 4)`` uint64 words holding the same bytes
  big-endian; ids an ``(n,)`` integer array with values in ``0 .. 2**63 - 1``.
* Ids are keys: adding an id that is already present replaces its hash (last one wins, also
  within one batch). Removing an unknown id is a no-op.
* Results are sorted by distance, then id. A search returns exactly what a brute-force scan
  returns (distance <= radius, radius in ``0 .. 63``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt

from hashwall.errors import InvalidHash, InvalidInput
from hashwall.hashing.codes import HASH_BYTES, Hash256

MAX_RADIUS = 63
MAX_ID = 2**63 - 1
DIHEDRAL = 8

IdArray = npt.NDArray[np.int64]
CodeArray = npt.NDArray[np.uint8]
WordArray = npt.NDArray[np.uint64]


class Match(NamedTuple):
    """One indexed id within the radius of a query, and its Hamming distance."""

    id: int
    distance: int


class DihedralMatch(NamedTuple):
    """Best match of an id over the 8 orientations of one upload.

    ``orientation`` is the position (0-7) of the query orientation that achieved the smallest
    distance (the lowest position on ties); for PDQ it indexes
    ``hashwall.hashing.pdq.ORIENTATIONS``.
    """

    id: int
    distance: int
    orientation: int


@runtime_checkable
class HashIndex(Protocol):
    """Exact radius search over 256-bit codes; see the module docstring for conventions."""

    def add(self, ids: npt.ArrayLike, hashes: npt.ArrayLike) -> None:
        """Insert or replace ``ids[i] -> hashes[i]``; visible to the next search."""
        ...

    def remove(self, ids: npt.ArrayLike) -> None:
        """Forget these ids (unknown ids are ignored); effective for the next search."""
        ...

    def search(self, query: Hash256, radius: int) -> list[Match]:
        """Every indexed id within ``radius`` bits of ``query``, by distance then id."""
        ...

    def search_many(self, queries: npt.ArrayLike, radius: int) -> list[list[Match]]:
        """``search`` for each row of an ``(q, 32)`` uint8 array."""
        ...

    def search_dihedral(
        self, orientations: Sequence[Hash256] | npt.ArrayLike, radius: int
    ) -> list[DihedralMatch]:
        """Match the 8 orientations of one upload; per id the best distance and orientation."""
        ...

    def __len__(self) -> int:
        """Number of ids currently indexed."""
        ...

    def save(self, path: Path) -> None:
        """Write the index as plain ``.npy`` arrays into the directory ``path``."""
        ...

    @classmethod
    def load(cls, path: Path, *, mmap: bool = False) -> Self:
        """Read an index written by ``save`` (never unpickles)."""
        ...


# --- validation and conversion shared by the implementations ---------------------------------


def check_radius(radius: int) -> int:
    """Validate a search radius (an int in 0..63)."""
    if isinstance(radius, bool) or not isinstance(radius, int | np.integer):
        raise InvalidInput(f"radius must be an integer in 0..{MAX_RADIUS}, got {radius!r}")
    r = int(radius)
    if not 0 <= r <= MAX_RADIUS:
        raise InvalidInput(f"radius must be in 0..{MAX_RADIUS}, got {r}")
    return r


def as_ids(ids: npt.ArrayLike) -> IdArray:
    """Ids as a 1-d int64 array; each must be in 0..2**63-1."""
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InvalidInput(f"ids must be a 1-d integer array, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype == np.uint64:
        if int(arr.max()) > MAX_ID:
            raise InvalidInput(f"ids must be in 0..{MAX_ID}")
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        if arr.dtype == object and all(isinstance(v, int) for v in arr.tolist()):
            vals = arr.tolist()
            if min(vals) < 0 or max(vals) > MAX_ID:
                raise InvalidInput(f"ids must be in 0..{MAX_ID}")
            return np.array(vals, dtype=np.int64)
        raise InvalidInput(f"ids must be integers, got dtype {arr.dtype}")
    out = arr.astype(np.int64, copy=False)
    if int(out.min()) < 0:
        raise InvalidInput(f"ids must be in 0..{MAX_ID}")
    return out


def as_words(hashes: npt.ArrayLike | Sequence[Hash256]) -> WordArray:
    """Hashes as a C-contiguous ``(n, 4)`` uint64 array of big-endian words (word 0 = bits 0-63).

    Accepts ``(n, 32)`` uint8 (canonical), ``(n, 4)`` uint64 (already words), a single
    :class:`Hash256` or a sequence of them.
    """
    if isinstance(hashes, Hash256):
        hashes = [hashes]
    if isinstance(hashes, list | tuple) and hashes and isinstance(hashes[0], Hash256):
        buf = b"".join(h.value for h in hashes if isinstance(h, Hash256))
        if len(buf) != HASH_BYTES * len(hashes):
            raise InvalidHash("every element must be a Hash256")
        arr8 = np.frombuffer(buf, dtype=np.uint8).reshape(len(hashes), HASH_BYTES)
        return bytes_to_words(arr8)
    arr = np.asarray(hashes)
    if arr.ndim == 2 and arr.shape[1] == 4 and arr.dtype == np.uint64:
        return np.ascontiguousarray(arr)
    if arr.ndim == 1 and arr.size == 0:
        return np.zeros((0, 4), dtype=np.uint64)
    if arr.ndim != 2 or arr.shape[1] != HASH_BYTES or arr.dtype != np.uint8:
        raise InvalidHash(
            f"hashes must be an (n, {HASH_BYTES}) uint8 array (or (n, 4) uint64), "
            f"got shape {arr.shape} dtype {arr.dtype}"
        )
    return bytes_to_words(arr)


def bytes_to_words(arr8: npt.NDArray[np.uint8]) -> WordArray:
    """``(n, 32)`` uint8 -> ``(n, 4)`` uint64 (big-endian words, so bit order is preserved)."""
    a = np.ascontiguousarray(arr8, dtype=np.uint8)
    return a.view(">u8").astype(np.uint64).reshape(a.shape[0], 4)


def words_to_bytes(words: WordArray) -> CodeArray:
    """``(n, 4)`` uint64 -> ``(n, 32)`` uint8 canonical bytes."""
    w = np.ascontiguousarray(words, dtype=np.uint64)
    return w.astype(">u8").view(np.uint8).reshape(w.shape[0], HASH_BYTES)


def query_words(query: Hash256) -> WordArray:
    """One query hash as a ``(1, 4)`` word array."""
    if not isinstance(query, Hash256):
        raise InvalidHash(f"a query must be a Hash256, got {type(query).__name__}")
    return np.frombuffer(query.value, dtype=">u8").astype(np.uint64).reshape(1, 4)


def dihedral_words(orientations: Sequence[Hash256] | npt.ArrayLike) -> WordArray:
    """The 8 orientation hashes of one upload as an ``(8, 4)`` word array."""
    arg: npt.ArrayLike | list[Hash256] = (
        list(orientations) if isinstance(orientations, tuple) else orientations  # type: ignore[assignment]
    )
    words = as_words(arg)
    if words.shape[0] != DIHEDRAL:
        raise InvalidHash(f"expected {DIHEDRAL} orientation hashes, got {words.shape[0]}")
    return words


def dedupe_last(ids: IdArray, words: WordArray) -> tuple[IdArray, WordArray]:
    """Keep the last occurrence of each id in a batch (ids are keys: last one wins)."""
    if ids.size <= 1 or bool(np.all(ids[1:] > ids[:-1])):
        return ids, words
    rev_ids = ids[::-1]
    _, first_in_rev = np.unique(rev_ids, return_index=True)
    keep = np.sort(ids.size - 1 - first_in_rev)
    if keep.size == ids.size:
        return ids, words
    return ids[keep], words[keep]


def group_matches(
    offsets: npt.NDArray[np.int64], ids: IdArray, dists: npt.NDArray[np.integer]
) -> list[list[Match]]:
    """CSR (offsets, ids, distances) -> one sorted ``list[Match]`` per query."""
    out: list[list[Match]] = []
    for q in range(offsets.size - 1):
        lo, hi = int(offsets[q]), int(offsets[q + 1])
        if lo == hi:
            out.append([])
            continue
        qi, qd = ids[lo:hi], dists[lo:hi]
        order = np.lexsort((qi, qd))
        out.append(
            [Match(i, d) for i, d in zip(qi[order].tolist(), qd[order].tolist(), strict=True)]
        )
    return out


def best_per_id(
    offsets: npt.NDArray[np.int64], ids: IdArray, dists: npt.NDArray[np.integer]
) -> list[DihedralMatch]:
    """Reduce per-orientation CSR matches to the best (distance, orientation) per id."""
    counts = np.diff(offsets)
    orient = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    if ids.size == 0:
        return []
    order = np.lexsort((orient, dists, ids))
    sid, sd, so = ids[order], dists[order], orient[order]
    first = np.ones(sid.size, dtype=bool)
    first[1:] = sid[1:] != sid[:-1]
    bi, bd, bo = sid[first], sd[first], so[first]
    order2 = np.lexsort((bi, bd))
    return [
        DihedralMatch(i, d, o)
        for i, d, o in zip(
            bi[order2].tolist(), bd[order2].tolist(), bo[order2].tolist(), strict=True
        )
    ]
