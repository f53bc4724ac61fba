"""The stored side of the keypoint index (:mod:`hashwall.index.keypoints`): keypoint sets as
arrays (:func:`quantise`, :func:`rebuild`), the segments that hold them and their half tables.

Layout (:class:`Segment`): an item's keypoints are contiguous, in item order, so that
verification reads one slice: ``codes`` (uint64, 8 bytes) and ``geometry`` (x, y, scale, angle
as uint16, quantised as :meth:`Keypoints.to_bytes` does: 8 bytes), ``offsets`` per item. For
each half, a table (:class:`_HalfTable`) of the codes sorted by that half: the top ``bits`` of
the half pick a bucket (``starts``, uint32, ~4 codes a bucket, at most 2^24 buckets), and each
code keeps the half's other bits (1 byte from 2^25 codes on, 2 from 2^17, 4 below) and its
code's position (uint32), and the bucket bounds. **26 bytes per code from 2^25 codes on** (the
bounds add 1.6 bytes a code at 1M photos, 0.5 at 3M), 28 from 2^17, ~2.2 kB per banked photo;
plus 33 bytes per item (id, offset, the id lookup, the tombstone). A hit's item is found from
``offsets`` (a binary search of the hits, sorted); its code and geometry are read for the
votes (the code position in the table, where the item position was before voting, costs no
byte more).

A plain sorted ``uint32`` key array per half with ``np.searchsorted`` (binary search) cost 32
bytes a code and 13.4 ms per check at 1,000,000 random items; the bucket tables, 28 bytes and
1.9 ms (one pair of bounds read per probe instead of ~27 levels of a binary search).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hashwall.hashing.keypoints import Keypoints

IdArray = npt.NDArray[np.int64]
CodeArray = npt.NDArray[np.uint64]
GeometryArray = npt.NDArray[np.uint16]

#: Bucket bits of a half table at most (2^24 buckets: 128 MiB of bounds for the two halves;
#: up to 28 the rest of a key still fits a byte).
MAX_TABLE_BITS = 24

_HIGH = np.uint64(0xFFFFFFFF00000000)
#: A code's halves: the high one is the code shifted right by this.
HALF_BITS = np.uint64(32)
#: A half's probe values are the half XOR each of these: itself and its 32 one-bit flips.
_FLIPS = np.concatenate([[0], np.uint32(1) << np.arange(32, dtype=np.uint32)]).astype(np.uint32)


def quantise(sets: Sequence[Keypoints]) -> tuple[npt.NDArray[np.int64], CodeArray, GeometryArray]:
    """Keypoint sets as ``(counts, codes, geometry)``: the geometry ``(n, 4)`` uint16 (x, y,
    scale, angle), rounded exactly as :meth:`Keypoints.to_bytes` rounds them."""
    counts = np.array([len(s) for s in sets], dtype=np.int64)
    if not sets or counts.sum() == 0:
        return counts, np.zeros(0, np.uint64), np.zeros((0, 4), np.uint16)
    x = np.concatenate([s.x for s in sets]).astype(np.float32, copy=False)
    y = np.concatenate([s.y for s in sets]).astype(np.float32, copy=False)
    scale = np.concatenate([s.scale for s in sets]).astype(np.float32, copy=False)
    angle = np.concatenate([s.angle for s in sets]).astype(np.float32, copy=False)
    geometry = np.empty((x.size, 4), dtype=np.uint16)
    geometry[:, 0] = np.round(np.clip(x, 0.0, 1.0) * 65535)
    geometry[:, 1] = np.round(np.clip(y, 0.0, 1.0) * 65535)
    geometry[:, 2] = np.round(np.clip(scale, 0.0, 1.0) * 65535)
    geometry[:, 3] = np.round((angle + np.pi) / (2 * np.pi) * 65536).astype(np.int64) % 65536
    codes = np.concatenate([s.codes for s in sets]).astype(np.uint64, copy=False)
    return counts, codes, geometry


def rebuild(codes: CodeArray, geometry: GeometryArray) -> Keypoints:
    """The keypoints of stored records, as :meth:`Keypoints.from_bytes` reads them."""
    g = geometry
    return Keypoints(
        (g[:, 0] / 65535).astype(np.float32),
        (g[:, 1] / 65535).astype(np.float32),
        (g[:, 2] / 65535).astype(np.float32),
        (g[:, 3] / 65536 * 2 * np.pi - np.pi).astype(np.float32),
        np.array(codes, dtype=np.uint64),
    )


def _rest_dtype(bits: int) -> type[np.unsignedinteger[Any]]:
    """The smallest unsigned type of the ``32 - bits`` bits of a key below its bucket."""
    if bits > 28:
        raise ValueError("a half table has at most 28 bucket bits")
    return np.uint8 if bits >= 24 else np.uint16 if bits >= 16 else np.uint32


@dataclass(frozen=True, slots=True)
class _HalfTable:
    """One half (low or high 32 bits) of every code of a segment, sorted, as a bucketed
    table: the top ``bits`` of a key pick its bucket, ``starts[b]:starts[b + 1]`` (uint32)
    the bucket's entries; each entry keeps the key's other bits (``rest``: 1 byte at 24
    bits) and its item's position (uint32)."""

    bits: int
    starts: npt.NDArray[np.uint32]
    rest: npt.NDArray[np.unsignedinteger[Any]]
    positions: npt.NDArray[np.uint32]

    @classmethod
    def build(
        cls,
        half: CodeArray,
        payload: npt.NDArray[np.unsignedinteger[Any]],
        bits: int | None = None,
    ) -> _HalfTable:
        """``half`` holds the keys in its high 32 bits (it is consumed): one sort of
        ``key << 32 | item`` (ties in item order), then the buckets counted. ``bits``:
        :func:`_table_bits` unless given (1 to 24)."""
        n = int(half.size)
        if n >= 1 << 32:
            raise ValueError("a segment holds fewer than 2**32 codes")
        bits = _table_bits(n) if bits is None else bits
        packed = half
        packed |= payload
        packed.sort()
        words = packed.view(np.uint32).reshape(-1, 2)  # no 64-bit temporaries
        lo_word, hi_word = (0, 1) if np.little_endian else (1, 0)
        positions = np.ascontiguousarray(words[:, lo_word])
        keys = words[:, hi_word]
        shift = np.uint32(32 - bits)
        counts = np.zeros(1 << bits, dtype=np.int64)
        step = 1 << 24
        for at in range(0, n, step):  # in chunks: bincount casts to intp
            counts += np.bincount(keys[at : at + step] >> shift, minlength=1 << bits)
        starts = np.zeros((1 << bits) + 1, dtype=np.uint32)
        np.cumsum(counts, out=starts[1:], dtype=np.uint32)
        del counts
        mask = np.uint32((1 << (32 - bits)) - 1)
        rest = (keys & mask).astype(_rest_dtype(bits))
        return cls(bits, starts, rest, positions)

    @classmethod
    def empty(cls) -> _HalfTable:
        return cls(0, np.zeros(2, np.uint32), np.zeros(0, np.uint32), np.zeros(0, np.uint32))

    def nbytes(self) -> int:
        return int(self.starts.nbytes + self.rest.nbytes + self.positions.nbytes)

    def probe(
        self, halves: npt.NDArray[np.uint32]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]:
        """Every ``(query code, item position)`` whose half is within one bit of
        ``halves[q]``: the 33 probe values of each half (itself and its one-bit flips), the
        entries of their buckets, those whose ``rest`` is the value's."""
        if not self.positions.size or not halves.size:
            return np.zeros(0, np.int64), np.zeros(0, np.uint32)
        values = (halves[:, None] ^ _FLIPS[None, :]).ravel()
        bucket = (values >> np.uint32(32 - self.bits)).astype(np.intp)
        first = self.starts[bucket].astype(np.int64)
        lens = self.starts[bucket + 1].astype(np.int64) - first
        total = int(lens.sum())
        if not total:
            return np.zeros(0, np.int64), np.zeros(0, np.uint32)
        probe_of = np.repeat(np.arange(values.size), lens)
        pos = np.repeat(first - np.cumsum(lens) + lens, lens) + np.arange(total)
        mask = np.uint32((1 << (32 - self.bits)) - 1)
        want = (values & mask).astype(self.rest.dtype)
        same = self.rest[pos] == want[probe_of]
        return probe_of[same] // _FLIPS.size, self.positions[pos[same]]


