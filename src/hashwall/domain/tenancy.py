"""The tenants: organisations, their platforms (with the policy that answers their checks),
and intake partners."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

from hashwall.domain.choices import require_choice
from hashwall.errors import InvalidInput

UnvouchedAnswer = Literal["review", "allow"]
UNVOUCHED_ANSWERS: tuple[UnvouchedAnswer, ...] = ("review", "allow")

#: No signal type's radius can pass its code's length (256 bits, the widest index code); each
#: type sets its own, narrower, range (``hashing/signals``; the service checks it).
MAX_RADIUS = 256


@dataclass(frozen=True, slots=True)
class Organisation:
    """A company; owns platforms. ``name`` is unique."""

    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PlatformPolicy:
    """How a platform's checks are answered (DESIGN.md, data model). Validated on creation.

    ``thresholds``: the platform's match radius per signal type (``{"pdq": 31}``); a type it
    does not name gets that type's default. Which types take a radius, and up to what, is the
    types' to say (the service validates changes against them).
    """

    thresholds: Mapping[str, int] = field(default_factory=dict)
    reveal_distance: bool = False
    reveal_orientation: bool = False
    unvouched_answer: UnvouchedAnswer = "review"
    video_upload_percent: int = 50
    video_bank_percent: int = 50
    retention_days: int = 90

    def __post_init__(self) -> None:
        radii = self.thresholds
        if not isinstance(radii, Mapping) or not all(
            isinstance(name, str)
            and isinstance(radius, int)
            and not isinstance(radius, bool)
            and 0 <= radius <= MAX_RADIUS
            for name, radius in radii.items()
        ):
            raise InvalidInput(
                f"thresholds maps signal types to radii (integers from 0 to {MAX_RADIUS})"
            )
        object.__setattr__(self, "thresholds", dict(radii))  # a copy: nobody else changes it
        require_choice("unvouched_answer", self.unvouched_answer, UNVOUCHED_ANSWERS)
        for name in ("video_upload_percent", "video_bank_percent"):
            if not 1 <= getattr(self, name) <= 100:
                raise InvalidInput(f"{name} must be from 1 to 100")
        if self.retention_days < 0:
            raise InvalidInput("retention_days must be 0 or more")

    def to_dict(self) -> dict[str, Any]:
        """The policy as a JSON object (for ``--json`` output and the API)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["thresholds"] = dict(self.thresholds)
        return out


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
