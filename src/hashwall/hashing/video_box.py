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
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hashwall.hashing.contentbox import Box, content_boxes

__all__ = ["AGREE_SHARE", "KINDS", "MAX_SAMPLES", "SIDE_TOL", "BoxVote", "video_box"]

#: The contentbox detectors whose boxes vote (bars of one colour).
KINDS = ("uniform",)
#: Frames sampled at most; past it every other sample is dropped and the step doubles.
MAX_SAMPLES = 32
#: The share of sampled frames that must agree on the box.
AGREE_SHARE = 0.5
#: Two frames agree on a box when no side differs by more than this share of the frame.
SIDE_TOL = 0.03


@dataclass(slots=True)
class BoxVote:
    """The boxes found in sampled frames of one video (feed it every hashed frame in order)."""

    step: int = 1
    seen: int = 0
    shape: tuple[int, int] | None = None
    samples: list[list[Box]] = field(default_factory=list)

    def add(self, rgb: npt.NDArray[np.uint8]) -> None:
        """Look at one hashed frame (only every ``step``-th is sampled)."""
        index, self.seen = self.seen, self.seen + 1
        if index % self.step:
            return
        h, w = rgb.shape[:2]
        if self.shape is None:
            self.shape = (h, w)
        elif self.shape != (h, w):
            return  # a stream whose size changes: only frames of the first size vote
        self.samples.append([box for kind, box in content_boxes(rgb) if kind in KINDS])
        if len(self.samples) >= MAX_SAMPLES:
            self.samples = self.samples[::2]
            self.step *= 2

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
