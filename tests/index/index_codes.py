"""Shared data for the index tests: random and clustered (near-duplicate) codes, and the
reference scan every index is checked against."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def random_codes(rng: np.random.Generator, n: int) -> npt.NDArray[np.uint8]:
    """``n`` uniform 256-bit codes as ``(n, 32)`` uint8."""
    return rng.integers(0, 256, size=(n, 32), dtype=np.uint8)


def flip_bits(
    rng: np.random.Generator, codes: npt.NDArray[np.uint8], lo: int, hi: int
) -> npt.NDArray[np.uint8]:
    """Each row with a random number (lo..hi inclusive) of distinct bits flipped."""
    bits = np.unpackbits(codes, axis=1)
    for row in bits:
        k = int(rng.integers(lo, hi + 1))
        row[rng.choice(256, size=k, replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def clustered_codes(rng: np.random.Generator, n: int) -> npt.NDArray[np.uint8]:
    """Codes in clusters of near-duplicates (0-40 bits apart), like a real bank."""
    centers = random_codes(rng, max(1, n // 8))
    picks = centers[rng.integers(0, centers.shape[0], size=n)]
    return flip_bits(rng, picks, 0, 40)


# --- the reference: an independent scan the indexes are checked against ------------------------

#: Set bits of every byte value, counted in Python (not numpy's bitwise_count, not the index's).
_BITS_IN_BYTE = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint8)


class ReferenceScan:
    """What every index must answer, computed the plainest way: a dict of ids to codes, a
    byte-wise popcount of each code against each query, and Python's own sort and grouping.
    Shares no code with :mod:`hashwall.index`; results are plain tuples, which compare equal to
    its ``Match`` and ``DihedralMatch``."""

    def __init__(self) -> None:
        self._codes: dict[int, bytes] = {}
        self._matrix: tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]] | None = None

    def add(self, ids: npt.ArrayLike, codes: npt.ArrayLike) -> None:
        """``ids[i] -> codes[i]`` (``(n, 32)`` uint8), the last of a repeated id winning."""
        rows = np.asarray(codes, dtype=np.uint8).reshape(-1, 32)
        for key, row in zip(np.asarray(ids).reshape(-1).tolist(), rows, strict=True):
            self._codes[int(key)] = row.tobytes()
        self._matrix = None

    def remove(self, ids: npt.ArrayLike) -> None:
        """Forget these ids."""
        for key in np.asarray(ids).reshape(-1).tolist():
            self._codes.pop(int(key), None)
        self._matrix = None

    def __len__(self) -> int:
        return len(self._codes)

    def search(self, query: npt.ArrayLike, radius: int) -> list[tuple[int, int]]:
        """``(id, distance)`` of every code within ``radius`` of one ``(32,)`` query, by distance
        then id."""
        if self._matrix is None:
            keys = list(self._codes)
            blob = b"".join(self._codes[key] for key in keys)
            matrix = np.frombuffer(blob, dtype=np.uint8).reshape(len(keys), 32)
            self._matrix = (np.array(keys, dtype=np.int64), matrix)
        ids, matrix = self._matrix
        q = np.asarray(query, dtype=np.uint8).reshape(32)
        distances = _BITS_IN_BYTE[matrix ^ q].sum(axis=1, dtype=np.int64)
        near = np.flatnonzero(distances <= radius)
        hits = zip(distances[near].tolist(), ids[near].tolist(), strict=True)
        return [(key, d) for d, key in sorted(hits)]

    def search_many(self, queries: npt.ArrayLike, radius: int) -> list[list[tuple[int, int]]]:
        """``search`` for each row of ``(q, 32)`` queries."""
        return [self.search(row, radius) for row in np.asarray(queries, dtype=np.uint8)]

    def search_dihedral(
        self, orientations: npt.ArrayLike, radius: int
    ) -> list[tuple[int, int, int]]:
        """Per id within ``radius`` of any of the 8 orientations: ``(id, distance, orientation)``
        of its nearest one (the first on ties), by distance then id."""
        best: dict[int, tuple[int, int]] = {}
        for orientation, row in enumerate(np.asarray(orientations, dtype=np.uint8)):
            for key, d in self.search(row, radius):
                if key not in best or (d, orientation) < best[key]:
                    best[key] = (d, orientation)
        ranked = sorted((d, key, orientation) for key, (d, orientation) in best.items())
        return [(key, d, orientation) for d, key, orientation in ranked]
