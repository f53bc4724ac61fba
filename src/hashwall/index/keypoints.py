"""``KeypointIndex``: banked photos' keypoint codes, searched in two stages.

A banked photo has ~83 keypoints (:mod:`hashwall.hashing.keypoints`), an upload ~186, so a
million photos hold ~83 million codes: comparing every code of an upload with every banked
code (as :func:`~hashwall.hashing.keypoints.match_inliers` does for one photo) cannot scale.

1. **Hits.** A pair of codes is a *hit* when their low 32-bit halves differ in at most one
   bit, or their high halves do (so every pair within 3 bits is a hit), and the codes differ
   in at most ``CODE_RADIUS`` bits (the verification pairs nothing farther). Each half of each
   upload code, as it is and mirrored, gives 33 probe values (itself and its 32 one-bit
   flips), looked up in a bucketed sorted table of that half of every banked code.
2. **Candidates: hits that one placement explains** (after Lowe's Hough transform). Each hit
   implies a scale ratio and a turn (the upload keypoint's over the banked one's); it votes,
   per side (the upload as it is, mirrored), for the two nearest bins of each: log scale
   ratios in bins of :data:`SCALE_BIN` (twice the verification's ``LOG_SCALE_TOLERANCE``,
   and a little), turns in :data:`TURN_BINS` bins of 2 pi / 8 (at least twice
   ``ANGLE_TOLERANCE``). Every inlier of a verified match lies within those tolerances of
   the match's fit, so all of a match's hits share a bin. A bin counts its hits on distinct
   places on both sides, the fewer (a keypoint's second orientation, or one banked keypoint
   hit by several upload codes, is one point). A bin of at least ``min_hits`` (3 or more)
   is then tested by placement (:func:`_aligned`): the similarity through two of its hits
   must map ``min_hits`` of them (distinct places) within :data:`ALIGN_TOLERANCE`. A match's
   inliers lie within ``FIT_TOLERANCE`` of its fit (times its scale, at most 1), and the
   similarity through the two of them farthest apart on the banked photo maps every other
   within four times that, so the test keeps every bin that holds ``min_hits`` of a match's
   inliers (unless they lie within :data:`ALIGN_MIN_SPAN` of each other; a bin of more than
   :data:`ALIGN_MAX_HITS` hits is not tested, the cost being their cube). An item with a bin
   that passes is a candidate; its *hits* are that bin's count. So an item that the
   verification would match with ``min_hits`` hits (distinct places) among its inliers is
   always a candidate. ``vote=False`` gives the plain rule, for comparison: an item's hits
   are the upload's codes that hit any of its codes (within one bit in a half, whatever the
   rest), counted per side, the larger.
3. **Verification.** Each candidate's keypoints, rebuilt from the arrays, go through
   ``match_inliers(query, item)`` (every pair within ``CODE_RADIUS`` bits, then the geometry).

Layout (:class:`_Segment`): an item's keypoints are contiguous, in item order, so that
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

Real codes are far from uniform: between different photos they hit ~300 times as often as
random codes do, so with the plain rule the candidates of a check grow with the bank (0.85% of
it at ``min_hits`` 3 among 1,104 real photos: 9.4 a distractor upload, ~8,500 at a million
photos) and their verification is the cost of a check. Voting keeps 0.013% (0.14 a distractor
upload; most of them uploads in the evaluation's phone-screenshot frame, whose drawing lines
up with a few banked photos) and loses no copy that the plain rule finds: of 1,219 copies (40
photos, 31 hard transforms) that the verification accepts, both keep 1,217 (the other two
have fewer than 3 hits by either rule): ``docs/benchmarks.md``, "Keypoint index".
:data:`MIN_HITS` is 3: at 4 the votes lose 8 more of those copies; at 2 (no placement test)
they keep one more and ten times the candidates.

Mutations: the main segment is immutable; adds go to a small delta segment (rebuilt on each
add, merged into the main one past a size), removals to per-item tombstones (an item is
filtered out of every search at once; the main segment is rebuilt without the dead past a
share, under the mutation lock: ~20 s at 1M photos, while searches go on with the old
snapshot). Each mutation publishes a new snapshot in one assignment, so a search never sees
half of a change.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hashwall.hashing.keypoints import (
    ANGLE_TOLERANCE,
    CODE_RADIUS,
    FIT_TOLERANCE,
    LOG_SCALE_TOLERANCE,
    MIN_INLIERS,
    MIRROR_MASK,
    Keypoints,
    match_inliers,
)

IdArray = npt.NDArray[np.int64]
CodeArray = npt.NDArray[np.uint64]
GeometryArray = npt.NDArray[np.uint16]
FloatArray = npt.NDArray[np.float32]

#: Bucket bits of a half table at most (2^24 buckets: 128 MiB of bounds for the two halves;
#: up to 28 the rest of a key still fits a byte).
MAX_TABLE_BITS = 24
#: Codes a delta segment holds at most before it is merged into the main one (at least).
DELTA_MIN_CODES = 1 << 16

_LOW = np.uint64(0xFFFFFFFF)
_HIGH = np.uint64(0xFFFFFFFF00000000)
_32 = np.uint64(32)
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


#: Hits that make an item a candidate (see the module docstring).
MIN_HITS = 3


def _table_bits(codes: int) -> int:
    """Bucket bits of a half table of ``codes`` entries: ~4 entries a bucket (so a probe
    reads a few bytes past its bucket's bounds), :data:`MAX_TABLE_BITS` at most."""
    return max(4, min(MAX_TABLE_BITS, (max(codes, 1) - 1).bit_length() - 2))


def _gather(
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
class _Segment:
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
    ) -> _Segment:
        if ids.size >= 1 << 32:
            raise ValueError("a segment holds fewer than 2**32 items")
        offsets = np.zeros(ids.size + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        position = np.arange(codes.size, dtype=np.uint32)
        low = _HalfTable.build(codes << _32, position)
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
    def empty(cls) -> _Segment:
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
        return _gather(self.ids, self.offsets, self.codes, self.geometry, keep)

    def keypoints(self, pos: int) -> Keypoints:
        a, b = int(self.offsets[pos]), int(self.offsets[pos + 1])
        return rebuild(self.codes[a:b], self.geometry[a:b])


@dataclass(frozen=True, slots=True)
class _Part:
    segment: _Segment
    dead: npt.NDArray[np.bool_]  # per item: removed or replaced
    n_dead: int

    @classmethod
    def of(cls, segment: _Segment) -> _Part:
        return cls(segment, np.zeros(segment.items, dtype=bool), 0)

    def live(self) -> npt.NDArray[np.int64]:
        return np.flatnonzero(~self.dead)

    def kill(self, ids: IdArray) -> _Part:
        pos = self.segment.positions(ids)
        pos = pos[~self.dead[pos]]
        if not pos.size:
            return self
        dead = self.dead.copy()
        dead[pos] = True
        return _Part(self.segment, dead, self.n_dead + int(pos.size))

    @property
    def live_items(self) -> int:
        return self.segment.items - self.n_dead

    @property
    def live_codes(self) -> int:
        s = self.segment
        if not self.n_dead:
            return int(s.codes.size)
        return int(s.codes.size - (np.diff(s.offsets)[self.dead]).sum())


def _distinct(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The distinct values, ascending (``np.unique`` hashes first: slower on large arrays)."""
    out = np.sort(values)
    if out.size:
        out = out[np.r_[True, out[1:] != out[:-1]]]
    return out


def _runs(
    ordered: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The distinct values of an ascending array and how often each occurs."""
    if not ordered.size:
        return ordered, np.zeros(0, np.int64)
    first = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return ordered[first], np.diff(np.r_[first, ordered.size])


def _ranks(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Each value's rank among the distinct values (as ``np.unique``'s inverse)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    out = np.empty(values.size, np.int64)
    out[order] = np.cumsum(np.r_[True, ordered[1:] != ordered[:-1]]) - 1 if values.size else 0
    return out


def _pairs(
    segment: _Segment, codes: CodeArray
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every hit of ``codes`` (the upload's codes, then the same mirrored: ``2 * n`` of them)
    in ``segment`` once, as ``(upload code, banked code)`` positions, in banked code order
    (so in item order)."""
    two_n = codes.size
    lo_own, lo_code = segment.low.probe((codes & _LOW).astype(np.uint32))
    hi_own, hi_code = segment.high.probe((codes >> _32).astype(np.uint32))
    if not lo_own.size and not hi_own.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    packed = np.concatenate(
        [lo_code.astype(np.int64) * two_n + lo_own, hi_code.astype(np.int64) * two_n + hi_own]
    )
    packed = _distinct(packed)  # a pair within one bit in both halves is found twice
    return packed % two_n, packed // two_n


def _item_of(segment: _Segment, code: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The item position of each banked code position (ascending ones read fastest)."""
    out: npt.NDArray[np.int64] = np.searchsorted(segment.offsets, code, side="right") - 1
    return out


def _best_of(
    item: npt.NDArray[np.int64], counts: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per item (``item`` ascending, not empty): the largest count."""
    first = np.flatnonzero(np.r_[True, item[1:] != item[:-1]])
    best = np.maximum.reduceat(counts, first)
    return item[first], best.astype(np.int64)


def _plain_hits(
    segment: _Segment, codes: CodeArray
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The plain rule: ``(item positions, hits)``, an item's hits being the upload codes
    that hit any of its codes, per side (as it is, mirrored), the larger side."""
    two_n = codes.size
    owner, code = _pairs(segment, codes)
    if not owner.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    item = _item_of(segment, code)
    pairs = _distinct(item * two_n + owner)  # one hit per (item, upload code)
    item_side = (pairs // two_n) * 2 + (pairs % two_n >= two_n // 2)
    keys, counts = _runs(np.sort(item_side))
    return _best_of(keys // 2, counts)


#: Hits of a match lie within this of the similarity through two of them (four times the
#: fit's tolerance: see :func:`_aligned`; shares of the upload's longer side), unless those
#: two are this close on the banked photo.
ALIGN_TOLERANCE = 4 * FIT_TOLERANCE + 1e-4
ALIGN_MIN_SPAN = 0.002
#: Groups of more hits than this are not tested (the test costs the cube of the hits; the
#: largest bin of 3 distinct points or more of 500 distractor uploads among 1,104 real photos
#: held 11 hits).
ALIGN_MAX_HITS = 24
#: Triples (two hits and a third) tested at once at most (memory: ~100 bytes each).
ALIGN_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class _QuerySides:
    """Per upload code, as it is then mirrored: log scale, turn and place (``x + iy``)."""

    log_scale: FloatArray
    turn: FloatArray
    place: npt.NDArray[np.complex128]
    place_id: npt.NDArray[np.int64]

    @classmethod
    def of(cls, query: Keypoints) -> _QuerySides:
        mirrored = query.mirrored()
        log_scale = np.log(np.maximum(query.scale, 1e-6)).astype(np.float32)
        _, place_id = np.unique(np.stack([query.x, query.y], axis=1), axis=0, return_inverse=True)
        place_id = place_id.reshape(-1).astype(np.int64)
        return cls(
            np.concatenate([log_scale, log_scale]),
            np.concatenate([query.angle, mirrored.angle]).astype(np.float32),
            np.concatenate(
                [
                    query.x + 1j * query.y.astype(np.float64),
                    mirrored.x + 1j * mirrored.y.astype(np.float64),
                ]
            ),
            np.concatenate([place_id, place_id]),
        )


#: Vote bins of the candidate stage: log scale ratio and turn. Every inlier of a match is
#: within LOG_SCALE_TOLERANCE and ANGLE_TOLERANCE of the fit's scale and turn, so the spread of
#: a match's pairs is below twice each; a pair votes for the two bins nearest its value in each
#: (4 bins), so pairs whose spread is below a bin's width share a bin.
SCALE_BIN = 2 * LOG_SCALE_TOLERANCE + 0.02
TURN_BINS = int(2 * np.pi / (2 * ANGLE_TOLERANCE))  # 8: bins of 0.785 rad (spread < 0.70)
_SCALE_BINS = 64  # log scale ratios of -16 to +16 (16-bit scales span less than +-11.1)


def _voted_hits(
    segment: _Segment, codes: CodeArray, query: _QuerySides, min_hits: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The voting rule: ``(item positions, hits)`` of the items with ``min_hits`` hits that
    one placement explains (see the module docstring); an item's hits are its best group's."""
    two_n = codes.size
    owner, code = _pairs(segment, codes)
    near = np.bitwise_count(codes[owner] ^ segment.codes[code]) <= CODE_RADIUS
    owner, code = owner[near], code[near]
    if not owner.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    item = _item_of(segment, code)
    # an item with fewer pairs than min_hits cannot have as many in a bin (item ascending)
    first = np.flatnonzero(np.r_[True, item[1:] != item[:-1]])
    runs = np.diff(np.r_[first, item.size])
    keep = np.repeat(runs >= max(min_hits, 1), runs)
    owner, code, item = owner[keep], code[keep], item[keep]
    if not owner.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    new_item = np.r_[True, item[1:] != item[:-1]]
    items, local = item[new_item], np.cumsum(new_item) - 1
    g = segment.geometry[code]
    # points are counted by place: a keypoint's second orientation is not a second point
    banked = _ranks(g[:, 0].astype(np.int64) << 16 | g[:, 1].astype(np.int64))
    owner_place = query.place_id[owner]
    b_log = np.log(np.maximum(g[:, 2], 1).astype(np.float32) / np.float32(65535))
    b_turn = g[:, 3].astype(np.float32) * np.float32(2 * np.pi / 65536) - np.float32(np.pi)
    s = (query.log_scale[owner] - b_log) / np.float32(SCALE_BIN) + np.float32(_SCALE_BINS // 2)
    a = (query.turn[owner] - b_turn) % np.float32(2 * np.pi) * np.float32(TURN_BINS / (2 * np.pi))
    s0 = np.clip(np.floor(s), 0, _SCALE_BINS - 1).astype(np.int64)
    s1 = np.clip(np.where(s - s0 >= 0.5, s0 + 1, s0 - 1), 0, _SCALE_BINS - 1)
    a0 = np.floor(a).astype(np.int64) % TURN_BINS
    a1 = np.where(a - np.floor(a) >= 0.5, a0 + 1, a0 - 1) % TURN_BINS
    base = (local.astype(np.int64) * 2 + (owner >= two_n // 2)) * _SCALE_BINS
    keys = np.concatenate([(base + sb) * TURN_BINS + ab for sb in (s0, s1) for ab in (a0, a1)])
    hit = np.tile(np.arange(owner.size, dtype=np.int64), 4)
    # one vote per (bin, hit) (a clipped scale votes twice for one bin), in bin order
    votes = _distinct(keys * owner.size + hit)
    keys, hit = votes // owner.size, votes % owner.size
    score_keys, score = _distinct_per_group(keys, owner_place[hit], banked[hit])
    if min_hits >= 3:
        busy = score_keys[score >= min_hits]
        sel = np.isin(keys, busy)
        keys, hit = keys[sel], hit[sel]
        b_geo = g[hit]
        zb = (b_geo[:, 0] + 1j * b_geo[:, 1].astype(np.float64)) / 65535
        zq, q, b = query.place[owner[hit]], owner_place[hit], banked[hit]
        parts = []
        for at, end in _chunks(keys):
            parts.append(_aligned(keys[at:end], zq[at:end], zb[at:end], q[at:end], b[at:end]))
        score_keys = np.concatenate([k for k, _ in parts]) if parts else keys[:0]
        score = np.concatenate([v for _, v in parts]) if parts else keys[:0]
    if not score_keys.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    u, best = _best_of(score_keys // (2 * _SCALE_BINS * TURN_BINS), score)
    ok = best >= min_hits
    return items[u[ok]], best[ok]


def _distinct_per_group(
    group: npt.NDArray[np.int64], q: npt.NDArray[np.int64], b: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per group (ascending): the fewer of its distinct upload points ``q`` and distinct
    banked points ``b`` (as :func:`~hashwall.hashing.keypoints.inliers` counts them)."""
    if not group.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    qn, bn = int(q.max()) + 1, int(b.max()) + 1
    kq, nq = _runs(_distinct(group * qn + q) // qn)
    _, nb = _runs(_distinct(group * bn + b) // bn)
    return kq, np.minimum(nq, nb).astype(np.int64)


def _chunks(group: npt.NDArray[np.int64]) -> list[tuple[int, int]]:
    """``group`` (ascending) cut between groups into runs of about :data:`ALIGN_CHUNK`
    triples for :func:`_aligned` (a group is never cut)."""
    if not group.size:
        return []
    first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    size = np.diff(np.r_[first, group.size])
    cost = np.where(size <= ALIGN_MAX_HITS, size * size * (size - 1) // 2, 0)
    chunk = (np.cumsum(cost) - cost) // ALIGN_CHUNK  # by the cost before each group
    starts = first[np.r_[True, chunk[1:] != chunk[:-1]]].tolist()
    return list(zip(starts, [*starts[1:], int(group.size)], strict=True))


def _aligned(
    group: npt.NDArray[np.int64],
    zq: npt.NDArray[np.complex128],
    zb: npt.NDArray[np.complex128],
    q: npt.NDArray[np.int64],
    b: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per group (``group`` ascending): the most hits (distinct on both sides) that the
    similarity through two of its hits maps onto each other within :data:`ALIGN_TOLERANCE`;
    all of a group's hits when they lie within :data:`ALIGN_MIN_SPAN` of each other."""
    if not group.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    n = group.size
    first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    size = np.diff(np.r_[first, n])
    end = np.repeat(first + size, size)
    # every pair (j, k), j < k, of a group; then every hit l of the pair's group
    partners = np.where(np.repeat(size, size) <= ALIGN_MAX_HITS, end - np.arange(n) - 1, 0)
    j = np.repeat(np.arange(n), partners)
    k = j + 1 + np.arange(j.size) - np.repeat(np.cumsum(partners) - partners, partners)
    g_of_pair = np.searchsorted(first, j, side="right") - 1
    far = np.abs(zb[k] - zb[j]) >= ALIGN_MIN_SPAN
    j, k, g_of_pair = j[far], k[far], g_of_pair[far]
    scale = (zq[k] - zq[j]) / (zb[k] - zb[j])
    members = size[g_of_pair]
    pair = np.repeat(np.arange(j.size), members)
    l_idx = (
        np.repeat(first[g_of_pair], members)
        + np.arange(pair.size)
        - np.repeat(np.cumsum(members) - members, members)
    )
    jp = j[pair]
    miss = np.abs(zq[jp] + scale[pair] * (zb[l_idx] - zb[jp]) - zq[l_idx])
    fit = miss < ALIGN_TOLERANCE
    pair_keys, pair_score = _distinct_per_group(pair[fit], q[l_idx[fit]], b[l_idx[fit]])
    keys, score = _distinct_per_group(group, q, b)
    # a group too big to test, or whose hits all lie at one place, keeps its count
    tested = np.zeros(keys.size, dtype=bool)
    tested[g_of_pair] = True
    score[tested] = 0
    np.maximum.at(score, g_of_pair[pair_keys], pair_score)
    return keys, score


class KeypointIndex:
    """Banked photos' keypoint codes; see the module docstring for the design.

    Thread safety: searches run concurrently with each other and with mutations (a search
    reads one published snapshot); mutations are serialised by a lock.
    """

    def __init__(self, *, delta_max_codes: int | None = None) -> None:
        self._delta_max = delta_max_codes
        self._lock = threading.Lock()
        self._snap: tuple[_Part, _Part] = (_Part.of(_Segment.empty()), _Part.of(_Segment.empty()))

    # --- size ----------------------------------------------------------------------------

    def __len__(self) -> int:
        main, delta = self._snap
        return main.live_items + delta.live_items

    def nbytes(self) -> int:
        """Bytes held by the arrays of the current snapshot (tombstones included)."""
        return sum(p.segment.nbytes() + int(p.dead.nbytes) for p in self._snap)

    def codes(self) -> int:
        """Codes held, tombstoned items' included."""
        return sum(int(p.segment.codes.size) for p in self._snap)

    # --- mutations -----------------------------------------------------------------------

    def add(self, item_ids: npt.ArrayLike, keypoint_sets: Sequence[Keypoints]) -> None:
        """Bank (or replace) ``item_ids[i] -> keypoint_sets[i]``."""
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        if ids.size != len(keypoint_sets):
            raise ValueError(f"{ids.size} ids for {len(keypoint_sets)} keypoint sets")
        counts, codes, geometry = quantise(keypoint_sets)
        self.add_records(ids, counts, codes, geometry)

    def add_records(
        self,
        item_ids: npt.ArrayLike,
        counts: npt.ArrayLike,
        codes: npt.ArrayLike,
        geometry: npt.ArrayLike,
    ) -> None:
        """Bank (or replace) items given as arrays: item ``i`` has the next ``counts[i]`` of
        ``codes`` (uint64) and ``geometry`` (``(n, 4)`` uint16, as :func:`quantise` gives).
        The arrays may be kept by the index: do not change them afterwards."""
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        cnt = np.asarray(counts, dtype=np.int64).reshape(-1)
        cds = np.asarray(codes, dtype=np.uint64).reshape(-1)
        geo = np.asarray(geometry, dtype=np.uint16).reshape(-1, 4)
        if cnt.size != ids.size or int(cnt.sum()) != cds.size or geo.shape[0] != cds.size:
            raise ValueError("counts must give every item its codes and geometry")
        if (cnt < 0).any():
            raise ValueError("negative counts")
        if ids.size > 1 and np.unique(ids).size != ids.size:  # last one wins
            _, first_in_rev = np.unique(ids[::-1], return_index=True)
            keep = np.sort(ids.size - 1 - first_in_rev)
            offsets = np.r_[0, np.cumsum(cnt)].astype(np.int64)
            ids, cnt, cds, geo = _gather(ids, offsets, cds, geo, keep)
        with self._lock:
            main, delta = (p.kill(ids) for p in self._snap)
            limit = self._delta_limit(main)
            if delta.live_codes + cds.size > limit:
                main = _Part.of(self._merge(main, delta, (ids, cnt, cds, geo)))
                delta = _Part.of(_Segment.empty())
            else:
                delta = _Part.of(self._merge(delta, None, (ids, cnt, cds, geo)))
            self._snap = (main, delta)

    def remove(self, item_ids: npt.ArrayLike) -> None:
        """Withdraw items: no search returns them from now on. Unknown ids are ignored."""
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        with self._lock:
            main, delta = (p.kill(ids) for p in self._snap)
            if main.n_dead > max(1024, main.segment.items // 16):
                main = _Part.of(self._merge(main, delta, None))
                delta = _Part.of(_Segment.empty())
            self._snap = (main, delta)

    def compact(self) -> None:
        """Rebuild one segment of the live items (no tombstones, no delta)."""
        with self._lock:
            main, delta = self._snap
            self._snap = (_Part.of(self._merge(main, delta, None)), _Part.of(_Segment.empty()))

    def _delta_limit(self, main: _Part) -> int:
        if self._delta_max is not None:
            return self._delta_max
        return max(DELTA_MIN_CODES, int(main.segment.codes.size) // 256)

    @staticmethod
    def _merge(
        a: _Part,
        b: _Part | None,
        new: tuple[IdArray, npt.NDArray[np.int64], CodeArray, GeometryArray] | None,
    ) -> _Segment:
        """One segment of the live items of ``a`` and ``b`` and the ``new`` ones."""
        pieces = [p.segment.gather(p.live()) for p in (a, b) if p is not None and p.live_items]
        if new is not None:
            pieces.append(new)
        if not pieces:
            return _Segment.empty()
        if len(pieces) == 1:
            ids, counts, codes, geometry = pieces[0]
        else:
            ids = np.concatenate([p[0] for p in pieces])
            counts = np.concatenate([p[1] for p in pieces])
            codes = np.concatenate([p[2] for p in pieces])
            geometry = np.concatenate([p[3] for p in pieces])
        return _Segment.build(ids, counts, codes, geometry)

    # --- searching -----------------------------------------------------------------------

    def _candidates(
        self, query: Keypoints, min_hits: int, vote: bool
    ) -> list[tuple[_Segment, int, int]]:
        if not len(query):
            return []
        codes = np.concatenate([query.codes, query.codes ^ MIRROR_MASK]).astype(np.uint64)
        sides = _QuerySides.of(query) if vote else None
        out: list[tuple[_Segment, int, int]] = []
        for part in self._snap:
            if not part.live_items:
                continue
            seg = part.segment
            if sides is not None:
                pos, hits = _voted_hits(seg, codes, sides, min_hits)
            else:
                pos, hits = _plain_hits(seg, codes)
            keep = (hits >= min_hits) & ~part.dead[pos]
            out.extend(
                (seg, p, h) for p, h in zip(pos[keep].tolist(), hits[keep].tolist(), strict=True)
            )
        return out

    def candidates(
        self, query: Keypoints, min_hits: int = MIN_HITS, *, vote: bool = True
    ) -> list[tuple[int, int]]:
        """``(item_id, hits)`` of every live item with at least ``min_hits`` hits from the
        upload's codes, most hits first: counted in the item's best vote bin (``vote``, see
        the module docstring), or plainly (``vote=False``: the upload's codes that hit any
        of the item's, as it is or mirrored, the larger count)."""
        found = [(int(seg.ids[p]), h) for seg, p, h in self._candidates(query, min_hits, vote)]
        return sorted(found, key=lambda t: (-t[1], t[0]))

    def search(
        self,
        query: Keypoints,
        min_inliers: int = MIN_INLIERS,
        min_hits: int = MIN_HITS,
        *,
        vote: bool = True,
    ) -> list[tuple[int, int]]:
        """``(item_id, inliers)`` of the candidates that ``match_inliers`` verifies with at
        least ``min_inliers``, most inliers first."""
        out: list[tuple[int, int]] = []
        for seg, pos, _ in self._candidates(query, min_hits, vote):
            n = match_inliers(query, seg.keypoints(pos))
            if n >= min_inliers:
                out.append((int(seg.ids[pos]), n))
        return sorted(out, key=lambda t: (-t[1], t[0]))

    def keypoints(self, item_id: int) -> Keypoints | None:
        """The stored keypoints of a live item (None when it is not banked)."""
        ids = np.array([item_id], dtype=np.int64)
        for part in self._snap:
            for pos in part.segment.positions(ids).tolist():
                if not part.dead[pos]:
                    return part.segment.keypoints(pos)
        return None
