"""Checks: one upload, or a batch of them, answered ``allow``, ``review`` or ``block``."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from hashwall.wire.base import (
    MAX_BATCH,
    MAX_REGIONS,
    MAX_SIGNALS,
    ApiModel,
    Orientations,
    ResponseModel,
)
from hashwall.wire.signals import Frames, SignalIn


class CheckIn(ApiModel):
    """One upload's signals; ``pdq_orientations``: its 8 dihedral PDQ hashes, if computed;
    ``pdq_regions``: the 8 of each place the photo may be inside the upload (a border, bars or
    an app frame removed), if computed (``hashwall.hashing.contentbox``).

    A video: ``kind: "video"`` and its ``frames`` (each hashed frame, in order), and
    ``mirror_frames`` (the same frames mirrored left to right) if computed; ``signals`` (the
    file's md5/sha256, and an animated GIF/PNG/WebP's first frame as a ``pdq``, with its
    ``pdq_orientations``) may then be empty. ``box_frames`` (and ``box_mirror_frames``, when
    ``mirror_frames`` come): the same sampled frames cropped to the picture inside constant
    bars (letterbox, pillarbox), if the upload has bars; searched beside the frames."""

    kind: Literal["image", "video"] = "image"
    signals: Annotated[list[SignalIn], Field(max_length=MAX_SIGNALS)]
    pdq_orientations: Orientations | None = None
    pdq_regions: Annotated[list[Orientations], Field(max_length=MAX_REGIONS)] | None = None
    frames: Frames | None = None
    mirror_frames: Frames | None = None
    box_frames: Frames | None = None
    box_mirror_frames: Frames | None = None

    @model_validator(mode="after")
    def _something_to_check(self) -> Self:
        if not self.signals and self.frames is None:
            raise ValueError("send at least one signal of the upload (or a video's frames)")
        if self.frames is not None and self.kind != "video":
            raise ValueError('frames come with "kind": "video"')
        if self.box_frames is not None and self.frames is None:
            raise ValueError("box_frames come with the video's frames")
        return self


class TimeRangeOut(ResponseModel):
    """A stretch of a video, in seconds from its start."""

    start: float
    end: float


class VideoRangesOut(ResponseModel):
    """The matched stretches of the upload and of the banked video."""

    upload: list[TimeRangeOut]
    banked: list[TimeRangeOut]


class CheckMatchOut(ResponseModel):
    """A banked item behind a non-allow answer: its match ref (for verdicts), never the item's
    own ref (a platform learns nothing about the bank from its answers).

    ``distance`` and ``orientation`` are present only where the platform's policy reveals them;
    for a video, the two shares and the matched ``ranges`` where it reveals distances.
    """

    match_ref: str
    decision: Literal["review", "block"]
    signal_type: str
    distance: int | None = None
    orientation: str | None = None
    upload_frames_matched_pct: float | None = Field(
        None, description="A video: the share of the upload's distinct frames found in the bank."
    )
    banked_frames_matched_pct: float | None = Field(
        None, description="A video: the share of the banked video's frames found in the upload."
    )
    ranges: VideoRangesOut | None = None


class CheckOut(ResponseModel):
    """The answer for one upload: ``allow``, ``review`` or ``block``, and why.

    ``reason``: ``match``, ``no_match`` (nothing more is said about why) or ``low_quality``.
    """

    check_id: str
    decision: Literal["allow", "review", "block"]
    reason: Literal["match", "no_match", "low_quality"]
    matches: list[CheckMatchOut]


class BatchCheckIn(ApiModel):
    """``POST /v1/check/batch``: 1 to 100 uploads, each answered on its own."""

    uploads: Annotated[list[CheckIn], Field(min_length=1, max_length=MAX_BATCH)]


class BatchError(ResponseModel):
    """Why one upload of a batch could not be checked (the others still were)."""

    code: str
    status: int
    detail: str


class BatchCheckResult(ResponseModel):
    """Upload ``index``'s answer, or its error."""

    index: int
    result: CheckOut | None = None
    error: BatchError | None = None


class BatchCheckOut(ResponseModel):
    """One result per upload, in request order."""

    results: list[BatchCheckResult]
