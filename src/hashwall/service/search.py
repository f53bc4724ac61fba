"""Searching a distance index in any number of orientations, and the store's live signals
when no index is held (tools, the CLI, a check while the live indexes lag)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from hashwall.hashing.codes import HASH_BYTES, Hash256
from hashwall.hashing.signals import SIGNAL_TYPES, DistanceSignalType
from hashwall.index.base import DIHEDRAL, DihedralMatch, Match
from hashwall.index.brute import BruteForceIndex
from hashwall.service.video import frame_index_ids, item_of_index_id
from hashwall.store.repo import Repository, Store
from hashwall.store.repositories.signals import SignalBlock, SignalChunk, UnevenValues

T = TypeVar("T")

#: Rows per chunk while streaming a type's live signals.
BUILD_CHUNK = 50_000


def live_signal_chunks(
    repo: Repository | Sequence[Repository], kind: type[DistanceSignalType]
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]]:
    """The live signals of ``kind`` as (index ids, codes) arrays, chunk by chunk
    (:func:`read_live`): item ids, or for a type an item holds many of (video frames) the
    frames' ids (:func:`index_ids`). The order is not the rows' order: an index sorts what it
    is given."""

    def from_block(block: SignalBlock) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
        codes = kind.codes_of_joined(block.values)
        return index_ids(kind, block.item_ids, block.frame_numbers), codes

    def from_chunk(chunk: SignalChunk) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
        return index_ids(kind, chunk.item_ids, chunk.frame_numbers), kind.codes(chunk.values)

    return read_live(
        repo, kind.name, kind.digits(), from_block, from_chunk, frames=kind.many_per_item
    )


def read_live(
    repo: Repository | Sequence[Repository],
    signal_type: str,
    width: int,
    from_block: Callable[[SignalBlock], T],
    from_chunk: Callable[[SignalChunk], T],
    *,
    frames: bool = False,
) -> list[T]:
    """The live signals of one type, each part converted: read in blocks (:func:`read_blocks`:
    one statement and no Python object per 262,144 rows on PostgreSQL, split between the
    transactions when given several of one snapshot, :meth:`Store.read_shared`), or row by row
    in the first transaction (:data:`BUILD_CHUNK` rows a chunk) when some stored value is not
    ``width`` characters: then a type's own row-by-row decoding decides (a digest skips it, a
    code fails as it did)."""
    repos = [repo] if isinstance(repo, Repository) else list(repo)
    try:
        return read_blocks(repos, signal_type, width, from_block, frames=frames)
    except UnevenValues:
        chunks = repos[0].iter_live_signals(signal_type, chunk_size=BUILD_CHUNK)
        return [from_chunk(chunk) for chunk in chunks]


def read_blocks(
    repos: Sequence[Repository],
    signal_type: str,
    width: int,
    convert: Callable[[SignalBlock], T],
    *,
    frames: bool = False,
) -> list[T]:
    """Every block of :meth:`Repository.live_signal_blocks`, each ``convert``-ed: the ranges
    of signal ids dealt out between ``repos`` (transactions of one snapshot,
    :meth:`Store.read_shared`), one thread each. On two cores two readers take ~60% of the
    time of one (PostgreSQL packs the blocks, the threads wait on it)."""
    ranges = repos[0].signal_id_ranges()
    if len(repos) == 1 or len(ranges) < 2:
        return [
            convert(block)
            for block in repos[0].live_signal_blocks(
                signal_type, width, frames=frames, ranges=ranges
            )
        ]

    def share(k: int) -> list[tuple[int, T]]:
        mine = ranges[k :: len(repos)]
        return [
            (block.low, convert(block))
            for block in repos[k].live_signal_blocks(signal_type, width, frames=frames, ranges=mine)
        ]

    with ThreadPoolExecutor(len(repos), thread_name_prefix="snapshot-read") as pool:
        shares = [pool.submit(share, k) for k in range(len(repos))]
        parts = [part for done in shares for part in done.result()]
    # In the order of the ranges, as one reader gives them (mostly ascending ids: an index
    # then need not sort them).
    parts.sort(key=lambda part: part[0])
    return [converted for _, converted in parts]


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
