"""The allowlist: signals of images known not to be NCII."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class AllowlistEntry:
    """A signal of an image known not to be NCII: refused at intake, never matched."""

    id: int
    type: str
    value: str
    quality: int | None
    note: str | None
    created_at: datetime
