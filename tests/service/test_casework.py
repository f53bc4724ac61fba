"""The operator's casework: find a case, erase it on request, delete an active item on purpose,
the csam queue; and an audit log that names every actor by role and name."""

from __future__ import annotations

import pytest

from hashwall.domain import Actor
from hashwall.errors import Forbidden, InvalidCredentials, InvalidInput, InvalidState, NotFound
from hashwall.hashing.image import ImageHashes
from hashwall.service import audit, auth, casework, keys, moderation, tenants
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.intake import ItemSubmission, case_status, create_case, vouch_case
from hashwall.service.verdicts import VerdictRequest, submit_verdict
from hashwall.service.withdraw import withdraw_case

OP = Actor.operator()


def _tenants(ctx: ServiceContext) -> tuple[Actor, Actor, Actor]:
    """A platform key (photos), an intake key (Helpline) and an admin key, as the API sees them."""
    tenants.add_organisation(ctx, OP, "Example Social")
    tenants.add_platform(ctx, OP, organisation="Example Social", name="photos")
    tenants.add_partner(ctx, OP, "Helpline")
    platform = keys.create_api_key(ctx, OP, role="platform", platform="photos")
    intake = keys.create_api_key(ctx, OP, role="intake", partner="Helpline")
    admin = keys.create_api_key(ctx, OP, role="admin")
    return tuple(auth.authenticate(ctx, k.key) for k in (platform, intake, admin))  # type: ignore[return-value]


def _report(ctx: ServiceContext, images: dict[str, ImageHashes], *names: str) -> tuple[str, str]:
    receipt = create_case(
        ctx, Actor.reporter(), [ItemSubmission.from_image(images[n]) for n in names]
    )
    return receipt.case_number, receipt.pin


def test_find_case_shows_items_states_trust_and_counts_but_no_hash_values(
    ctx: ServiceContext, images: dict[str, ImageHashes]
) -> None:
    platform, _, _ = _tenants(ctx)
    number, _ = _report(ctx, images, "original", "other")
    result = check(ctx, platform, CheckRequest.from_image(images["rotated"]))
    assert result.decision == "review"
    submit_verdict(ctx, platform, VerdictRequest(result.matches[0].match_ref, "csam"))

    found = casework.find_case(ctx, OP, number.lower())  # as a person might type it
    assert (found.case_number, found.channel, found.status) == (number, "anonymous", "active")
    first, second = found.items
    assert (first.trust, first.state, first.matches, first.verdicts) == (
        "unvouched",
        "active",
        1,
        {"csam": 1},
    )
    assert first.csam and not second.csam
    assert (second.matches, second.verdicts) == (0, {})
    text = repr(found)  # every field, nested items too
    for hashes in (images["original"], images["other"]):
        assert hashes.pdq.hex not in text and hashes.md5 not in text

    with pytest.raises(NotFound):
        casework.find_case(ctx, OP, "HW-0000-0000-0000")
    with pytest.raises(Forbidden):
        casework.find_case(ctx, platform, number)


def test_erasing_a_case_deletes_its_items_and_the_person_sees_it_was_removed(
    ctx: ServiceContext, images: dict[str, ImageHashes]
) -> None:
    platform, _, _ = _tenants(ctx)
    number, pin = _report(ctx, images, "original", "other")
    with pytest.raises(InvalidInput):
        casework.erase_case(ctx, OP, number, reason="   ")

    erased = casework.erase_case(ctx, OP, number, reason="request by letter, ticket 42")
    assert len(erased.deleted_items) == 2 and not erased.already_removed
    assert check(ctx, platform, CheckRequest.from_image(images["original"])).decision == "allow"

    view = case_status(ctx, Actor.reporter(), number, pin=pin)
    assert view.status == "removed" and view.removed_at is not None
    assert view.items == ()  # deleted items are not listed to the person
    with ctx.store.read() as repo:
        case = repo.get_case(number)
        assert case is not None
        items = repo.list_items(case.id)
        assert {i.state for i in items} == {"deleted"}
        assert all(repo.list_signals(i.id) == [] for i in items)
        values = [
            s.get("value")
            for e in repo.read_events()
            for s in e.payload.get("signals", [])
            if e.item_ref in erased.deleted_items
        ]
    assert values and all(v is None for v in values)

    again = casework.erase_case(ctx, OP, number, reason="asked twice")
    assert again.already_removed and again.deleted_items == ()
    assert withdraw_case(ctx, Actor.reporter(), number, pin=pin).item_refs == ()
    assert case_status(ctx, Actor.reporter(), number, pin=pin).status == "removed"

    [entry] = audit.list_audit(ctx, OP, action=casework.CASE_ERASED)
    assert entry.target == number and entry.actor == "operator"
    assert entry.details == {"reason": "request by letter, ticket 42", "deleted_items": 2}
    assert [e.target for e in audit.list_audit(ctx, OP, action=casework.ITEM_ERASED)] == list(
        reversed(erased.deleted_items)
    )
    assert casework.find_case(ctx, OP, number).status == "removed"


