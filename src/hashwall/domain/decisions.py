"""What checks and reviewers decide: a match recorded for a non-allow answer, a reviewer's
verdict on it, and the exemption a ``not_ncii`` verdict leaves behind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

#: A check's answer when it is not ``allow`` (the answers that leave a match record).
Decision = Literal["review", "block"]
VerdictKind = Literal["confirmed", "not_ncii", "csam"]

DECISIONS: tuple[Decision, ...] = ("review", "block")
VERDICTS: tuple[VerdictKind, ...] = ("confirmed", "not_ncii", "csam")


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """One non-allow answer of a check for one item on one platform, as recorded.

    (Not :class:`hashwall.index.base.Match`, which is one hit of an index search.)
    """

    id: int
    match_ref: str
    check_id: str
    platform_id: int
    item_id: int
    signal_type: str | None
    distance: int | None
    orientation: str | None
    decision: Decision
    upload_pdq: str | None
    upload_sha256: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Verdict:
    """A platform reviewer's verdict on an item (``match_id`` None once the match expired)."""

    id: int
    match_id: int | None
    item_id: int
    platform_id: int
    organisation_id: int
    verdict: VerdictKind
    upload_pdq: str | None
    upload_sha256: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Exemption:
    """An upload (by PDQ and/or sha256) that no longer matches an item on a platform."""

    id: int
    platform_id: int
    item_id: int
    verdict_id: int | None
    upload_pdq: str | None
    upload_sha256: str | None
    created_at: datetime
