"""Where the photo is inside an upload: the query side of matching through pads and frames.

A repost often puts the whole photo inside something else: a solid border, a blurred copy of
itself (story formats), a letterbox, white meme bars with text, a phone-app screenshot, or
turns it a few degrees on a black canvas. PDQ hashes the whole frame, so none of these match.
This module finds candidate rectangles of photo content in an upload (and undoes a small
rotation when the black corners give its angle away); each candidate is hashed with PDQ like
the upload itself and looked up in the same bank. Nothing new is banked: it works for every
photo banked with PDQ alone, and reveals nothing more than PDQ if the bank leaks.

Detection works on a sampled copy (longer side at most :data:`WORK_SIDE`); the boxes it finds
are then refined on the upload's pixels:

* **uniform surround** (:func:`_uniform_boxes`): the colour of each outermost line that is at
  least :data:`RING_SHARE` one colour is a background; pixels farther than :data:`COLOUR_TOL`
  from it are content. The box is the longest run of columns, then of rows (within those
  columns), whose share of content pixels is at least half the largest share: text and icons
  on a bar or a screenshot's chrome are sparse, the photo is dense. Its sides are then moved
  to the pixel line where that share reaches half.
* **blurred surround**, when the border lines have almost no pixel with a gradient above
  :data:`SHARP_GRAD` (a blurred, enlarged copy has no fine detail; the photo pasted on it
  does): lines with too few sharp pixels are cut from every side (:func:`_sharp_box`), and,
  as a second candidate, each side is put at the first line with a step that stands out from
  every step outside it (:func:`_step_box`: the edge of the pasted photo). Both are refined on
  the pixels to the line of the largest step.
* **small rotation on black** (:func:`_deskew`): on a black surround whose four corners are
  empty triangles of the same angle (0.5 to 20 degrees), the picture is turned back by that
  angle and its black surround removed.

A candidate within :data:`MIN_CHANGE` of the whole frame on every side is dropped (the upload's
own hash covers it), as is one smaller than :data:`MIN_SIDE_SHARE` of either side or
:data:`MIN_AREA_SHARE` of the area. What this cannot undo: a photo whose own background has
the surround's colour (an object on white inside white meme bars or a white app frame), crops,
and rotations whose corners were cut away.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image

from hashwall.hashing.pdq import PdqHash

if TYPE_CHECKING:
    from types import ModuleType

#: Longer side of the copy detection works on.
WORK_SIDE = 128
#: A pixel differs from the surround colour when a channel differs by more than this.
COLOUR_TOL = 28
#: The border ring must have at least this share of one colour to be a uniform surround.
RING_SHARE = 0.9
#: Gradient (grey levels per work pixel) above which a pixel counts as sharp.
SHARP_GRAD = 14.0
#: A blurred surround: at most this share of the border ring is sharp.
RING_SHARP_MAX = 0.02
#: A line of a blurred surround has less than this share of sharp pixels.
LINE_SHARP_MIN = 0.02
#: The step detector looks for a side within this share of the frame from it.
STEP_REACH = 0.3
#: ... and takes a line whose step (mean grey difference from its outer neighbour) is at
#: least STEP_MIN and this many times every step before it.
STEP_OUTLIER = 3.0
STEP_MIN = 6.0
#: A line (row or column) is content when its share is at least this part of the largest.
LINE_SHARE = 0.5
#: Gaps (in work pixels, as a share of the side) a run of content lines may jump.
GAP_SHARE = 0.03
#: A candidate must move at least one side by this share of the frame.
MIN_CHANGE = 0.04
#: A candidate keeps at least this share of each side, and of the area.
MIN_SIDE_SHARE = 0.1
MIN_AREA_SHARE = 0.04
#: Angles (degrees) the deskew tries; the corners say which.
MIN_ANGLE, MAX_ANGLE = 0.5, 20.0
#: Lines of surround the deskew steps over on each side before reading the corners.
EDGE_STEP = 3
#: The four corner triangles must agree on the angle within this many degrees.
ANGLE_AGREE = 1.5


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle of an image in its pixels: ``x0 <= x < x1``, ``y0 <= y < y1``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


@dataclass(frozen=True, slots=True)
class Candidate:
    """One place the photo may be: ``pixels`` to hash, ``full_size`` their full-resolution
    (height, width) for fast-mode PDQ, and ``kind`` (``uniform``, ``sharp``, ``deskew``)."""

    kind: str
    pixels: npt.NDArray[np.uint8]
    full_size: tuple[int, int]


@functools.cache
def _kernels() -> ModuleType:
    from hashwall.hashing import _contentbox_kernels

    return _contentbox_kernels


def _box(found: tuple[int, int, int, int]) -> Box | None:
    return None if found[0] < 0 else Box(*found)


def _small(rgb: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], float]:
    """Every f-th pixel of every f-th line, the longer side at most :data:`WORK_SIDE`, and the
    scale (work / pixels). Sampling, not averaging: boxes are found here and refined on the
    pixels."""
    h, w = rgb.shape[:2]
    f = max(1, math.ceil(max(h, w) / WORK_SIDE))
    return _kernels().sample(rgb, f), 1.0 / f


def _dense_box(small: npt.NDArray[np.uint8], colour: npt.NDArray[np.int16]) -> Box | None:
    """The rectangle where the pixels farther than :data:`COLOUR_TOL` from ``colour`` are
    dense: columns, then rows within them, then columns within those rows (see the module
    docstring)."""
    h, w = small.shape[:2]
    gap_x, gap_y = max(1, round(GAP_SHARE * w)), max(1, round(GAP_SHARE * h))
    c0, c1, c2 = (int(c) for c in colour)
    return _box(_kernels().dense_box(small, c0, c1, c2, COLOUR_TOL, gap_x, gap_y, LINE_SHARE))


def _uniform_boxes(small: npt.NDArray[np.uint8]) -> list[tuple[Box, npt.NDArray[np.int16]]]:
    """Each side colour's dense box, with that colour. A side's colour is the median of its
    outermost line when at least :data:`RING_SHARE` of that line is within
    :data:`COLOUR_TOL` of it; a colour is taken once."""
    boxes = []
    colours: npt.NDArray[np.int16] = _kernels().side_colours(small, COLOUR_TOL, RING_SHARE)
    for colour in colours:
        box = _dense_box(small, colour)
        if box is not None:
            boxes.append((box, colour))
    return boxes


def _grey(small: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    grey: npt.NDArray[np.float32] = small.astype(np.float32) @ np.array(
        [0.299, 0.587, 0.114], np.float32
    )
    return grey


def _sharp_box(grey: npt.NDArray[np.float32]) -> Box:
    """Lines with less than :data:`LINE_SHARP_MIN` sharp pixels cut from every side (twice)."""
    return Box(*_kernels().sharp_trim(grey, SHARP_GRAD, LINE_SHARP_MIN))


def _step_box(grey: npt.NDArray[np.float32]) -> Box:
    """On a blurred surround: each side at the first line, going in from the frame over at
    most :data:`STEP_REACH` of it, whose step from its outer neighbour is at least
    :data:`STEP_MIN` and :data:`STEP_OUTLIER` times every step before it (the photo pasted on
    its blurred copy); else the frame's own side."""
    h, w = grey.shape
    # rows[k]: the mean step from line k to k + 1
    rows, cols = _kernels().step_profiles(grey)

    def side(steps: npt.NDArray[np.float32], n: int, start: bool) -> int:
        reach = max(1, int(STEP_REACH * n))
        part = steps[:reach] if start else steps[::-1][:reach]
        outside = 1.0  # the largest step met so far, from the frame's side inwards
        for k, value in enumerate(part.tolist()):
            if value >= STEP_MIN and value >= STEP_OUTLIER * outside:
                return k + 1 if start else n - k - 1
            outside = max(outside, value)
        return 0 if start else n

    return Box(side(cols, w, True), side(rows, h, True), side(cols, w, False), side(rows, h, False))


