"""A platform's matching policy: as the feed and the operator see it, and changes to it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt

from hashwall.wire.base import ApiModel, ResponseModel


class PolicyOut(ResponseModel):
    """A platform's matching policy: ``thresholds``, the match radius of every signal type
    matched by distance; ``pdq_threshold``, PDQ's, as before per-type radii."""

    thresholds: dict[str, int]
    pdq_threshold: int
    reveal_distance: bool
    reveal_orientation: bool
    unvouched_answer: Literal["review", "allow"]
    video_upload_percent: int
    video_bank_percent: int
    retention_days: int


class PolicyChanges(ApiModel):
    """Changes to a platform's policy; fields left out keep their value. ``thresholds`` sets
    the radius of the signal types it names (each within its type's range);
    ``pdq_threshold`` is PDQ's, as before per-type radii."""

    thresholds: dict[str, StrictInt] | None = None
    pdq_threshold: Annotated[StrictInt, Field(ge=0, le=31)] | None = None
    reveal_distance: StrictBool | None = None
    reveal_orientation: StrictBool | None = None
    unvouched_answer: Literal["review", "allow"] | None = None
    video_upload_percent: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    video_bank_percent: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    retention_days: Annotated[StrictInt, Field(ge=0, le=36_500)] | None = None
