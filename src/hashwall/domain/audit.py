"""The audit trail: every state change and every feed read, with who did it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited action: who (role, and key id: None without a key), what, on what."""

    id: int
    actor_key_id: str | None
    action: str
    target: str | None
    details: dict[str, Any]
    created_at: datetime
    actor_role: str | None = None
