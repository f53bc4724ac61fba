"""The candidate stage of the keypoint index (:mod:`hashwall.index.keypoints`, stage 2 of its
docstring): the hits of an upload's codes in a segment (:mod:`hashwall.index.keypoint_tables`),
counted by the plain rule (:func:`plain_hits`) or by votes that one placement explains
(:func:`voted_hits`, :func:`_aligned`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hashwall.hashing.keypoint_verify import ANGLE_TOLERANCE, FIT_TOLERANCE, LOG_SCALE_TOLERANCE
from hashwall.hashing.keypoints import CODE_RADIUS, Keypoints
from hashwall.index.keypoint_tables import HALF_BITS, CodeArray, Segment

FloatArray = npt.NDArray[np.float32]

_LOW = np.uint64(0xFFFFFFFF)


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
    segment: Segment, codes: CodeArray
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every hit of ``codes`` (the upload's codes, then the same mirrored: ``2 * n`` of them)
    in ``segment`` once, as ``(upload code, banked code)`` positions, in banked code order
    (so in item order)."""
    two_n = codes.size
    lo_own, lo_code = segment.low.probe((codes & _LOW).astype(np.uint32))
    hi_own, hi_code = segment.high.probe((codes >> HALF_BITS).astype(np.uint32))
    if not lo_own.size and not hi_own.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    packed = np.concatenate(
        [lo_code.astype(np.int64) * two_n + lo_own, hi_code.astype(np.int64) * two_n + hi_own]
    )
    packed = _distinct(packed)  # a pair within one bit in both halves is found twice
    return packed % two_n, packed // two_n


def _item_of(segment: Segment, code: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
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


def plain_hits(
    segment: Segment, codes: CodeArray
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
class QuerySides:
    """Per upload code, as it is then mirrored: log scale, turn and place (``x + iy``)."""

    log_scale: FloatArray
    turn: FloatArray
    place: npt.NDArray[np.complex128]
    place_id: npt.NDArray[np.int64]

    @classmethod
    def of(cls, query: Keypoints) -> QuerySides:
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


def voted_hits(
    segment: Segment, codes: CodeArray, query: QuerySides, min_hits: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The voting rule: ``(item positions, hits)`` of the items with ``min_hits`` hits that
    one placement explains (see :mod:`hashwall.index.keypoints`); an item's hits are its best
    group's."""
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
    banked points ``b`` (as :func:`~hashwall.hashing.keypoint_verify.inliers` counts them)."""
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
