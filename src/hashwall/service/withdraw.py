"""Withdraw: a whole case or one item, by the case holder (number + PIN) or the filing partner.

In ONE transaction, for each item still in the bank (``active`` or ``quarantined``): the state
becomes ``withdrawn``, its signal rows are deleted, the upload hashes that platforms sent with
verdicts and exemptions on it are erased too (they are near copies of the item's PDQ), and an
``item_withdrawn`` event is appended (which nulls the signal values in the item's earlier
events). A whole-case withdrawal also sets the case ``withdrawn``.

From the moment the call returns, no check in any process blocks or reviews on the item: every
check re-reads candidates' states from the store before answering anything but ``allow``, so
a live index that has not yet seen the event cannot make it match.

Withdrawing what is already withdrawn is a no-op (the result lists nothing newly withdrawn).
"""

from __future__ import annotations

from dataclasses import dataclass

from hashwall.domain import Actor, Item
from hashwall.errors import NotFound
from hashwall.service.access import authorise_case
from hashwall.service.context import ServiceContext
from hashwall.store.events import ITEM_WITHDRAWN
from hashwall.store.repo import Repository


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """What a withdrawal changed: the case, whether the case itself is now withdrawn, items."""

    case_number: str
    case_withdrawn: bool
    item_refs: tuple[str, ...]


def withdraw_case(
    ctx: ServiceContext, actor: Actor, case_number: str, *, pin: str | None = None
) -> Withdrawal:
    """Withdraw every item of a case and the case itself."""
    case = authorise_case(ctx, actor, case_number, pin)
    with ctx.store.write() as repo:
        done: list[Item] = []
        for listed in repo.list_items(case.id):
            item = repo.get_item_by_id(listed.id, for_update=True)
            if item is not None and item.live:
                done.append(_withdraw_item(repo, item))
        if case.status != "withdrawn":
            repo.set_case_status(case.id, "withdrawn")
        repo.add_audit(
            "case_withdrawn",
            actor_key_id=actor.key_id,
            actor_role=actor.kind,  # "reporter" on the anonymous channel (no key)
            target=case.case_number,
            details={"items": len(done)},
        )
        _append(repo, done)
    return Withdrawal(case.case_number, True, tuple(i.item_ref for i in done))


def withdraw_item(
    ctx: ServiceContext,
    actor: Actor,
    case_number: str,
    item_ref: str,
    *,
    pin: str | None = None,
) -> Withdrawal:
    """Withdraw one item of a case (``NotFound`` if the case holds no such item)."""
    case = authorise_case(ctx, actor, case_number, pin)
    with ctx.store.write() as repo:
        item = repo.get_item(item_ref, for_update=True)
        if item is None or item.case_id != case.id:
            raise NotFound("this case holds no item with that reference")
        done = [_withdraw_item(repo, item)] if item.live else []
        repo.add_audit(
            "item_withdrawn",
            actor_key_id=actor.key_id,
            actor_role=actor.kind,  # "reporter" on the anonymous channel (no key)
            target=item.item_ref,
            details={"case": case.case_number},
        )
        _append(repo, done)
    return Withdrawal(case.case_number, case.status == "withdrawn", tuple(i.item_ref for i in done))


def _withdraw_item(repo: Repository, item: Item) -> Item:
    """State withdrawn, signal values and upload hashes deleted (the event comes last)."""
    withdrawn = repo.set_item_state(item.id, "withdrawn")
    repo.erase_item_hashes(item.id)
    return withdrawn


def _append(repo: Repository, done: list[Item]) -> None:
    for item in done:
        repo.append_event(ITEM_WITHDRAWN, {"item": item.item_ref}, item=item)
