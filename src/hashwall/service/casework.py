"""The operator's work on one person's case: look it up, erase it on request; the csam queue.

- :func:`find_case`: a case by its number, with each item's kind, trust, state, csam flag and
  how many matches and verdicts it has; never a hash value and never the PIN.
- :func:`erase_case`: a person asked the service to erase their case (by letter, at a partner,
  through a helpline). Every item still in the bank is deleted (hash values erased everywhere,
  as for a withdrawal, with ``item_deleted`` events), the case is closed and marked removed, and
  one ``case_erased`` audit row keeps the operator's reason. The person's status then says the
  service removed the case. Idempotent: erasing an erased case changes nothing.
- :func:`delete_active_item`: deleting one item that is not quarantined, on purpose, with a
  reason (``quarantine delete`` only takes quarantined items).
- :func:`list_csam`: items a platform's reviewer flagged ``csam``, for the operator's legal
  duties.

Each takes the :class:`~hashwall.service.context.ServiceContext` and the acting
:class:`~hashwall.service.context.Actor` (the operator, or an ``admin`` key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from hashwall.domain import Actor, Case, Item
from hashwall.errors import InvalidInput, NotFound
from hashwall.service.context import ServiceContext
from hashwall.service.moderation import ItemStateChange, delete_item, delete_live_item
from hashwall.service.operator import MAX_LIST_LIMIT, clean_reason, require_operator
from hashwall.store.repo import Repository

#: Audit actions (stable strings).
CASE_ERASED: Final = "case_erased"
ITEM_ERASED: Final = "item_erased"


@dataclass(frozen=True, slots=True)
class CaseItemRecord:
    """One item of a case as the operator sees it: no hash values."""

    item_ref: str
    kind: str
    trust: str
    state: str
    csam: bool
    created_at: datetime
    state_changed_at: datetime | None
    matches: int
    verdicts: dict[str, int]


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """A case as the operator sees it: channel, filing partner, status, items."""

    case_number: str
    channel: str
    partner: str | None
    status: str
    created_at: datetime
    withdrawn_at: datetime | None
    removed_at: datetime | None
    items: tuple[CaseItemRecord, ...]


@dataclass(frozen=True, slots=True)
class CaseErasure:
    """What erasing a case did: the items deleted now, and whether it had been erased before."""

    case_number: str
    deleted_items: tuple[str, ...]
    already_removed: bool
    removed_at: datetime | None


@dataclass(frozen=True, slots=True)
class FlaggedItem:
    """An item flagged ``csam`` by a reviewer: what the operator needs, no hash values."""

    item_ref: str
    case_number: str
    kind: str
    trust: str
    state: str
    created_at: datetime
    csam_verdicts: int
    platforms: tuple[str, ...]
    first_flagged_at: datetime | None


def case_status_name(case: Case) -> str:
    """``removed`` for a case the operator erased, else the stored status."""
    return "removed" if case.removed_at is not None else case.status


def _case(repo: Repository, case_number: str) -> Case:
    case = repo.get_case(case_number) if isinstance(case_number, str) else None
    if case is None:
        raise NotFound(f"no case {case_number!r} (a case number looks like HW-7K2D-Q9XM-4TRB)")
    return case


def find_case(ctx: ServiceContext, actor: Actor, case_number: str) -> CaseRecord:
    """A case by its number: its items' states, trust, csam flags, match and verdict counts."""
    require_operator(actor)
    with ctx.store.read() as repo:
        case = _case(repo, case_number)
        partner = repo.get_partner_by_id(case.partner_id) if case.partner_id is not None else None
        rows = repo.list_items(case.id)
        ids = [i.id for i in rows]
        match_counts = repo.count_matches(ids)
        verdict_counts = repo.count_verdicts(ids)
    return CaseRecord(
        case_number=case.case_number,
        channel=case.channel,
        partner=partner.name if partner is not None else None,
        status=case_status_name(case),
        created_at=case.created_at,
        withdrawn_at=case.withdrawn_at,
        removed_at=case.removed_at,
        items=tuple(_item_record(i, match_counts, verdict_counts) for i in rows),
    )


def _item_record(
    item: Item, match_counts: dict[int, int], verdict_counts: dict[int, dict[str, int]]
) -> CaseItemRecord:
    return CaseItemRecord(
        item_ref=item.item_ref,
        kind=item.kind,
        trust=item.trust,
        state=item.state,
        csam=item.csam,
        created_at=item.created_at,
        state_changed_at=item.state_changed_at,
        matches=match_counts.get(item.id, 0),
        verdicts=verdict_counts.get(item.id, {}),
    )


def erase_case(ctx: ServiceContext, actor: Actor, case_number: str, *, reason: str) -> CaseErasure:
    """Erase a case on the person's request: its live items deleted, the case marked removed.

    In one transaction: each ``active`` or ``quarantined`` item is deleted as the quarantine's
    delete does (hash values erased, ``item_deleted`` event); the case is closed and
    ``removed_at`` set; one ``case_erased`` audit row holds ``reason`` (no personal data: a
    ticket number, "the person's request by letter"). The case row (its number and PIN hash)
    stays so that the person's status can say the service removed it.
    """
    require_operator(actor)
    why = clean_reason(reason)
    with ctx.store.write() as repo:
        case = _case(repo, case_number)
        if case.removed_at is not None:
            return CaseErasure(case.case_number, (), True, case.removed_at)
        deleted: list[str] = []
        for listed in repo.list_items(case.id):
            item = repo.get_item_by_id(listed.id, for_update=True)
            if item is not None and item.live:
                change = delete_live_item(
                    repo, actor, item, action=ITEM_ERASED, details={"case": case.case_number}
                )
                deleted.append(change.item_ref)
        removed = repo.remove_case(case.id)
        repo.add_audit(
            CASE_ERASED,
            actor_key_id=actor.key_id,
            target=case.case_number,
            details={"reason": why, "deleted_items": len(deleted)},
        )
    return CaseErasure(case.case_number, tuple(deleted), False, removed.removed_at)


def delete_active_item(
    ctx: ServiceContext, actor: Actor, item_ref: str, *, reason: str
) -> ItemStateChange:
    """Delete one live item (active or quarantined) on purpose; the reason goes to the audit."""
    return delete_item(ctx, actor, item_ref, reason=reason)


def list_csam(
    ctx: ServiceContext, actor: Actor, *, limit: int = 100, after: str | None = None
) -> list[FlaggedItem]:
    """Items flagged ``csam``, oldest first, paged by ``after`` (the last item ref of a page)."""
    require_operator(actor)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidInput(f"limit must be from 1 to {MAX_LIST_LIMIT}")
    with ctx.store.read() as repo:
        after_id = 0
        if after is not None:
            anchor = repo.get_item(after.strip())
            if anchor is None:
                raise NotFound(f"no item {after!r}")
            after_id = anchor.id
        flagged = repo.list_flagged_items(limit=limit, after_id=after_id)
        platforms = {p.id: p.name for p in repo.list_platforms()}
        out = []
        for item in flagged:
            case = repo.get_case_by_id(item.case_id)
            csam = repo.list_verdicts(item.id, verdict="csam")
            out.append(
                FlaggedItem(
                    item_ref=item.item_ref,
                    case_number=case.case_number if case is not None else "",
                    kind=item.kind,
                    trust=item.trust,
                    state=item.state,
                    created_at=item.created_at,
                    csam_verdicts=len(csam),
                    platforms=tuple(sorted({platforms.get(v.platform_id, "?") for v in csam})),
                    first_flagged_at=csam[0].created_at if csam else None,
                )
            )
        return out
