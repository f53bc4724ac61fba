"""The service's side of the geometric signal types (``keypoints``): the live index of each,
built from the store and changed by the event log, and the store scan without one.

An item holds at most one value of such a type: a set of keypoint records (``hashing/signals/
keypoints.py``). The live index (:class:`KeypointHolder`, over
:class:`~hashwall.index.keypoints.KeypointIndex`) keeps each live item's set under its item id;
``item_added`` adds it, ``item_withdrawn``/``item_deleted`` remove it, as for the PDQ index
(``service/index_events.py``). A search answers the items that one placement verifies with at
least the bank's :meth:`~hashwall.hashing.signals.GeometricSignalType.required_inliers`: the
more photos are banked, the more inliers a match needs (8 up to ~1,000 photos, 13 at a
million), so that false candidates per upload stay rare as the bank grows.

Without a live index (tools, the CLI, a check while the index lags on a small bank) the
store's live sets are read and each is verified (:func:`scan_store_keypoints`): fine for the
few thousand photos a stale-index scan is allowed on, not for a large bank.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hashwall.errors import IndexNotReady
from hashwall.hashing.keypoints import RECORD_BYTES, Keypoints, match_inliers, record_arrays
from hashwall.hashing.signals import GeometricSignalType
from hashwall.index.keypoints import KeypointIndex, rebuild
from hashwall.service.index_events import signal_values
from hashwall.store.events import ITEM_DELETED, ITEM_WITHDRAWN, Event
from hashwall.store.repo import Repository, Store
from hashwall.store.repositories.records import RecordBlock

_REMOVING = frozenset({ITEM_WITHDRAWN, ITEM_DELETED})


@dataclass(frozen=True, slots=True)
class KeypointHit:
    """An item whose set one placement verified, with the inliers it found."""

    item_id: int
    inliers: int


@dataclass(frozen=True, slots=True)
class KeypointSets:
    """Items' sets as arrays: item ``i`` has the next ``counts[i]`` codes and geometry rows."""

    item_ids: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]
    codes: npt.NDArray[np.uint64]
    geometry: npt.NDArray[np.uint16]

    @classmethod
    def of(cls, item_ids: Sequence[int], values: Sequence[str]) -> KeypointSets:
        """Sets from canonical (or stored) hex values; one parse of them all."""
        return cls.of_block(RecordBlock.of_hex(list(zip(item_ids, values, strict=True))))

    @classmethod
    def of_block(cls, block: RecordBlock) -> KeypointSets:
        """Sets from a block of the store's records (already bytes)."""
        codes, geometry = record_arrays(block.data)
        return cls(block.item_ids, block.sizes // RECORD_BYTES, codes, geometry)


def read_live_sets(repo: Repository, kind: type[GeometricSignalType]) -> list[KeypointSets]:
    """The live items' sets of ``kind``, block by block, in signal row order (values that are
    not whole records, which intake never writes, are skipped). The store hands the records
    over as bytes (on PostgreSQL it decodes the hex itself): ``hashwall bench keypoint-build``
    measures it against the hex read of :meth:`~Repository.iter_live_signals`."""
    return [KeypointSets.of_block(b) for b in repo.live_record_blocks(kind.name, RECORD_BYTES)]


class KeypointHolder:
    """The live index of one geometric type: built once from the store, then changed by
    events (a :class:`KeypointIndex` is safe to search while it changes)."""

    def __init__(self, kind: type[GeometricSignalType]) -> None:
        self.kind = kind
        self._index: KeypointIndex | None = None

    @property
    def ready(self) -> bool:
        """True once the initial build finished."""
        return self._index is not None

    @property
    def size(self) -> int:
        """Items whose sets are held."""
        return 0 if self._index is None else len(self._index)

    @property
    def index(self) -> KeypointIndex:
        """The index; :class:`IndexNotReady` before the build."""
        if self._index is None:
            raise IndexNotReady("the index is still being built; retry in a few seconds")
        return self._index

    def build_from(self, parts: Iterable[KeypointSets]) -> None:
        """A new index of these sets, swapped in whole."""
        index = KeypointIndex()
        parts = list(parts)
        if parts:
            index.add_records(
                np.concatenate([p.item_ids for p in parts]),
                np.concatenate([p.counts for p in parts]),
                np.concatenate([p.codes for p in parts]),
                np.concatenate([p.geometry for p in parts]),
            )
        self._index = index  # one reference, swapped whole

    def apply(self, events: Sequence[Event]) -> None:
        """Apply log events in order (adds and removals; the rest changes nothing here)."""
        index = self.index
        for event in events:
            item_id = event.item_id
            if item_id is None:
                continue
            if event.type in _REMOVING:
                index.remove([item_id])
                continue
            values = _values(event, self.kind.name)
            if values:  # one set per item: the last one wins
                sets = KeypointSets.of([item_id], values[-1:])
                index.add_records(sets.item_ids, sets.counts, sets.codes, sets.geometry)

    def search(self, query: Keypoints) -> list[KeypointHit]:
        """The items verified with at least the bank's required inliers, most inliers first."""
        index = self.index
        needed = self.kind.required_inliers(len(index))
        return [KeypointHit(i, n) for i, n in index.search(query, min_inliers=needed)]


def scan_store_keypoints(
    store: Store, kind: type[GeometricSignalType], query: Keypoints
) -> list[KeypointHit]:
    """Verify every live set of ``kind`` in the store (no live index); most inliers first."""
    with store.read() as repo:
        parts = read_live_sets(repo, kind)
    total = sum(int(p.item_ids.size) for p in parts)
    needed = kind.required_inliers(total)
    hits: list[KeypointHit] = []
    for part in parts:
        starts = np.r_[0, np.cumsum(part.counts)]
        for k, item_id in enumerate(part.item_ids.tolist()):
            lo, hi = int(starts[k]), int(starts[k + 1])
            banked = rebuild(part.codes[lo:hi], part.geometry[lo:hi])
            found = match_inliers(query, banked)
            if found >= needed:
                hits.append(KeypointHit(item_id, found))
    return sorted(hits, key=lambda h: (-h.inliers, h.item_id))


def _values(event: Event, signal_type: str) -> list[str]:
    """The event's values of ``signal_type`` that are whole records (intake writes no other)."""
    return [
        v
        for v in signal_values(event.payload, signal_type)
        if v and len(v) % (2 * RECORD_BYTES) == 0
    ]