def _ring_sharp_share(small: npt.NDArray[np.uint8]) -> float:
    """The share of sharp pixels along the border lines (a cheap test before the full one)."""
    if min(small.shape[:2]) < 4:
        return 1.0
    return float(_kernels().ring_sharp_share(small, SHARP_GRAD))


def _corner_angles(rgb: npt.NDArray[np.uint8]) -> list[float] | None:
    """The angle (degrees, signed: positive = turned anticlockwise) each empty corner triangle
    of a black surround gives (its legs read along the outermost lines of ``rgb``), or None
    when a corner is not such a triangle."""
    h, w = rgb.shape[:2]

    def dark(line: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
        result: npt.NDArray[np.bool_] = line.max(axis=1) <= COLOUR_TOL
        return result

    # A turned picture may leave a line or two of surround all round: step over it.
    t, b, lft, rgt = 0, h - 1, 0, w - 1
    for _ in range(EDGE_STEP):
        t += int(dark(rgb[t]).all() and t < b)
        b -= int(dark(rgb[b]).all() and b > t)
        lft += int(dark(rgb[:, lft]).all() and lft < rgt)
        rgt -= int(dark(rgb[:, rgt]).all() and rgt > lft)
    h, w = b - t + 1, rgt - lft + 1
    top, bottom = dark(rgb[t, lft : rgt + 1]), dark(rgb[b, lft : rgt + 1])
    left, right = dark(rgb[t : b + 1, lft]), dark(rgb[t : b + 1, rgt])
    out: list[float] = []
    # (the line along the top or bottom, the line along the left or right, that corner's sign)
    corners = (
        (top, left, 1.0),
        (top[::-1], right, -1.0),
        (bottom, left[::-1], -1.0),
        (bottom[::-1], right[::-1], 1.0),
    )
    for along_x, along_y, sign in corners:
        lx = int(np.argmin(along_x)) if not along_x.all() else w
        ly = int(np.argmin(along_y)) if not along_y.all() else h
        if lx < 2 or ly < 2:
            return None
        angle = math.degrees(math.atan2(min(lx, ly), max(lx, ly)))
        # A long leg along the top means the top side of the photo rises to the right.
        out.append(angle * (sign if lx >= ly else -sign))
    return out


def _consensus(angles: list[float]) -> float | None:
    """The median of the largest group of corner angles within range that agree (at least
    two corners), or None."""
    usable = sorted(a for a in angles if MIN_ANGLE <= abs(a) <= MAX_ANGLE)
    best: list[float] = []
    for a in usable:
        group = [b for b in usable if 0 <= b - a <= ANGLE_AGREE]
        if len(group) > len(best):
            best = group
    return float(np.median(best)) if len(best) >= 2 else None


def _deskew(
    rgb: npt.NDArray[np.uint8], small: npt.NDArray[np.uint8]
) -> npt.NDArray[np.uint8] | None:
    corners = small[[0, 0, -1, -1], [0, -1, 0, -1]]
    if corners.max() > COLOUR_TOL:
        return None
    angles = _corner_angles(rgb)
    if angles is None:
        return None
    angle = _consensus(angles)
    if angle is None:
        return None
    turned = Image.fromarray(rgb).rotate(
        -angle, Image.Resampling.BICUBIC, expand=True, fillcolor=(0, 0, 0)
    )
    back = np.asarray(turned)
    small_back, scale = _small(back)
    black = np.zeros(3, np.int16)
    box = _dense_box(small_back, black)
    if box is None:
        return None
    full = _refine(back, _to_pixels(box, scale, back.shape), black, round(1 / scale))
    # One pixel in from every side: the turned edges are soft.
    full = _inset(full, 1)
    return np.ascontiguousarray(back[full.y0 : full.y1, full.x0 : full.x1])


def _refine_step(rgb: npt.NDArray[np.uint8], box: Box, reach: int) -> Box:
    """``box`` with each side moved (by at most ``reach`` + 1 pixels) to the line of ``rgb``
    with the largest step from its outer neighbour (mean difference of green, close enough to
    luminance for an edge): where the photo was pasted on its blurred copy."""
    return Box(*_kernels().refine_step(rgb, box.x0, box.y0, box.x1, box.y1, reach))


def _refine(rgb: npt.NDArray[np.uint8], box: Box, colour: npt.NDArray[np.int16], reach: int) -> Box:
    """``box`` with each side moved (by at most ``reach`` + 1 pixels) to the outermost line of
    ``rgb`` whose share of pixels unlike ``colour`` is at least half the strip's largest."""
    c0, c1, c2 = (int(c) for c in colour)
    k = _kernels()
    found = k.refine(rgb, box.x0, box.y0, box.x1, box.y1, c0, c1, c2, COLOUR_TOL, reach, LINE_SHARE)
    return Box(*found)


def _inset(box: Box, n: int) -> Box:
    x0, y0 = box.x0 + n, box.y0 + n
    return Box(x0, y0, max(x0 + 1, box.x1 - n), max(y0 + 1, box.y1 - n))


def _to_pixels(box: Box, scale: float, shape: tuple[int, ...]) -> Box:
    h, w = shape[0], shape[1]
    return Box(
        max(0, math.floor(box.x0 / scale)),
        max(0, math.floor(box.y0 / scale)),
        min(w, math.ceil(box.x1 / scale)),
        min(h, math.ceil(box.y1 / scale)),
    )


def _worth_it(box: Box, w: int, h: int) -> bool:
    if box.width < MIN_SIDE_SHARE * w or box.height < MIN_SIDE_SHARE * h:
        return False
    if box.width * box.height < MIN_AREA_SHARE * w * h:
        return False
    moved = max(box.x0 / w, box.y0 / h, (w - box.x1) / w, (h - box.y1) / h)
    return moved >= MIN_CHANGE


def content_boxes(rgb: npt.NDArray[np.uint8]) -> list[tuple[str, Box]]:
    """Candidate rectangles of photo content in ``rgb`` (its pixels), without the whole frame,
    distinct, each with the detector that found it."""
    return _content_boxes(rgb, *_small(rgb))


def _content_boxes(
    rgb: npt.NDArray[np.uint8], small: npt.NDArray[np.uint8], scale: float
) -> list[tuple[str, Box]]:
    sh, sw = small.shape[:2]
    found: list[tuple[str, Box, npt.NDArray[np.int16] | None]] = [
        ("uniform", box, colour) for box, colour in _uniform_boxes(small)
    ]
    if _ring_sharp_share(small) <= RING_SHARP_MAX:
        grey = _grey(small)
        found.append(("sharp", _sharp_box(grey), None))
        found.append(("step", _step_box(grey), None))
    out: list[tuple[str, Box]] = []
    kept: list[Box] = []
    for kind, box, colour in found:
        if not _worth_it(box, sw, sh) or any(_same(box, other) for other in kept):
            continue
        kept.append(box)
        full = _to_pixels(box, scale, rgb.shape)
        if colour is not None and scale < 1.0:
            full = _refine(rgb, full, colour, round(1 / scale))
        elif colour is None:
            full = _refine_step(rgb, full, 2 * round(1 / scale))
        out.append((kind, full))
    return out


def _same(a: Box, b: Box) -> bool:
    return max(abs(a.x0 - b.x0), abs(a.y0 - b.y0), abs(a.x1 - b.x1), abs(a.y1 - b.y1)) <= 1


def candidates(
    rgb: npt.NDArray[np.uint8], full_size: tuple[int, int] | None = None
) -> list[Candidate]:
    """Every candidate of ``rgb`` to hash besides the whole upload (see the module docstring).

    ``full_size`` is the (height, width) of the full-resolution image when ``rgb`` is a
    reduced decode; each candidate's own full size is scaled alike.
    """
    h, w = rgb.shape[:2]
    fh, fw = full_size if full_size is not None else (h, w)
    out: list[Candidate] = []
    small, scale = _small(rgb)
    for kind, box in _content_boxes(rgb, small, scale):
        pixels = np.ascontiguousarray(rgb[box.y0 : box.y1, box.x0 : box.x1])
        size = (max(1, round(box.height * fh / h)), max(1, round(box.width * fw / w)))
        out.append(Candidate(kind, pixels, size))
    upright = _deskew(rgb, small)
    if upright is not None:
        uh, uw = upright.shape[:2]
        out.append(Candidate("deskew", upright, (round(uh * fh / h), round(uw * fw / w))))
    return out


def region_hashes(
    rgb: npt.NDArray[np.uint8], full_size: tuple[int, int] | None, min_quality: int
) -> list[tuple[PdqHash, ...]]:
    """The 8 dihedral fast-mode PDQ hashes of each candidate of ``rgb`` whose PDQ quality is
    at least ``min_quality``: what a check searches besides the upload's own hashes."""
    from hashwall.hashing.fast import pdq_fast

    out: list[tuple[PdqHash, ...]] = []
    for c in candidates(rgb, full_size):
        result = pdq_fast(c.pixels, dihedral=True, full_size=c.full_size)
        if result.quality >= min_quality and result.orientations:
            out.append(result.orientations)
    return out


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel of the detection now, on read-only
    and writable pixels alike, so that no check pays for it (a process that hashes under a
    memory limit calls this before setting it)."""
    rng = np.random.default_rng(0)
    coarse = Image.fromarray(rng.integers(0, 256, size=(18, 24, 3), dtype=np.uint8), "RGB")
    photo = coarse.resize((192, 144), Image.Resampling.BICUBIC)
    pad = Image.new("RGB", (240, 200), (0, 0, 0))
    pad.paste(photo, (24, 28))
    ramp = np.add.outer(np.arange(200), np.arange(240)) * 255 // 440  # smooth, not uniform
    blurred = Image.fromarray(np.repeat(ramp[..., None], 3, axis=2).astype(np.uint8), "RGB")
    blurred.paste(photo, (24, 28))
    turned = photo.rotate(6.0, Image.Resampling.BICUBIC, expand=True)
    for img in (pad, blurred, turned):
        candidates(np.asarray(img))
        candidates(np.array(img))
