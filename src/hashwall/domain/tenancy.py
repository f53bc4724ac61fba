"""The tenants: organisations, their platforms (with the policy that answers their checks),
and intake partners."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

from hashwall.domain.choices import require_choice
from hashwall.errors import InvalidInput

UnvouchedAnswer = Literal["review", "allow"]
UNVOUCHED_ANSWERS: tuple[UnvouchedAnswer, ...] = ("review", "allow")

#: The widest PDQ match radius a platform may choose (DESIGN.md, signals).
MAX_PDQ_THRESHOLD = 31


@dataclass(frozen=True, slots=True)
class Organisation:
    """A company; owns platforms. ``name`` is unique."""

    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PlatformPolicy:
    """How a platform's checks are answered (DESIGN.md, data model). Validated on creation."""

    pdq_threshold: int = MAX_PDQ_THRESHOLD
    reveal_distance: bool = False
    reveal_orientation: bool = False
    unvouched_answer: UnvouchedAnswer = "review"
    video_upload_percent: int = 50
    video_bank_percent: int = 50
    retention_days: int = 90

    def __post_init__(self) -> None:
        if not 0 <= self.pdq_threshold <= MAX_PDQ_THRESHOLD:
            raise InvalidInput(f"pdq_threshold must be from 0 to {MAX_PDQ_THRESHOLD}")
        require_choice("unvouched_answer", self.unvouched_answer, UNVOUCHED_ANSWERS)
        for name in ("video_upload_percent", "video_bank_percent"):
            if not 1 <= getattr(self, name) <= 100:
                raise InvalidInput(f"{name} must be from 1 to 100")
        if self.retention_days < 0:
            raise InvalidInput("retention_days must be 0 or more")

    def to_dict(self) -> dict[str, Any]:
        """The policy as a JSON object (for ``--json`` output and the API)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Platform:
    """A product of an organisation that checks uploads. ``name`` is unique."""

    id: int
    organisation_id: int
    name: str
    policy: PlatformPolicy
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Partner:
    """An intake partner (helpline, hotline). ``name`` is unique."""

    id: int
    name: str
    created_at: datetime