def _table_bits(codes: int) -> int:
    """Bucket bits of a half table of ``codes`` entries: ~4 entries a bucket (so a probe
    reads a few bytes past its bucket's bounds), :data:`MAX_TABLE_BITS` at most."""
    return max(4, min(MAX_TABLE_BITS, (max(codes, 1) - 1).bit_length() - 2))


def gather_items(
    ids: IdArray,
    offsets: npt.NDArray[np.int64],
    codes: CodeArray,
    geometry: GeometryArray,
    keep: npt.NDArray[np.int64],
) -> tuple[IdArray, npt.NDArray[np.int64], CodeArray, GeometryArray]:
    starts = offsets[keep]
    counts = offsets[keep + 1] - starts
    idx = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
    return ids[keep], counts, codes[idx], geometry[idx]


@dataclass(frozen=True, slots=True)
class Segment:
    """Items and their keypoints (see the module docstring for the layout)."""

    ids: IdArray  # per item
    offsets: npt.NDArray[np.int64]  # items + 1: item i's codes are offsets[i]:offsets[i+1]
    codes: CodeArray
    geometry: GeometryArray
    low: _HalfTable  # the low halves of the codes
    high: _HalfTable  # the high halves
    sorted_ids: IdArray  # the ids in ascending order
    id_order: npt.NDArray[np.int64]  # and the position of each

    @classmethod
    def build(
        cls, ids: IdArray, counts: npt.NDArray[np.int64], codes: CodeArray, geometry: GeometryArray
    ) -> Segment:
        if ids.size >= 1 << 32:
            raise ValueError("a segment holds fewer than 2**32 items")
        offsets = np.zeros(ids.size + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        position = np.arange(codes.size, dtype=np.uint32)
        low = _HalfTable.build(codes << HALF_BITS, position)
        high = _HalfTable.build(codes & _HIGH, position)
        del position
        order = np.argsort(ids, kind="stable")
        return cls(
            ids,
            offsets,
            codes,
            geometry,
            low,
            high,
            ids[order],
            order,
        )

    @classmethod
    def empty(cls) -> Segment:
        return cls(
            np.zeros(0, np.int64),
            np.zeros(1, np.int64),
            np.zeros(0, np.uint64),
            np.zeros((0, 4), np.uint16),
            _HalfTable.empty(),
            _HalfTable.empty(),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
        )

    @property
    def items(self) -> int:
        return int(self.ids.size)

    def nbytes(self) -> int:
        arrays = (self.ids, self.offsets, self.codes, self.geometry, self.sorted_ids, self.id_order)
        return sum(int(a.nbytes) for a in arrays) + self.low.nbytes() + self.high.nbytes()

    def positions(self, ids: IdArray) -> npt.NDArray[np.int64]:
        """The positions of those of ``ids`` this segment holds (a segment is built from
        distinct ids and never changes, so each id is at one position at most)."""
        if not self.items or not ids.size:
            return np.zeros(0, np.int64)
        at = np.minimum(np.asarray(np.searchsorted(self.sorted_ids, ids)), self.items - 1)
        out: npt.NDArray[np.int64] = self.id_order[at[self.sorted_ids[at] == ids]]
        return out

    def gather(
        self, keep: npt.NDArray[np.int64]
    ) -> tuple[IdArray, npt.NDArray[np.int64], CodeArray, GeometryArray]:
        """The items at positions ``keep`` (in order) as ``(ids, counts, codes, geometry)``."""
        return gather_items(self.ids, self.offsets, self.codes, self.geometry, keep)

    def keypoints(self, pos: int) -> Keypoints:
        a, b = int(self.offsets[pos]), int(self.offsets[pos + 1])
        return rebuild(self.codes[a:b], self.geometry[a:b])


@dataclass(frozen=True, slots=True)
class Part:
    segment: Segment
    dead: npt.NDArray[np.bool_]  # per item: removed or replaced
    n_dead: int

    @classmethod
    def of(cls, segment: Segment) -> Part:
        return cls(segment, np.zeros(segment.items, dtype=bool), 0)

    def live(self) -> npt.NDArray[np.int64]:
        return np.flatnonzero(~self.dead)

    def kill(self, ids: IdArray) -> Part:
        pos = self.segment.positions(ids)
        pos = pos[~self.dead[pos]]
        if not pos.size:
            return self
        dead = self.dead.copy()
        dead[pos] = True
        return Part(self.segment, dead, self.n_dead + int(pos.size))

    @property
    def live_items(self) -> int:
        return self.segment.items - self.n_dead

    @property
    def live_codes(self) -> int:
        s = self.segment
        if not self.n_dead:
            return int(s.codes.size)
        return int(s.codes.size - (np.diff(s.offsets)[self.dead]).sum())
