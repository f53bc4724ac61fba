"""Where the picture is inside an uploaded video: the query side of matching through bars.

A repost often shrinks a video into the middle of a frame of another shape: black bars top and
bottom (letterbox) or left and right (pillarbox), a logo or text on the bars.
Per-frame PDQ hashes the whole frame, so none of the frames match the banked video. As for
photos (:mod:`hashwall.hashing.contentbox`), the upload's frames are hashed a second time
cropped to the rectangle of picture content, and both lists are searched; nothing new is
banked.

Unlike a photo, a video's bars do not move: :class:`BoxVote` runs contentbox's detection
(:func:`hashwall.hashing.contentbox.content_boxes`, its uniform-surround boxes only: the
blurred-surround detectors also fire on smooth pictures, on the edge of a logo) on up to
:data:`MAX_SAMPLES` hashed frames
spread over the whole video, and :meth:`BoxVote.box` keeps a rectangle only when at least
:data:`AGREE_SHARE` of the sampled frames found one within :data:`SIDE_TOL` of it on every
side (each side the median of those frames' sides). A dark frame, a fade or a frame whose
picture touches a bar finds no box or another one; it does not count for the box. A video
without bars has none (its own frames are searched as they are).

A logo (a channel's bug, a watermark) stamped on the picture does not move either, and a bright
one of a tenth of the width is enough to move every frame's PDQ hash past the threshold.
:class:`OverlayVote` looks at the brightness of the same sampled frames on a coarse grid (at
most :data:`OVERLAY_GRID` cells a side, each its centre pixel): cells that stay put (standard
deviation below :data:`OVERLAY_STILL`, in blobs: a cell still by chance is dropped; with marks
inside: :data:`OVERLAY_DETAIL`) in a picture that moves (the median cell above
:data:`OVERLAY_MOVING`) are an overlay when they cover at most :data:`OVERLAY_MAX_SHARE` of the
picture (more is a static shot, not a logo). The frames hashed for the box are then also filled
in there (:func:`fill_overlay`: a smooth blend of the pixels around it), so a picture with a
logo is hashed about as it was without one. Like the crop, this only makes a second list of the
upload's frames to search; nothing of it is banked.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from hashwall.hashing.contentbox import Box, content_boxes

__all__ = [
    "AGREE_SHARE",
    "KINDS",
    "MAX_SAMPLES",
    "SIDE_TOL",
    "BoxVote",
    "Overlay",
    "OverlayVote",
    "fill_overlay",
    "video_box",
]

T = TypeVar("T")

#: The contentbox detectors whose boxes vote (bars of one colour).
KINDS = ("uniform",)
#: Frames sampled at most; past it every other sample is dropped and the step doubles.
MAX_SAMPLES = 32
#: The share of sampled frames that must agree on the box.
AGREE_SHARE = 0.5
#: Two frames agree on a box when no side differs by more than this share of the frame.
SIDE_TOL = 0.03


@dataclass(slots=True)
class _Sampled:
    """Frames of one size spread over the whole video: every ``step``-th hashed frame, the step
    doubling (and every other sample dropped) when :data:`MAX_SAMPLES` are held."""

    step: int = 1
    seen: int = 0
    shape: tuple[int, int] | None = None

    def _wants(self, rgb: npt.NDArray[np.uint8]) -> bool:
        """Whether to sample this hashed frame (a stream whose size changes: only frames of
        the first size)."""
        index, self.seen = self.seen, self.seen + 1
        if index % self.step:
            return False
        h, w = rgb.shape[:2]
        if self.shape is None:
            self.shape = (h, w)
        return self.shape == (h, w)

    def _thinned(self, samples: list[T]) -> list[T]:
        """``samples``, every other one dropped and the step doubled when they are too many."""
        if len(samples) < MAX_SAMPLES:
            return samples
        self.step *= 2
        return samples[::2]


@dataclass(slots=True)
class BoxVote(_Sampled):
    """The boxes found in sampled frames of one video (feed it every hashed frame in order)."""

    samples: list[list[Box]] = field(default_factory=list)

    def add(self, rgb: npt.NDArray[np.uint8]) -> None:
        """Look at one hashed frame (only every ``step``-th is sampled)."""
        if self._wants(rgb):
            self.samples.append([box for kind, box in content_boxes(rgb) if kind in KINDS])
            self.samples = self._thinned(self.samples)

    def box(self) -> Box | None:
        """The box most sampled frames agree on, or None."""
        if not self.samples or self.shape is None:
            return None
        h, w = self.shape
        tol = (SIDE_TOL * w, SIDE_TOL * h)
        found = [b for boxes in self.samples for b in boxes]
        best: list[Box] = []
        for b in found:
            agreeing = [
                next((o for o in boxes if _near(b, o, tol)), None) for boxes in self.samples
            ]
            kept = [o for o in agreeing if o is not None]
            if len(kept) > len(best):
                best = kept
        if not best or len(best) < AGREE_SHARE * len(self.samples):
            return None
        return Box(
            round(statistics.median(b.x0 for b in best)),
            round(statistics.median(b.y0 for b in best)),
            round(statistics.median(b.x1 for b in best)),
            round(statistics.median(b.y1 for b in best)),
        )


def _near(a: Box, b: Box, tol: tuple[float, float]) -> bool:
    tx, ty = tol
    return (
        abs(a.x0 - b.x0) <= tx
        and abs(a.x1 - b.x1) <= tx
        and abs(a.y0 - b.y0) <= ty
        and abs(a.y1 - b.y1) <= ty
    )


def video_box(frames: list[npt.NDArray[np.uint8]]) -> Box | None:
    """The box of picture content most of ``frames`` (a video's, in order) agree on, or None."""
    vote = BoxVote()
    for frame in frames:
        vote.add(frame)
    return vote.box()


#: The longest side of the grid (cells) on which :class:`OverlayVote` looks for an overlay.
OVERLAY_GRID = 160
#: A cell whose brightness (0-255) varies less than this over the sampled frames stays put.
OVERLAY_STILL = 12.0
#: ...and is an overlay only when the median cell of the picture varies at least this much.
OVERLAY_MOVING = 20.0
#: ...and has marks: its brightness (averaged over the frames) varies at least this much.
OVERLAY_DETAIL = 30.0
#: The most of the picture an overlay may cover (a larger still part is the shot itself).
OVERLAY_MAX_SHARE = 0.10
#: Sampled frames needed before cells are told apart.
OVERLAY_MIN_SAMPLES = 6


_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Overlay:
    """Where a static overlay is, as a mask of a frame (or of its box: ``mask`` is in the
    coordinates of the pixels :func:`fill_overlay` is given)."""

    mask: npt.NDArray[np.bool_]

    @property
    def share(self) -> float:
        """The share of the pixels it covers."""
        return float(self.mask.mean())


@dataclass(slots=True)
class OverlayVote(_Sampled):
    """The brightness of sampled frames on a coarse grid (feed it every hashed frame)."""

    samples: list[npt.NDArray[np.float32]] = field(default_factory=list)

    @property
    def cell(self) -> int:
        """Pixels a side of a grid cell."""
        return 1 if self.shape is None else max(1, -(-max(self.shape) // OVERLAY_GRID))

    def add(self, rgb: npt.NDArray[np.uint8]) -> None:
        """Look at one hashed frame (only every ``step``-th is sampled)."""
        if not self._wants(rgb):
            return
        h, w = rgb.shape[:2]
        c = self.cell
        if h // c == 0 or w // c == 0:
            return
        centres = rgb[c // 2 : (h // c) * c : c, c // 2 : (w // c) * c : c].astype(np.float32)
        self.samples.append(centres @ _LUMA)  # each cell's centre pixel: cheap at any size
        self.samples = self._thinned(self.samples)

    def overlay(self, box: Box | None = None) -> Overlay | None:
        """The static overlay inside ``box`` (the whole frame when None), in the box's pixel
        coordinates, or None: too few frames, a picture that does not move, nothing still,
        or too much still (see the module docstring)."""
        if len(self.samples) < OVERLAY_MIN_SAMPLES or self.shape is None:
            return None
        h, w = self.shape
        box = box or Box(0, 0, w, h)
        c = self.cell
        std = np.stack(self.samples).std(axis=0)
        gy0, gx0 = -(-box.y0 // c), -(-box.x0 // c)  # cells wholly inside the box
        gy1, gx1 = min(box.y1 // c, std.shape[0]), min(box.x1 // c, std.shape[1])
        inside = std[gy0:gy1, gx0:gx1]
        if inside.size == 0 or float(np.median(inside)) < OVERLAY_MOVING:
            return None
        still = _grow(_shrink(inside < OVERLAY_STILL))  # blobs, not cells still by chance
        share = float(still.mean())
        if share == 0.0 or share > OVERLAY_MAX_SHARE:
            return None
        # A logo has marks (letters, a plate's edge); a plain patch the shot pans over has not.
        mean = np.stack(self.samples).mean(axis=0)[gy0:gy1, gx0:gx1]
        if float(mean[_grow(still)].std()) < OVERLAY_DETAIL:
            return None
        still = _grow(still)  # the overlay's edge blurs into the cells around it
        cells = np.zeros((-(-h // c), -(-w // c)), dtype=bool)
        cells[gy0:gy1, gx0:gx1] = still
        full = np.repeat(np.repeat(cells, c, axis=0), c, axis=1)[:h, :w]
        return Overlay(np.ascontiguousarray(full[box.y0 : box.y1, box.x0 : box.x1]))


def _shrink(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The cells of ``mask`` whose 4-neighbours are all in it too."""
    out = mask.copy()
    out[1:] &= mask[:-1]
    out[:-1] &= mask[1:]
    out[:, 1:] &= mask[:, :-1]
    out[:, :-1] &= mask[:, 1:]
    out[0], out[-1], out[:, 0], out[:, -1] = mask[0], mask[-1], mask[:, 0], mask[:, -1]
    return out


def _grow(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """``mask`` and its 4-neighbours."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def fill_overlay(rgb: npt.NDArray[np.uint8], overlay: Overlay) -> npt.NDArray[np.uint8]:
    """``rgb`` with the overlay's pixels replaced by a smooth blend of the pixels around it:
    in the overlay's bounding rectangle (one pixel wider on each side), the mean of the
    row's blend from its left edge to its right edge and the column's from top to bottom."""
    mask = overlay.mask
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"an overlay of {mask.shape} for a frame of {rgb.shape[:2]}")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return rgb
    h, w = mask.shape
    y0, y1 = max(0, int(rows[0]) - 1), min(h - 1, int(rows[-1]) + 1)
    x0, x1 = max(0, int(cols[0]) - 1), min(w - 1, int(cols[-1]) + 1)
    region = rgb[y0 : y1 + 1, x0 : x1 + 1].astype(np.float32)
    rh, rw = region.shape[:2]
    t = np.linspace(0.0, 1.0, rw, dtype=np.float32)[None, :, None]
    s = np.linspace(0.0, 1.0, rh, dtype=np.float32)[:, None, None]
    across = region[:, :1] * (1 - t) + region[:, -1:] * t
    down = region[:1] * (1 - s) + region[-1:] * s
    blend = (across + down) / 2
    out = rgb.copy()
    inside = mask[y0 : y1 + 1, x0 : x1 + 1]
    out[y0 : y1 + 1, x0 : x1 + 1][inside] = np.clip(blend[inside], 0, 255).astype(np.uint8)
    return out
