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

from hashwall.hashing.keypoint_verify import inliers

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
