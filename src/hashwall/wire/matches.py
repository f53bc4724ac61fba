"""A platform's matches: the pending ones, and a reviewer's verdict on one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from hashwall.wire.base import ApiModel, ResponseModel

VerdictKind = Literal["confirmed", "not_ncii", "csam"]


class VerdictIn(ApiModel):
    """A reviewer's verdict on a match, with the upload's PDQ and/or sha256.

    ``not_ncii`` needs at least one of them (it exempts that upload on this platform).
    """

    verdict: VerdictKind
    upload_pdq: Annotated[str, Field(max_length=64)] | None = None
    upload_sha256: Annotated[str, Field(max_length=64)] | None = None


class VerdictOut(ResponseModel):
    """Whether the verdict was recorded (false: the item has left the bank meanwhile)."""

    match_ref: str
    verdict: VerdictKind
    recorded: bool


class PendingMatchOut(ResponseModel):
    """``GET /v1/matches?state=pending``: one of the platform's matches awaiting its verdict.

    ``distance`` and ``orientation`` appear only where the platform's policy reveals them.
    """

    match_ref: str
    check_id: str
    decision: Literal["review", "block"]
    created_at: datetime
    distance: int | None = None
    orientation: str | None = None
