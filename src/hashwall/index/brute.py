"""``BruteForceIndex``: a numpy ``bitwise_count`` scan of every hash (tools, eval, benchmarks)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import numpy as np
import numpy.typing as npt

from hashwall.errors import InvalidInput
from hashwall.hashing.codes import Hash256
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


class BruteForceIndex:
    """Scan every hash for every query. Slow (O(n) per query) and simple on purpose.

    Mutations build new arrays and swap them in one assignment, so a concurrent search sees
    either the whole change or none of it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: tuple[IdArray, WordArray] = (
            np.zeros(0, dtype=np.int64),
            np.zeros((0, 4), dtype=np.uint64),
        )

    def add(self, ids: npt.ArrayLike, hashes: npt.ArrayLike) -> None:
        """Insert or replace ``ids[i] -> hashes[i]``."""
        new_ids = as_ids(ids)
        new_words = as_words(hashes)
        if new_ids.size != new_words.shape[0]:
            raise InvalidInput(f"{new_ids.size} ids for {new_words.shape[0]} hashes")
        new_ids, new_words = dedupe_last(new_ids, new_words)
        with self._lock:
            old_ids, old_words = self._state
            keep = ~np.isin(old_ids, new_ids)
            self._state = (
                np.concatenate([old_ids[keep], new_ids]),
                np.concatenate([old_words[keep], new_words]),
            )

    def remove(self, ids: npt.ArrayLike) -> None:
        """Forget these ids; unknown ids are ignored."""
        gone = as_ids(ids)
        with self._lock:
            old_ids, old_words = self._state
            keep = ~np.isin(old_ids, gone)
            self._state = (old_ids[keep], old_words[keep])

    def _scan(
        self, queries: WordArray, radius: int
    ) -> tuple[npt.NDArray[np.int64], IdArray, npt.NDArray[np.int64]]:
        ids, words = self._state
        offsets = np.zeros(queries.shape[0] + 1, dtype=np.int64)
        found_ids: list[IdArray] = []
        found_d: list[npt.NDArray[np.int64]] = []
        for q in range(queries.shape[0]):
            d = np.bitwise_count(words ^ queries[q]).sum(axis=1, dtype=np.int64)
            hit = np.flatnonzero(d <= radius)
            found_ids.append(ids[hit])
            found_d.append(d[hit])
            offsets[q + 1] = offsets[q] + hit.size
        if not found_ids:
            return offsets, np.zeros(0, np.int64), np.zeros(0, np.int64)
        return offsets, np.concatenate(found_ids), np.concatenate(found_d)

    def search(self, query: Hash256, radius: int) -> list[Match]:
        """Every id within ``radius`` of ``query``, by distance then id."""
        return group_matches(*self._scan(query_words(query), check_radius(radius)))[0]

    def search_many(self, queries: npt.ArrayLike, radius: int) -> list[list[Match]]:
        """``search`` for each row of an ``(q, 32)`` uint8 array."""
        return group_matches(*self._scan(as_words(queries), check_radius(radius)))

    def search_dihedral(
        self, orientations: Sequence[Hash256] | npt.ArrayLike, radius: int
    ) -> list[DihedralMatch]:
        """Per id, the best distance over the 8 orientations and which one achieved it."""
        return best_per_id(*self._scan(dihedral_words(orientations), check_radius(radius)))

    def __len__(self) -> int:
        return int(self._state[0].size)

    def save(self, path: Path) -> None:
        """Write ``ids.npy`` and ``hashes.npy`` (``(n, 32)`` uint8) into directory ``path``."""
        ids, words = self._state
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "ids.npy", ids, allow_pickle=False)
        np.save(path / "hashes.npy", words_to_bytes(words), allow_pickle=False)

    @classmethod
    def load(cls, path: Path, *, mmap: bool = False) -> Self:
        """Read ``ids.npy`` and ``hashes.npy`` written by ``save``."""
        ids = np.load(path / "ids.npy", allow_pickle=False)
        codes = np.load(path / "hashes.npy", allow_pickle=False, mmap_mode="r" if mmap else None)
        index = cls()
        index.add(ids, bytes_to_words(np.asarray(codes)))
        return index
