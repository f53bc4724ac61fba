"""The feed: a platform's copy of the bank, a snapshot then the event log, page by page."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict

from hashwall.wire.base import ResponseModel
from hashwall.wire.policy import PolicyOut
from hashwall.wire.signals import SignalOut


class FeedItemOut(ResponseModel):
    """A live item of the snapshot, with everything needed to match it locally."""

    item: str
    kind: str
    trust: str
    state: str
    signals: list[SignalOut]


class FeedEventOut(ResponseModel):
    """One event of the log; besides these fields, those of its type (``signals``, ...)."""

    model_config = ConfigDict(extra="allow")

    seq: int
    type: str
    item: str | None
    created_at: datetime


class FeedPageOut(ResponseModel):
    """One page of the feed: snapshot items and/or events, and the cursor for the next call."""

    platform: str
    policy: PolicyOut
    phase: Literal["snapshot", "events"]
    snapshot_seq: int | None
    items: list[FeedItemOut]
    events: list[FeedEventOut]
    cursor: str
    more: bool
    head_seq: int

    def wire(self) -> dict[str, Any]:
        """The page as the service sent it (JSON types), e.g. for ``FeedMirror.apply``."""
        return self.model_dump(mode="json")
