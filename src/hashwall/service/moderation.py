"""The operator's decisions on content: quarantined items reinstated or deleted, live items
deleted, and the allowlist of images known not to be NCII."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hashwall.domain import Actor, AllowlistEntry, Item
from hashwall.errors import InvalidHash, InvalidInput, InvalidState, NotFound
from hashwall.hashing.signals import Signal, oriented_type
from hashwall.service.audit import (
    ALLOWLIST_ADDED,
    ALLOWLIST_REMOVED,
    ITEM_DELETED_ACTION,
    ITEM_REINSTATED_ACTION,
)
from hashwall.service.context import ServiceContext
from hashwall.service.operator import (
    check_limit,
    clean_reason,
    find_item,
    require_operator,
)
from hashwall.store.events import ITEM_DELETED, ITEM_REINSTATED
from hashwall.store.repo import Repository


@dataclass(frozen=True, slots=True)
class QuarantinedItem:
    """An item waiting for the operator, with what led there (no case data, no hash values)."""

    item_ref: str
    kind: str
    trust: str
    state: str
    csam: bool
    created_at: datetime
    state_changed_at: datetime | None
    not_ncii_verdicts: int
    not_ncii_organisations: int


@dataclass(frozen=True, slots=True)
class ItemStateChange:
    """The outcome of a quarantine decision: the item, its states before and after, the event."""

    item_ref: str
    previous_state: str
    state: str
    event_seq: int


@dataclass(frozen=True, slots=True)
class AllowlistInfo:
    """An allowlist entry (``id`` is the entry number used by ``allowlist remove``)."""

    id: int
    type: str
    value: str
    quality: int | None
    note: str | None
    created_at: datetime
    added: bool = False

    @classmethod
    def of(cls, entry: AllowlistEntry, *, added: bool = False) -> AllowlistInfo:
        """From a store row; ``added`` is True when this call created it."""
        return cls(
            id=entry.id,
            type=entry.type,
            value=entry.value,
            quality=entry.quality,
            note=entry.note,
            created_at=entry.created_at,
            added=added,
        )


def list_quarantine(
    ctx: ServiceContext, actor: Actor, *, limit: int = 100, after: str | None = None
) -> list[QuarantinedItem]:
    """Quarantined items, oldest first, paged by ``after`` (the last item ref of a page)."""
    require_operator(actor)
    check_limit(limit)
    with ctx.store.read() as repo:
        after_id = 0
        if after is not None:
            anchor = repo.get_item(after.strip())
            if anchor is None:
                raise NotFound(f"no item {after!r}")
            after_id = anchor.id
        queue = repo.list_items_by_state("quarantined", limit=limit, after_id=after_id)
        result = []
        for item in queue:
            not_ncii = repo.list_verdicts(item.id, verdict="not_ncii")
            result.append(
                QuarantinedItem(
                    item_ref=item.item_ref,
                    kind=item.kind,
                    trust=item.trust,
                    state=item.state,
                    csam=item.csam,
                    created_at=item.created_at,
                    state_changed_at=item.state_changed_at,
                    not_ncii_verdicts=len(not_ncii),
                    not_ncii_organisations=len({v.organisation_id for v in not_ncii}),
                )
            )
        return result


def reinstate_item(ctx: ServiceContext, actor: Actor, item_ref: str) -> ItemStateChange:
    """Return a quarantined item to ``active`` (it blocks again per its trust).

    Writes an ``item_reinstated`` event; ``invalid_state`` unless the item is quarantined.
    """
    require_operator(actor)
    with ctx.store.write() as repo:
        item = find_item(repo, item_ref)
        if item.state != "quarantined":
            raise InvalidState(f"item {item.item_ref} is {item.state}, not quarantined")
        updated = repo.set_item_state(item.id, "active")
        repo.add_audit(
            ITEM_REINSTATED_ACTION,
            actor_key_id=actor.key_id,
            target=item.item_ref,
            details={"previous_state": item.state},
        )
        event = repo.append_event(
            ITEM_REINSTATED, {"item": item.item_ref, "state": "active"}, item=updated
        )
    return ItemStateChange(item.item_ref, item.state, "active", event.seq)


def delete_quarantined_item(ctx: ServiceContext, actor: Actor, item_ref: str) -> ItemStateChange:
    """The operator's decision on a quarantined item: delete it (see :func:`delete_item`).

    ``invalid_state`` unless the item is quarantined: an active item is deleted only on purpose,
    with :func:`delete_item` and a reason (``hashwall item delete``).
    """
    require_operator(actor)
    with ctx.store.write() as repo:
        item = find_item(repo, item_ref)
        if item.state != "quarantined":
            raise InvalidState(
                f"item {item.item_ref} is {item.state}, not quarantined; to delete an item that "
                "is not quarantined use `hashwall item delete ITEM --reason ...`"
            )
        return delete_live_item(repo, actor, item)


def delete_item(
    ctx: ServiceContext, actor: Actor, item_ref: str, *, reason: str | None = None
) -> ItemStateChange:
    """Delete a live item (active or quarantined): state ``deleted``, hash values gone.

    ``reason`` (why an active item goes; at most 500 characters) is kept in the audit row.
    ``invalid_state`` if the item is already withdrawn or deleted.
    """
    require_operator(actor)
    details = {"reason": clean_reason(reason)} if reason is not None else None
    with ctx.store.write() as repo:
        return delete_live_item(repo, actor, find_item(repo, item_ref), details=details)


def delete_live_item(
    repo: Repository,
    actor: Actor,
    item: Item,
    *,
    action: str = ITEM_DELETED_ACTION,
    details: Mapping[str, Any] | None = None,
) -> ItemStateChange:
    """Delete a live item inside the caller's transaction: state ``deleted``, hashes gone.

    The item's signal rows (and, as on withdrawal, its exemptions and the upload hashes of its
    matches and verdicts) are deleted, an audit row ``action`` and an ``item_deleted`` event
    are written, and the values in its earlier events are erased. ``invalid_state`` if the
    item is already withdrawn or deleted (its values are gone already).
    """
    if not item.live:
        raise InvalidState(f"item {item.item_ref} is already {item.state}")
    updated = repo.set_item_state(item.id, "deleted")
    repo.erase_item_hashes(item.id)  # as for a withdrawal
    repo.add_audit(
        action,
        actor_key_id=actor.key_id,
        target=item.item_ref,
        details={"previous_state": item.state, **(details or {})},
    )
    event = repo.append_event(
        ITEM_DELETED, {"item": item.item_ref, "state": "deleted"}, item=updated
    )
    return ItemStateChange(item.item_ref, item.state, "deleted", event.seq)


def _parse_signal(raw: Signal | Mapping[str, Any]) -> Signal:
    return Signal.parse(raw.to_dict() if isinstance(raw, Signal) else raw)


def add_to_allowlist(
    ctx: ServiceContext,
    actor: Actor,
    signals: Sequence[Signal | Mapping[str, Any]],
    *,
    note: str | None = None,
    pdq_orientations: Sequence[str] = (),
) -> list[AllowlistInfo]:
    """Allowlist signals of an image known not to be NCII (refused at intake, never matched).

    ``pdq_orientations``: the image's 8 dihedral PDQ hashes (computed from the image: a PDQ
    hash alone does not give them). Each becomes a PDQ entry too, so that a rotated or mirrored
    copy is refused at intake and never answers ``block`` (a check of one PDQ, an item banked
    without orientations). Every signal is validated (:meth:`Signal.parse`, ``invalid_hash``)
    before anything is written. Idempotent: an entry already there is returned with ``added``
    False.
    """
    require_operator(actor)
    if not signals:
        raise InvalidInput("give at least one signal to allowlist")
    parsed = [_parse_signal(s) for s in signals]
    if pdq_orientations:
        kind = oriented_type()
        sent = next((s for s in parsed if kind is not None and s.type == kind.name), None)
        if kind is None or sent is None or len(pdq_orientations) != len(kind.orientations):
            name = kind.name if kind is not None else "oriented"
            count = len(kind.orientations) if kind is not None else 0
            raise InvalidHash(f"send all {count} orientation hashes with the image's {name} signal")
        for value in pdq_orientations:
            turned = Signal(kind.name, kind.canonical_degenerate(value), sent.quality)
            if turned not in parsed:
                parsed.append(turned)
    clean_note = note.strip() if note is not None else None
    if clean_note is not None and len(clean_note) > 500:
        raise InvalidInput("an allowlist note has at most 500 characters")
    result = []
    with ctx.store.write() as repo:
        for signal in parsed:
            existed = bool(repo.find_allowlisted(signal.type, [signal.value]))
            entry = repo.add_to_allowlist(signal, note=clean_note or None)
            if not existed:
                repo.add_audit(
                    ALLOWLIST_ADDED,
                    actor_key_id=actor.key_id,
                    target=f"allowlist:{entry.id}",
                    details={"type": entry.type},
                )
            result.append(AllowlistInfo.of(entry, added=not existed))
    return result


def list_allowlist(
    ctx: ServiceContext,
    actor: Actor,
    *,
    signal_type: str | None = None,
    limit: int = 100,
    after_id: int = 0,
) -> list[AllowlistInfo]:
    """Allowlist entries by entry id, paged by ``after_id``, of one signal type if given."""
    require_operator(actor)
    check_limit(limit)
    with ctx.store.read() as repo:
        entries = repo.list_allowlist(signal_type=signal_type, limit=limit, after_id=after_id)
        return [AllowlistInfo.of(e) for e in entries]


def remove_from_allowlist(ctx: ServiceContext, actor: Actor, entry_id: int) -> None:
    """Remove an allowlist entry by its id; ``not_found`` if there is none."""
    require_operator(actor)
    with ctx.store.write() as repo:
        repo.remove_from_allowlist(entry_id)
        repo.add_audit(ALLOWLIST_REMOVED, actor_key_id=actor.key_id, target=f"allowlist:{entry_id}")
