"""Checks: one upload, or a batch of them, answered ``allow``, ``review`` or ``block``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from hashwall.wire.base import MAX_BATCH, MAX_SIGNALS, ApiModel, Orientations, ResponseModel
from hashwall.wire.signals import SignalIn


class CheckIn(ApiModel):
    """One upload's signals; ``pdq_orientations``: its 8 dihedral PDQ hashes, if computed."""

    signals: Annotated[list[SignalIn], Field(min_length=1, max_length=MAX_SIGNALS)]
    pdq_orientations: Orientations | None = None


class CheckMatchOut(ResponseModel):
    """A banked item behind a non-allow answer: its match ref (for verdicts), never the item's
    own ref (a platform learns nothing about the bank from its answers).

    ``distance`` and ``orientation`` are present only where the platform's policy reveals them.
    """

    match_ref: str
    decision: Literal["review", "block"]
    signal_type: str
    distance: int | None = None
    orientation: str | None = None


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
