"""The operator's view of the audit log, and the actions it records (stable strings:
operators filter on them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from hashwall.domain import Actor, AuditEntry
from hashwall.service.context import ServiceContext
from hashwall.service.operator import check_limit, require_operator
from hashwall.store.repo import Repository

ORGANISATION_ADDED: Final = "organisation_added"
PLATFORM_ADDED: Final = "platform_added"
PLATFORM_POLICY_SET: Final = "platform_policy_set"
PARTNER_ADDED: Final = "partner_added"
API_KEY_CREATED: Final = "api_key_created"
API_KEY_REVOKED: Final = "api_key_revoked"
ITEM_REINSTATED_ACTION: Final = "item_reinstated"
ITEM_DELETED_ACTION: Final = "item_deleted"
ALLOWLIST_ADDED: Final = "allowlist_added"
ALLOWLIST_REMOVED: Final = "allowlist_removed"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit row: who, what, on what, when.

    ``actor`` names who acted as role and name: ``operator`` (the CLI on the store),
    ``admin:KEY_ID`` (an admin key), ``partner:NAME``, ``platform:NAME``, or ``reporter`` (the
    anonymous channel). ``actor_key_id`` is the key used (``None`` without a key).
    """

    id: int
    actor: str
    actor_key_id: str | None
    action: str
    target: str | None
    details: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, entry: AuditEntry, owners: Mapping[str, str] | None = None) -> AuditRecord:
        """From a store row; ``owners`` maps key ids to ``platform:NAME`` / ``partner:NAME``."""
        return cls(
            id=entry.id,
            actor=_actor_label(entry, owners or {}),
            actor_key_id=entry.actor_key_id,
            action=entry.action,
            target=entry.target,
            details=dict(entry.details),
            created_at=entry.created_at,
        )


def _actor_label(entry: AuditEntry, owners: Mapping[str, str]) -> str:
    key_id = entry.actor_key_id
    if key_id is not None and key_id in owners:
        return owners[key_id]
    role = entry.actor_role or ("operator" if key_id is None else "key")
    if role in ("operator", "reporter") or key_id is None:
        return role
    return f"{role}:{key_id}"  # an admin key, or a key whose owner is gone


def list_audit(
    ctx: ServiceContext,
    actor: Actor,
    *,
    limit: int = 100,
    before_id: int | None = None,
    actor_key_id: str | None = None,
    action: str | None = None,
) -> list[AuditRecord]:
    """Audit entries, newest first, paged by ``before_id``, filtered by key id and/or action."""
    require_operator(actor)
    check_limit(limit)
    with ctx.store.read() as repo:
        entries = repo.list_audit(
            limit=limit, before_id=before_id, actor_key_id=actor_key_id, action=action
        )
        owners = _key_owners(repo) if any(e.actor_key_id for e in entries) else {}
        return [AuditRecord.of(e, owners) for e in entries]


def _key_owners(repo: Repository) -> dict[str, str]:
    """``platform:NAME`` or ``partner:NAME`` of every key that has an owner, by key id."""
    platforms = {p.id: p.name for p in repo.list_platforms()}
    partners = {p.id: p.name for p in repo.list_partners()}
    owners = {}
    for key in repo.list_api_keys(include_revoked=True):
        if key.platform_id is not None and key.platform_id in platforms:
            owners[key.key_id] = f"platform:{platforms[key.platform_id]}"
        elif key.partner_id is not None and key.partner_id in partners:
            owners[key.key_id] = f"partner:{partners[key.partner_id]}"
    return owners
