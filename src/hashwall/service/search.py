"""Searching a distance index in any number of orientations, and the store's live signals
when no index is held (tools, the CLI, a check while the live indexes lag)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from hashwall.hashing.codes import HASH_BYTES, Hash256
from hashwall.hashing.signals import SIGNAL_TYPES, DistanceSignalType
from hashwall.index.base import DIHEDRAL, DihedralMatch, Match
from hashwall.index.brute import BruteForceIndex
from hashwall.service.video import frame_index_ids, item_of_index_id
from hashwall.store.repo import Repository, Store
from hashwall.store.repositories.signals import UnevenValues

#: Rows per chunk while streaming a type's live signals.
BUILD_CHUNK = 50_000


def live_signal_chunks(
    repo: Repository, kind: type[DistanceSignalType]
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]]:
    """The live signals of ``kind`` as (index ids, codes) arrays, chunk by chunk: item ids, or
    for a type an item holds many of (video frames) the frames' ids (:func:`index_ids`).

    Read in blocks (:meth:`Repository.live_signal_blocks`: one statement and no Python object
    per row for 262,144 rows on PostgreSQL), or row by row when some stored value is not of
    the type's width (then decoding fails as it would have, row by row). The order is not
    the rows' order: an index sorts what it is given.
    """
    try:
        parts = [
            (
                index_ids(kind, block.item_ids, block.frame_numbers),
                kind.codes_of_joined(block.values),
            )
            for block in repo.live_signal_blocks(
                kind.name, kind.digits(), frames=kind.many_per_item
            )
        ]
    except UnevenValues:
        parts = None
    if parts is not None:
        yield from parts
        return
    for chunk in repo.iter_live_signals(kind.name, chunk_size=BUILD_CHUNK):
        yield index_ids(kind, chunk.item_ids, chunk.frame_numbers), kind.codes(chunk.values)


def index_ids(
    kind: type[DistanceSignalType],
    item_ids: npt.ArrayLike,
    frame_numbers: Sequence[int | None] | npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """The index ids of values of ``kind``: the item ids, or the frames' ids
    (``service/video.py``) for a type an item holds many of."""
    if kind.many_per_item:
        return frame_index_ids(item_ids, frame_numbers)
    return np.asarray(item_ids, dtype=np.int64)


def by_item(
    kind: type[DistanceSignalType], matches: Sequence[DihedralMatch]
) -> list[DihedralMatch]:
    """Search results by item (the best distance of each), for a type an item holds many of;
    as they are for the others."""
    if not kind.many_per_item:
        return list(matches)
    best: dict[int, DihedralMatch] = {}
    for match in matches:
        item_id = item_of_index_id(match.id)
        held = best.get(item_id)
        if held is None or match.distance < held.distance:
            best[item_id] = DihedralMatch(item_id, match.distance, match.orientation)
    return sorted(best.values(), key=lambda m: (m.distance, m.id))


def distance_type(name: str) -> type[DistanceSignalType]:
    """The registered distance type named ``name`` (ValueError for any other name)."""
    kind = SIGNAL_TYPES.get(name)
    if kind is None or not issubclass(kind, DistanceSignalType):
        raise ValueError(f"{name!r} is not a registered distance signal type")
    return kind


def scan_store(
    store: Store, orientations: Sequence[Hash256], radius: int, signal_type: str
) -> list[DihedralMatch]:
    """Search the store's live signals of one distance type by brute force (no live index:
    tools and the CLI); results by item."""
    kind = distance_type(signal_type)
    index = BruteForceIndex()
    with store.read() as repo:
        for ids, codes in live_signal_chunks(repo, kind):
            index.add(ids, codes)
    return by_item(kind, search_orientations(index, orientations, radius))


class _Searchable(Protocol):
    def search(self, query: Hash256, radius: int) -> list[Match]: ...

    def search_many(self, queries: npt.ArrayLike, radius: int) -> list[list[Match]]: ...

    def search_dihedral(
        self, orientations: Sequence[Hash256], radius: int
    ) -> list[DihedralMatch]: ...


def search_orientations(
    index: _Searchable, orientations: Sequence[Hash256], radius: int
) -> list[DihedralMatch]:
    """Best distance (and its orientation position) per id over 8 orientations, or any number."""
    if len(orientations) == DIHEDRAL:
        return index.search_dihedral(list(orientations), radius)
    if len(orientations) > DIHEDRAL:  # a video's frames: one kernel call for them all
        queries = np.frombuffer(b"".join(q.value for q in orientations), dtype=np.uint8)
        per_query = index.search_many(queries.reshape(-1, HASH_BYTES), radius)
    else:
        per_query = [index.search(query, radius) for query in orientations]
    best: dict[int, DihedralMatch] = {}
    for position, matches in enumerate(per_query):
        for match in matches:
            held = best.get(match.id)
            if held is None or match.distance < held.distance:
                best[match.id] = DihedralMatch(match.id, match.distance, position)
    return sorted(best.values(), key=lambda m: (m.distance, m.id))
