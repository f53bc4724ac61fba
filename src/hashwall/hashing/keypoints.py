"""Keypoint codes: small hashes of image patches anchored on content, for crops and rotations.

PDQ hashes a whole picture, so cutting 5% off a photo, turning it a few degrees or framing it
in a screenshot moves its hash past the threshold. A keypoint code hashes a small patch of
the picture whose place, size and direction come from the picture itself, so the same patch
is found again in a cropped, padded, scaled, turned or mirrored copy; a match needs several
of them to agree on one placement of the banked photo in the upload.

The steps (after SIFT's detector, with a DCT-sign hash in place of its descriptor):

1. **Luminance** (PDQ's weights), resized with an area filter (or bilinear, when smaller) so
   that the longer side is :data:`BANK_BASE` pixels; an upload keeps its shorter side at
   :data:`QUERY_MIN_SHORT` at least (a phone screenshot shows its photo across its short
   side), up to twice :data:`QUERY_BASE` on the longer side.
2. **Scale space**: per octave, Gaussians of sigma 1.6 * 2^(i/3), their differences, and the
   next octave from the Gaussian of twice the first sigma, halved.
3. **Extrema** of the differences over 3 x 3 x 3 neighbours, at least :data:`CONTRAST` in
   magnitude, not on an edge, refined by parabolas; ``limit`` kept (:data:`BANK_LIMIT` for a
   banked photo, half of them from the coarser octaves, which survive an upload shown
   smaller; :data:`QUERY_LIMIT` for an upload).
4. **Orientation**: the peaks of a histogram of gradient angles around the point.
5. **Patch**: 32 x 32 samples of a square of half side 6 sigma, turned to the orientation.
6. **Code**: the signs of the patch's 8 x 8 lowest DCT coefficients (the constant one left
   out): 64 bits, the first always 0.

A mirrored picture needs no second pass: mirroring turns a patch upside down (rows
reversed), which negates its DCT coefficients of odd vertical frequency, so
:meth:`Keypoints.mirrored` inverts those bits and reflects the places.

:func:`match_inliers` decides a match: pairs of codes within :data:`CODE_RADIUS` bits, then
the largest set of pairs that one similarity transform (scale, turn, shift) maps onto each
other as an edited copy would (:func:`inliers`); :func:`required_inliers` distinct points
make a match in a bank of a given size (:data:`MIN_INLIERS` in a small one).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from PIL import Image

if TYPE_CHECKING:
    from types import ModuleType

FloatArray = npt.NDArray[np.float32]
CodeArray = npt.NDArray[np.uint64]

#: Longer side of the working image when banking, and when checking.
BANK_BASE = 512
QUERY_BASE = 512
#: An upload is decoded (JPEG at a reduced scale) no smaller than this on its shorter side.
QUERY_DRAFT_MIN_SIDE = 256
#: An upload's shorter side is worked on at this many pixels at least (up to twice
#: QUERY_BASE on the longer side).
QUERY_MIN_SHORT = 384
#: Keypoints kept per banked photo, and per upload.
BANK_LIMIT = 64
QUERY_LIMIT = 160

SIGMA0 = 1.6
LEVELS_PER_OCTAVE = 3
MAX_OCTAVES = 6
#: Smallest octave side in pixels (smaller octaves find nothing stable).
MIN_OCTAVE_SIDE = 12
#: Smallest difference-of-Gaussians magnitude of a keypoint (luminance 0..255).
CONTRAST = 1.0
EDGE_RATIO = 10.0
PATCH = 32
#: Half side of a patch, in sigmas of its keypoint.
PATCH_HALF = 6.0
DCT_SIDE = 8

#: Codes this close (bits of 64) are a candidate pair.
CODE_RADIUS = 10
#: Distinct keypoints one transform must explain for a match, in a bank of up to about a
#: thousand photos (:func:`required_inliers` gives the level for a bigger bank).
MIN_INLIERS = 8
#: The tail of distinct photos' inliers (docs/accuracy.md, measured on 300,000 pairs of the
#: evaluation): a pair reaches 5 with this probability, and each further inlier is this much
#: rarer (a log-linear fit of the counts at 2 to 5).
TAIL_AT_5 = 6.7e-6
TAIL_STEP = 0.21
#: False candidates per upload a bank's level allows.
FALSE_CANDIDATES_PER_UPLOAD = 1e-4
#: Pairs agree with a transform when the point lands within this share of the upload's longer
#: side (times the scale) and the scales and angles agree within these.
POSITION_TOLERANCE = 0.08
LOG_SCALE_TOLERANCE = 0.25
#: Share of a transform's loose pairs that must fit it closely (see :func:`inliers`).
MIN_AGREEMENT = 0.85
#: After the fit, pairs count when the point lands within this share of the upload's longer
#: side (3 pixels of a 512-pixel upload), times the fit's scale (from 0.35 to 1).
FIT_TOLERANCE = 0.006
ANGLE_TOLERANCE = 0.35
#: Share of the banked photo's keypoints that a transform must place inside the upload (see
#: :func:`coverage`): a copy shows most of its photo, one photo of a banked collage of three
#: or more does not.
MIN_COVERAGE = 0.4
#: The upload's frame is taken as the box of its keypoints, grown by this share of its longer
#: side (keypoints keep a few sigma away from the edges).
FRAME_MARGIN = 0.03
#: A copy shows the banked photo's own pixels, so many of its pairs' codes nearly agree;
#: another shot of the same scene (seen from elsewhere, in other light) pairs them loosely.
#: A transform counts only with at least :data:`MIN_CLOSE` distinct pairs within
#: :data:`CLOSE_RADIUS` bits (see :func:`inliers`).
CLOSE_RADIUS = 6
MIN_CLOSE = 5
#: A copy's pairs lie all over the part of the banked photo it shows; a frame, a logo or one
#: object that two pictures share puts them in one corner. The part shown (the box of the
#: banked keypoints the transform places inside the upload) is cut into SPREAD_GRID x
#: SPREAD_GRID cells, and the pairs must lie in at least :data:`MIN_CELLS` of them.
SPREAD_GRID = 4
MIN_CELLS = 4
#: Where the upload shows a banked keypoint's structure again (an upload keypoint within
#: REFOUND_TOLERANCE of the upload's longer side, times the transform's scale, of where the
#: transform puts it, at the size it gives it), a copy shows the same pixels there and the
#: codes agree; another shot of the scene finds the same corners again with other patches
#: round them. A transform's inliers must be at least MIN_REFOUND_SHARE of the banked
#: keypoints it finds again (see :func:`refound`).
REFOUND_TOLERANCE = 0.02
MIN_REFOUND_SHARE = 0.3

#: Bits of a code that a mirror inverts: odd vertical frequencies (rows 1, 3, 5, 7).
MIRROR_MASK = np.uint64(
    sum(1 << (8 * v + u) for v in range(1, DCT_SIDE, 2) for u in range(DCT_SIDE))
)
#: Bytes of one keypoint when stored: the code, then x, y, scale and angle as 16-bit values.
RECORD_BYTES = 16
_RECORD = np.dtype(
    [("code", "<u8"), ("x", "<u2"), ("y", "<u2"), ("scale", "<u2"), ("angle", "<u2")]
)


def record_arrays(
    data: bytes,
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint16]]:
    """Stored records (any number of sets, concatenated) as arrays without rounding them
    again: the codes (uint64) and the geometry ``(n, 4)`` uint16 (x, y, scale, angle)."""
    if len(data) % RECORD_BYTES:
        raise ValueError(f"keypoint records are {RECORD_BYTES} bytes each, got {len(data)}")
    rec = np.frombuffer(data, dtype=_RECORD)
    geometry = np.empty((rec.size, 4), dtype=np.uint16)
    for column, name in enumerate(("x", "y", "scale", "angle")):
        geometry[:, column] = rec[name]
    return rec["code"].astype(np.uint64), geometry


@functools.cache
def _kernels() -> ModuleType:
    from hashwall.hashing import _keypoint_kernels

    return _keypoint_kernels


@functools.cache
def _gaussian(sigma: float) -> FloatArray:
    radius = max(1, math.ceil(4.0 * sigma))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-(t * t) / (2.0 * sigma * sigma))
    out: FloatArray = (w / w.sum()).astype(np.float32)
    return out


@functools.cache
def _dct_rows() -> npt.NDArray[np.float64]:
    """The first :data:`DCT_SIDE` rows of the orthonormal DCT-II matrix of size PATCH."""
    k = np.arange(DCT_SIDE)[:, None]
    n = np.arange(PATCH)[None, :]
    m = np.cos(np.pi * (2 * n + 1) * k / (2 * PATCH)) * math.sqrt(2.0 / PATCH)
    m[0] /= math.sqrt(2.0)
    return m


@dataclass(frozen=True, slots=True, eq=False)
class Keypoints:
    """Keypoints of one picture. ``x``, ``y`` and ``scale`` (the keypoint's sigma) are shares
    of the picture's longer side; ``angle`` in radians; ``codes`` one 64-bit code each."""

    x: FloatArray
    y: FloatArray
    scale: FloatArray
    angle: FloatArray
    codes: CodeArray

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def mirrored(self) -> Keypoints:
        """The keypoints of the picture mirrored left to right (a reflection of the places,
        the angles reflected, the mirror bits of the codes inverted)."""
        angle = np.pi - self.angle
        angle = np.where(angle >= np.pi, angle - 2 * np.pi, angle).astype(np.float32)
        return Keypoints(-self.x, self.y, self.scale, angle, self.codes ^ MIRROR_MASK)

    def to_bytes(self) -> bytes:
        """:data:`RECORD_BYTES` per keypoint (places, scales and angles to 16 bits)."""
        rec = np.empty(len(self), dtype=_RECORD)
        rec["code"] = self.codes
        rec["x"] = np.round(np.clip(self.x, 0.0, 1.0) * 65535)
        rec["y"] = np.round(np.clip(self.y, 0.0, 1.0) * 65535)
        rec["scale"] = np.round(np.clip(self.scale, 0.0, 1.0) * 65535)
        rec["angle"] = np.round((self.angle + np.pi) / (2 * np.pi) * 65536).astype(np.int64) % 65536
        return rec.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Keypoints:
        if len(data) % RECORD_BYTES:
            raise ValueError(f"keypoint records are {RECORD_BYTES} bytes each, got {len(data)}")
        rec = np.frombuffer(data, dtype=_RECORD)
        return cls(
            (rec["x"] / 65535).astype(np.float32),
            (rec["y"] / 65535).astype(np.float32),
            (rec["scale"] / 65535).astype(np.float32),
            (rec["angle"] / 65536 * 2 * np.pi - np.pi).astype(np.float32),
            rec["code"].astype(np.uint64),
        )


def working_side(height: int, width: int, base: int, min_short: int | None) -> int:
    """The longer side of the working picture: ``base``, or more so that the shorter side is
    at least ``min_short`` (a tall phone screenshot shows its photo across the short side),
    up to twice ``base``."""
    longer, shorter = max(height, width), max(1, min(height, width))
    if min_short is None:
        return base
    return min(max(base, math.ceil(min_short * longer / shorter)), 2 * base)


def _luminance(pixels: npt.NDArray[Any], base: int) -> FloatArray:
    if pixels.ndim == 3:
        rgb = pixels[..., :3].astype(np.float32)
        grey = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    else:
        grey = pixels.astype(np.float32)
    h, w = grey.shape
    k = base / max(h, w)
    size = (max(1, round(w * k)), max(1, round(h * k)))
    if size == (w, h):
        return np.ascontiguousarray(grey, dtype=np.float32)
    resample = Image.Resampling.BOX if k < 1 else Image.Resampling.BILINEAR
    out = Image.fromarray(np.ascontiguousarray(grey), mode="F").resize(size, resample)
    return np.asarray(out, dtype=np.float32)


def keypoints(
    pixels: npt.NDArray[Any],
    *,
    limit: int = BANK_LIMIT,
    base: int = BANK_BASE,
    min_short: int | None = None,
) -> Keypoints:
    """The keypoints of an RGB (or grey) picture: the ``limit`` strongest, each with as many
    orientations as it has peaks (at most two). The picture is worked on with its longer side
    at ``base`` pixels, or more when ``min_short`` asks for it (:func:`working_side`)."""
    kern = _kernels()
    h0, w0 = pixels.shape[:2]
    img = _luminance(pixels, working_side(h0, w0, base, min_short))
    k = 2.0 ** (1.0 / LEVELS_PER_OCTAVE)
    sigmas = [SIGMA0 * k**i for i in range(LEVELS_PER_OCTAVE + 3)]
    octave_base = kern.blur(img, _gaussian(SIGMA0))
    found: list[npt.NDArray[np.float64]] = []
    octaves: list[npt.NDArray[np.float32]] = []
    for octave in range(MAX_OCTAVES):
        if min(octave_base.shape) < MIN_OCTAVE_SIDE:
            break
        stack = [octave_base]
        for i in range(1, len(sigmas)):
            step = math.sqrt(sigmas[i] ** 2 - sigmas[i - 1] ** 2)
            stack.append(kern.blur(stack[-1], _gaussian(step)))
        gauss = np.stack(stack)
        dog = gauss[1:] - gauss[:-1]
        rows = kern.extrema(dog, CONTRAST, EDGE_RATIO)
        if len(rows):
            found.append(np.column_stack([np.full(len(rows), octave), rows]))
        octaves.append(gauss)
        octave_base = np.ascontiguousarray(gauss[LEVELS_PER_OCTAVE][::2, ::2])
    if not found:
        return _empty()
    rows = np.concatenate(found)
    order = _select(rows, limit)
    longer = float(max(img.shape))
    dct = _dct_rows()
    xs: list[float] = []
    ys: list[float] = []
    ss: list[float] = []
    angles: list[float] = []
    codes: list[np.uint64] = []
    for r in rows[order]:
        octave, level = int(r[0]), int(r[1])
        gauss_level = octaves[octave][level]
        cy, cx = r[4], r[5]
        sigma = SIGMA0 * k ** r[6]
        mult = 2.0**octave
        for angle in kern.orientations(gauss_level, cx, cy, sigma):
            patch = kern.sample_patch(gauss_level, cx, cy, PATCH_HALF * sigma, angle, PATCH)
            codes.append(np.uint64(kern.patch_code(patch, dct)))
            xs.append(cx * mult / longer)
            ys.append(cy * mult / longer)
            ss.append(sigma * mult / longer)
            angles.append(angle)
    return Keypoints(
        np.asarray(xs, dtype=np.float32),
        np.asarray(ys, dtype=np.float32),
        np.asarray(ss, dtype=np.float32),
        np.asarray(angles, dtype=np.float32),
        np.asarray(codes, dtype=np.uint64),
    )


def upload_keypoints(pixels: npt.NDArray[Any]) -> Keypoints:
    """The keypoints a check computes for an upload (:data:`QUERY_BASE`,
    :data:`QUERY_MIN_SHORT`, :data:`QUERY_LIMIT`); a banked photo's are
    ``keypoints(pixels)``."""
    return keypoints(pixels, limit=QUERY_LIMIT, base=QUERY_BASE, min_short=QUERY_MIN_SHORT)


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernels now, so that no check pays for it (a
    process that hashes under a memory limit calls this before setting it)."""
    rng = np.random.default_rng(0)
    coarse = Image.fromarray(rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8), "RGB")
    upload_keypoints(np.asarray(coarse.resize((160, 120), Image.Resampling.BICUBIC)))


def _select(rows: npt.NDArray[np.float64], limit: int) -> npt.NDArray[np.intp]:
    """The ``limit`` keypoints kept: half of them the strongest of the coarser octaves (they
    survive an upload that shows the photo smaller), the rest the strongest of what is left.
    Strongest first; ties in a fixed order (octave, level, y, x)."""
    order = np.lexsort((rows[:, 3], rows[:, 2], rows[:, 1], rows[:, 0], -rows[:, 7]))
    coarse = rows[order, 0] >= 1
    keep = np.zeros(len(order), dtype=bool)
    keep[np.nonzero(coarse)[0][: limit // 2]] = True
    keep[np.nonzero(~keep)[0][: limit - int(keep.sum())]] = True
    return order[keep]


def _empty() -> Keypoints:
    f = np.zeros(0, dtype=np.float32)
    return Keypoints(f, f, f, f, np.zeros(0, dtype=np.uint64))


def required_inliers(bank_size: int) -> int:
    """The inliers a match needs against a bank of ``bank_size`` photos: at least
    :data:`MIN_INLIERS`, and enough that the measured tail of distinct photos' inliers,
    extrapolated, leaves at most :data:`FALSE_CANDIDATES_PER_UPLOAD` false candidates per
    upload (12-13 for a million photos, 14 for ten million)."""
    if bank_size <= 0:
        return MIN_INLIERS
    ratio = FALSE_CANDIDATES_PER_UPLOAD / (bank_size * TAIL_AT_5)
    if ratio >= 1:
        return MIN_INLIERS
    return max(MIN_INLIERS, 5 + math.ceil(math.log(ratio) / math.log(TAIL_STEP)))


def code_distances(a: CodeArray, b: CodeArray) -> npt.NDArray[np.int64]:
    """Hamming distances between every code of ``a`` (rows) and of ``b`` (columns)."""
    out: npt.NDArray[np.int64] = np.bitwise_count(a[:, None] ^ b[None, :]).astype(np.int64)
    return out


def inliers(
    query: Keypoints,
    banked: Keypoints,
    q_idx: npt.NDArray[np.intp],
    b_idx: npt.NDArray[np.intp],
    *,
    copy_rules: bool = True,
) -> int:
    """The most distinct keypoints (on both sides) that one similarity transform maps from
    ``banked`` onto ``query``, over the candidate pairs ``(q_idx[i], b_idx[i])``; 0 when no
    transform explains its pairs as a copy of one photo does.

    Each pair proposes the transform its own scales, angles and places imply. The pairs that
    agree with it loosely (:data:`POSITION_TOLERANCE`: one pair's scale and angle are rough)
    are fitted by least squares, and the pairs within :data:`FIT_TOLERANCE` of that fit (times
    its scale, at least 0.35), with scale and angle agreeing, are counted (then fitted and
    counted once more). An edited copy of a photo keeps nearly all of the pairs near the fit
    within it; two shots of one scene do not (what is nearer the camera moves apart), so a
    transform counts only when at least :data:`MIN_AGREEMENT` of the pairs within
    :data:`POSITION_TOLERANCE` of it fit it closely. It must also look like a copy in three
    more ways: at least :data:`MIN_CLOSE` of its pairs have codes within
    :data:`CLOSE_RADIUS` bits (the same pixels, not the same place seen again), it shows at
    least :data:`MIN_COVERAGE` of the banked photo (:func:`coverage`), its pairs lie in
    at least :data:`MIN_CELLS` cells of the part it shows (:func:`spread_cells`), and they
    are at least :data:`MIN_REFOUND_SHARE` of the banked keypoints the upload shows again
    (:func:`refound`). ``copy_rules=False`` leaves out the close codes, the spread and the
    share found again (the evaluation's ``hashwall_loose``, to show what they remove)."""
    found = best_transform(query, banked, q_idx, b_idx, copy_rules=copy_rules)
    return 0 if found is None else found.inliers


@dataclass(frozen=True, slots=True)
class Transform:
    """The transform :func:`best_transform` keeps, with what the rules that make it look like a
    copy measure of it (``python -m hashwall.eval.features`` records them)."""

    #: Distinct keypoints it maps (on both sides).
    inliers: int
    #: Distinct pairs of them with codes within :data:`CLOSE_RADIUS` bits.
    close: int
    #: Cells of the part shown that hold a pair (:func:`spread_cells`).
    cells: int
    #: Share of the banked keypoints it places inside the upload (:func:`coverage`).
    coverage: float
    #: Banked keypoints the upload shows again (:func:`refound`).
    refound: int
    #: Its scale (upload over banked).
    scale: float

    def rules(self) -> dict[str, bool]:
        """Whether it passes each rule that makes a transform look like a copy, by name."""
        return {
            "close": self.close >= MIN_CLOSE,
            "spread": self.cells >= MIN_CELLS,
            "refound": self.inliers >= MIN_REFOUND_SHARE * self.refound,
        }


def best_transform(
    query: Keypoints,
    banked: Keypoints,
    q_idx: npt.NDArray[np.intp],
    b_idx: npt.NDArray[np.intp],
    *,
    copy_rules: bool = True,
) -> Transform | None:
    """The transform with the most inliers that :func:`inliers` accepts (see there), or None.
    With ``copy_rules=False`` the rules on close codes, spread and keypoints found again are
    measured but not applied."""
    if len(q_idx) == 0:
        return None
    log_s = np.log(query.scale[q_idx] / banked.scale[b_idx]).astype(np.float64)
    turn = np.angle(np.exp(1j * (query.angle[q_idx] - banked.angle[b_idx]).astype(np.float64)))
    zb = banked.x[b_idx].astype(np.float64) + 1j * banked.y[b_idx].astype(np.float64)
    zq = query.x[q_idx].astype(np.float64) + 1j * query.y[q_idx].astype(np.float64)
    # hypothesis h (rows) applied to every pair j (columns): zq ~ a_h * zb + t_h
    a = np.exp(log_s + 1j * turn)
    t = zq - a * zb
    err = np.abs(a[:, None] * zb[None, :] + t[:, None] - zq[None, :])
    ok = err < POSITION_TOLERANCE * np.maximum(np.abs(a), 0.3)[:, None]
    ok &= np.abs(log_s[None, :] - log_s[:, None]) < LOG_SCALE_TOLERANCE
    ok &= np.abs(np.angle(np.exp(1j * (turn[None, :] - turn[:, None])))) < ANGLE_TOLERANCE
    close = np.bitwise_count(query.codes[q_idx] ^ banked.codes[b_idx]) <= CLOSE_RADIUS
    best: Transform | None = None
    for h in np.argsort(-ok.sum(axis=1), kind="stable"):
        most = 0 if best is None else best.inliers
        if _distinct(q_idx, b_idx, ok[h]) <= most:
            break
        row, near = ok[h], ok[h]
        for _ in range(2):
            row, near = _refit(zb, zq, log_s, turn, row)
        fitted = _distinct(q_idx, b_idx, row)
        if fitted > most and fitted >= MIN_AGREEMENT * _distinct(q_idx, b_idx, near):
            n_close = _distinct(q_idx, b_idx, row & close)
            judged = _judge(query, banked, zb[row], zq[row], fitted, n_close, copy_rules)
            if judged is not None:
                best = judged
    return best


def _judge(
    query: Keypoints,
    banked: Keypoints,
    zb: npt.NDArray[np.complex128],
    zq: npt.NDArray[np.complex128],
    fitted: int,
    n_close: int,
    copy_rules: bool,
) -> Transform | None:
    """The transform fitted to the ``fitted`` distinct pairs ``zb -> zq`` (``n_close`` of them
    close), or None when it does not look like a copy: it must show :data:`MIN_COVERAGE` of
    the banked photo and, with ``copy_rules``, pass :meth:`Transform.rules` (checked cheapest
    first; the first that fails ends it)."""
    if copy_rules and n_close < MIN_CLOSE:
        return None
    fit = _similarity(zb, zq)
    inside = _placed_inside(query, banked, zb, zq)
    if fit is None or inside is None or inside.mean() < MIN_COVERAGE:
        return None
    cells = spread_cells(banked, inside, zb)
    if copy_rules and cells < MIN_CELLS:
        return None
    found = refound(query, banked, zb, zq, inside)
    out = Transform(fitted, n_close, cells, float(inside.mean()), found, abs(fit[0]))
    return None if copy_rules and not all(out.rules().values()) else out


def refound(
    query: Keypoints,
    banked: Keypoints,
    zb: npt.NDArray[np.complex128],
    zq: npt.NDArray[np.complex128],
    inside: npt.NDArray[np.bool_],
) -> int:
    """How many of ``banked``'s keypoints marked ``inside`` the upload shows again: an upload
    keypoint lies within :data:`REFOUND_TOLERANCE` (times the scale, at least 0.3) of where
    the similarity fitted to ``zb -> zq`` places it, its size within
    :data:`LOG_SCALE_TOLERANCE` of the size it gives it, whatever its code."""
    fitted = _similarity(zb, zq)
    if fitted is None or not len(query):
        return 0
    a, mb, mq = fitted
    placed = a * (banked.x.astype(np.float64) + 1j * banked.y.astype(np.float64) - mb) + mq
    sizes = banked.scale.astype(np.float64) * abs(a)
    found = query.x.astype(np.float64) + 1j * query.y.astype(np.float64)
    near = np.abs(placed[:, None] - found[None, :]) < REFOUND_TOLERANCE * max(abs(a), 0.3)
    near &= (
        np.abs(np.log(np.maximum(sizes, 1e-9)[:, None] / query.scale.astype(np.float64)[None, :]))
        < LOG_SCALE_TOLERANCE
    )
    return int((near.any(axis=1) & inside).sum())


def coverage(
    query: Keypoints,
    banked: Keypoints,
    zb: npt.NDArray[np.complex128],
    zq: npt.NDArray[np.complex128],
) -> float:
    """The share of ``banked``'s keypoints that the similarity fitted to the pairs ``zb ->
    zq`` (places as complex numbers) puts inside the upload's frame (the box of ``query``'s
    keypoints, grown by :data:`FRAME_MARGIN`).

    A crop, a pad, a screenshot or a caption keeps most of the banked photo in the upload; a
    photo that is one part of a banked collage (or a small element of a banked picture, shared
    by many) covers only its part: the rule that keeps a bank of collages from matching each
    innocent photo in them."""
    inside = _placed_inside(query, banked, zb, zq)
    return 0.0 if inside is None else float(inside.mean())


def _placed_inside(
    query: Keypoints,
    banked: Keypoints,
    zb: npt.NDArray[np.complex128],
    zq: npt.NDArray[np.complex128],
) -> npt.NDArray[np.bool_] | None:
    """Which of ``banked``'s keypoints the similarity fitted to ``zb -> zq`` places inside the
    upload's frame (see :func:`coverage`); None without a fit."""
    fitted = _similarity(zb, zq)
    if fitted is None or not len(query):
        return None
    a, mb, mq = fitted
    placed = a * (banked.x.astype(np.float64) + 1j * banked.y.astype(np.float64) - mb) + mq
    x0, x1 = float(query.x.min()) - FRAME_MARGIN, float(query.x.max()) + FRAME_MARGIN
    y0, y1 = float(query.y.min()) - FRAME_MARGIN, float(query.y.max()) + FRAME_MARGIN
    inside: npt.NDArray[np.bool_] = (
        (placed.real >= x0) & (placed.real <= x1) & (placed.imag >= y0) & (placed.imag <= y1)
    )
    return inside


def spread_cells(
    banked: Keypoints, inside: npt.NDArray[np.bool_], zb: npt.NDArray[np.complex128]
) -> int:
    """How many cells of a :data:`SPREAD_GRID` grid hold a pair's banked place ``zb``; the
    grid covers the box of the banked keypoints marked ``inside`` (the part of the banked
    photo the upload shows)."""
    if not inside.any() or not len(zb):
        return 0
    xs, ys = banked.x[inside].astype(np.float64), banked.y[inside].astype(np.float64)
    cols = _cells(zb.real, float(xs.min()), float(xs.max()))
    rows = _cells(zb.imag, float(ys.min()), float(ys.max()))
    return len(np.unique(rows * SPREAD_GRID + cols))


def _cells(values: npt.NDArray[np.float64], low: float, high: float) -> npt.NDArray[np.int64]:
    step = max(high - low, 1e-9) / SPREAD_GRID
    out: npt.NDArray[np.int64] = np.clip(
        np.floor((values - low) / step), 0, SPREAD_GRID - 1
    ).astype(np.int64)
    return out


def _similarity(
    zb: npt.NDArray[np.complex128], zq: npt.NDArray[np.complex128]
) -> tuple[complex, complex, complex] | None:
    """The least-squares similarity ``zq ~ a (zb - mb) + mq`` of paired places (complex
    numbers) as ``(a, mb, mq)``; None for fewer than two places, or none apart."""
    if len(zb) < 2:
        return None
    mb, mq = zb.mean(), zq.mean()
    spread = np.vdot(zb - mb, zb - mb).real
    if spread <= 1e-12:
        return None
    a = np.vdot(zb - mb, zq - mq) / spread
    return None if a == 0 else (complex(a), complex(mb), complex(mq))


def _distinct(q_idx: npt.NDArray[np.intp], b_idx: npt.NDArray[np.intp], row: Any) -> int:
    return min(len(np.unique(q_idx[row])), len(np.unique(b_idx[row])))


def _refit(
    zb: npt.NDArray[np.complex128],
    zq: npt.NDArray[np.complex128],
    log_s: npt.NDArray[np.float64],
    turn: npt.NDArray[np.float64],
    row: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """The least-squares similarity of the pairs in ``row``: the pairs within
    :data:`FIT_TOLERANCE` of it (relative to its scale: a picture shown smaller shows its
    parallax smaller), and those within :data:`POSITION_TOLERANCE` (both with scale and angle
    agreeing)."""
    fitted = _similarity(zb[row], zq[row])
    if fitted is None:
        none = np.zeros_like(row)
        return none, none
    a, mb, mq = fitted
    agree = np.abs(log_s - np.log(np.abs(a))) < LOG_SCALE_TOLERANCE
    agree &= np.abs(np.angle(np.exp(1j * (turn - np.angle(a))))) < ANGLE_TOLERANCE
    miss = np.abs(a * (zb - mb) + mq - zq)
    fit: npt.NDArray[np.bool_] = agree & (miss < FIT_TOLERANCE * min(max(abs(a), 0.35), 1.0))
    near: npt.NDArray[np.bool_] = agree & (miss < POSITION_TOLERANCE * max(abs(a), 0.3))
    return fit, near


def match_inliers(query: Keypoints, banked: Keypoints, radius: int = CODE_RADIUS) -> int:
    """The inliers of the best transform between an upload's keypoints and a banked photo's,
    the upload taken as it is and mirrored."""
    best = 0
    if not len(query) or not len(banked):
        return 0
    for side in (query, query.mirrored()):
        q_idx, b_idx = np.nonzero(code_distances(side.codes, banked.codes) <= radius)
        best = max(best, inliers(side, banked, q_idx, b_idx))
    return best
