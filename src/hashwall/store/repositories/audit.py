"""The audit trail: every state change and feed read, with the acting key and role."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from hashwall.domain import AuditEntry
from hashwall.store.repositories.base import RepositoryBase
from hashwall.store.tables import api_keys, audit


class AuditRepository(RepositoryBase):
    """Writes and reads of audit entries."""

    def add_audit(
        self,
        action: str,
        *,
        actor_key_id: str | None = None,
        target: str | None = None,
        details: Mapping[str, Any] | None = None,
        actor_role: str | None = None,
    ) -> AuditEntry:
        """Record an action and who took it.

        ``actor_role``: the acting role; when not given, the role of ``actor_key_id`` (read in
        the same statement), or ``operator`` (directly on the store) without a key. The
        anonymous channel passes ``reporter``.
        """
        role: Any = actor_role
        if role is None:
            role = (
                select(api_keys.c.role).where(api_keys.c.key_id == actor_key_id).scalar_subquery()
                if actor_key_id is not None
                else "operator"
            )
        return self._insert(
            audit,
            AuditEntry,
            actor_key_id=actor_key_id,
            actor_role=role,
            action=action,
            target=target,
            details=dict(details or {}),
            created_at=self.clock(),
        )

    def list_audit(
        self,
        *,
        limit: int = 100,
        before_id: int | None = None,
        actor_key_id: str | None = None,
        action: str | None = None,
    ) -> list[AuditEntry]:
        """Audit entries, newest first, paged by ``before_id``, optionally filtered."""
        stmt = select(audit).order_by(audit.c.id.desc()).limit(limit)
        if before_id is not None:
            stmt = stmt.where(audit.c.id < before_id)
        if actor_key_id is not None:
            stmt = stmt.where(audit.c.actor_key_id == actor_key_id)
        if action is not None:
            stmt = stmt.where(audit.c.action == action)
        return self._all(AuditEntry, stmt)