def test_erasing_keeps_the_pin_check(ctx: ServiceContext, images: dict[str, ImageHashes]) -> None:
    _tenants(ctx)
    number, _ = _report(ctx, images, "original")
    casework.erase_case(ctx, OP, number, reason="request")
    with pytest.raises(InvalidCredentials):
        case_status(ctx, Actor.reporter(), number, pin="not-the-pin")


def test_quarantine_delete_takes_only_quarantined_items_and_item_delete_needs_a_reason(
    ctx: ServiceContext, images: dict[str, ImageHashes]
) -> None:
    _tenants(ctx)
    number, _ = _report(ctx, images, "original")
    item_ref = casework.find_case(ctx, OP, number).items[0].item_ref
    with pytest.raises(InvalidState, match="hashwall item delete"):
        moderation.delete_quarantined_item(ctx, OP, item_ref)
    with pytest.raises(InvalidInput):
        casework.delete_active_item(ctx, OP, item_ref, reason="")
    change = casework.delete_active_item(ctx, OP, item_ref, reason="court order 7")
    assert (change.previous_state, change.state) == ("active", "deleted")
    [entry] = audit.list_audit(ctx, OP, action=audit.ITEM_DELETED_ACTION)
    assert entry.details == {"previous_state": "active", "reason": "court order 7"}
    with pytest.raises(InvalidState):
        casework.delete_active_item(ctx, OP, item_ref, reason="again")


def test_csam_verdicts_land_in_the_operators_queue(
    ctx: ServiceContext, images: dict[str, ImageHashes]
) -> None:
    platform, _, _ = _tenants(ctx)
    number, _ = _report(ctx, images, "original")
    _report(ctx, images, "other")
    assert casework.list_csam(ctx, OP) == []
    result = check(ctx, platform, CheckRequest.from_image(images["original"]))
    submit_verdict(ctx, platform, VerdictRequest(result.matches[0].match_ref, "csam"))
    [flagged] = casework.list_csam(ctx, OP)
    assert (flagged.case_number, flagged.csam_verdicts, flagged.platforms) == (
        number,
        1,
        ("photos",),
    )
    assert flagged.first_flagged_at is not None
    assert casework.list_csam(ctx, OP, after=flagged.item_ref) == []
    with pytest.raises(Forbidden):
        casework.list_csam(ctx, platform)


def test_audit_names_every_actor_by_role_and_name(
    ctx: ServiceContext, images: dict[str, ImageHashes]
) -> None:
    platform, intake, admin = _tenants(ctx)
    number, pin = _report(ctx, images, "original")
    vouch_case(ctx, intake, number, pin=pin)
    result = check(ctx, platform, CheckRequest.from_image(images["original"]))
    submit_verdict(ctx, platform, VerdictRequest(result.matches[0].match_ref, "confirmed"))
    tenants.add_partner(ctx, admin, "Hotline")
    withdraw_case(ctx, Actor.reporter(), number, pin=pin)

    by_action = {e.action: e for e in reversed(audit.list_audit(ctx, OP))}  # newest wins
    assert by_action["case_created"].actor == "reporter"
    assert by_action["case_withdrawn"].actor == "reporter"
    assert by_action["case_vouched"].actor == "partner:Helpline"
    assert by_action["verdict_confirmed"].actor == "platform:photos"
    assert by_action["partner_added"].actor == f"admin:{admin.key_id}"
    assert by_action["organisation_added"].actor == "operator"
    assert by_action["case_created"].actor_key_id is None
    assert by_action["case_vouched"].actor_key_id == intake.key_id
