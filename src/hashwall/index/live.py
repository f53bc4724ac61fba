"""``IndexHolder``: the serving process's live index, built from the store then kept current.

The holder builds once from a stream of ``(ids, hashes)`` array chunks (10M rows stream as a
few hundred arrays, never one Python object per row), then applies add/remove events in
event-number order. Events at or below the last applied number are ignored, so replaying
the log from an earlier cursor is harmless.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from hashwall.errors import IndexNotReady, InvalidInput
from hashwall.hashing.codes import Hash256
from hashwall.index.base import DihedralMatch, Match, as_ids, as_words
from hashwall.index.mih import MihIndex, warm_up


@dataclass(frozen=True, slots=True)
class IndexEvent:
    """One change from the event log: ``add`` (ids and hashes) or ``remove`` (ids only)."""

    seq: int
    kind: Literal["add", "remove"]
    ids: npt.NDArray[np.int64]
    hashes: npt.NDArray[np.uint8] | None = None


class IndexHolder:
    """Owns the index of one signal family; readiness, event cursor and size for ``readyz``."""

    def __init__(self, build: Callable[[npt.ArrayLike, npt.ArrayLike], MihIndex] | None = None):
        self._build = build or MihIndex.from_arrays
        self._lock = threading.Lock()
        self._index: MihIndex | None = None
        self._last_event = 0
        self._rng = random.Random()

    @property
    def ready(self) -> bool:
        """True once the initial build finished."""
        return self._index is not None

    @property
    def last_event(self) -> int:
        """Number of the last event applied (or the cursor the build was taken at)."""
        return self._last_event

    @property
    def size(self) -> int:
        """Number of hashes indexed (0 before the build)."""
        return 0 if self._index is None else len(self._index)

    @property
    def index(self) -> MihIndex:
        """The live index; raises :class:`IndexNotReady` before the build finished."""
        if self._index is None:
            raise IndexNotReady("the index is still being built; retry in a few seconds")
        return self._index

    def build_from(
        self, chunks: Iterable[tuple[npt.ArrayLike, npt.ArrayLike]], *, last_event: int = 0
    ) -> None:
        """Build from ``(ids, hashes)`` chunks read at event cursor ``last_event``; swap it in."""
        id_parts: list[npt.NDArray[np.int64]] = []
        word_parts: list[npt.NDArray[np.uint64]] = []
        for ids, hashes in chunks:
            i, w = as_ids(ids), as_words(hashes)
            if i.size != w.shape[0]:
                raise InvalidInput(f"chunk has {i.size} ids for {w.shape[0]} hashes")
            id_parts.append(i)
            word_parts.append(w)
        all_ids = np.concatenate(id_parts) if id_parts else np.zeros(0, np.int64)
        all_words = np.concatenate(word_parts) if word_parts else np.zeros((0, 4), np.uint64)
        del id_parts, word_parts
        index = self._build(all_ids, all_words)
        warm_up()  # compile the kernels before this holder says it is ready
        with self._lock:
            self._index = index
            self._last_event = int(last_event)

    def apply(self, events: Iterable[IndexEvent]) -> int:
        """Apply events in order (skipping those already applied); returns how many applied."""
        applied = 0
        with self._lock:
            index = self.index
            for ev in events:
                if ev.seq <= self._last_event:
                    continue
                if ev.kind == "add":
                    if ev.hashes is None:
                        raise InvalidInput(f"add event {ev.seq} has no hashes")
                    index.add(ev.ids, ev.hashes)
                elif ev.kind == "remove":
                    index.remove(ev.ids)
                else:
                    raise InvalidInput(f"unknown event kind {ev.kind!r}")
                self._last_event = ev.seq
                applied += 1
        return applied

    def sample_id(self) -> int | None:
        """A random id of the live index (None when empty or not built); see
        :meth:`MihIndex.sample_id`."""
        index = self._index
        return index.sample_id(self._rng) if index is not None else None

    def search(self, query: Hash256, radius: int) -> list[Match]:
        """Search the live index (see :meth:`MihIndex.search`)."""
        return self.index.search(query, radius)

    def search_many(self, queries: npt.ArrayLike, radius: int) -> list[list[Match]]:
        """Search each row of an ``(q, 32)`` uint8 array (see :meth:`MihIndex.search_many`)."""
        return self.index.search_many(queries, radius)

    def search_dihedral(
        self, orientations: Sequence[Hash256] | npt.ArrayLike, radius: int
    ) -> list[DihedralMatch]:
        """Search the 8 orientations of one upload (see :meth:`MihIndex.search_dihedral`)."""
        return self.index.search_dihedral(orientations, radius)
