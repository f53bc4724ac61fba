"""Verdicts: confirmation, exemptions, quarantine across organisations only, csam, ownership."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hashwall.domain import Actor, Item
from hashwall.errors import Forbidden, InvalidInput, NotFound, UploadMismatch
from hashwall.hashing.image import ImageHashes
from hashwall.hashing.pdq import PdqHash
from hashwall.hashing.signals import Signal
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.indexes import LiveIndexes
from hashwall.service.intake import ItemSubmission, create_case
from hashwall.service.verdicts import VerdictRequest, confirm_item, submit_verdict
from hashwall.service.withdraw import withdraw_case
from hashwall.store.events import ITEM_REINSTATED

if TYPE_CHECKING:
    from conftest import PdqFamily, World


def _bank(ctx: ServiceContext, actor: Actor, code: PdqHash) -> str:
    receipt = create_case(ctx, actor, [ItemSubmission((Signal("pdq", code.hex, 90),))])
    return receipt.accepted[0].item_ref


def _ask(ctx: ServiceContext, platform: Actor, upload: PdqHash) -> tuple[str, str | None]:
    result = check(ctx, platform, CheckRequest((Signal("pdq", upload.hex, 90),)))
    return result.decision, (result.matches[0].match_ref if result.matches else None)


def _not_ncii(ctx: ServiceContext, platform: Actor, upload: PdqHash) -> None:
    decision, match_ref = _ask(ctx, platform, upload)
    assert decision != "allow" and match_ref is not None
    result = submit_verdict(
        ctx, platform, VerdictRequest(match_ref, "not_ncii", upload_pdq=upload.hex)
    )
    assert result.recorded


def _item(ctx: ServiceContext, item_ref: str) -> Item:
    with ctx.store.read() as repo:
        item = repo.get_item(item_ref)
    assert item is not None
    return item


def _reinstate(ctx: ServiceContext, item_ref: str) -> None:
    """What the operator's reinstate does: active again, and an item_reinstated event."""
    with ctx.store.write() as repo:
        item = repo.get_item(item_ref)
        assert item is not None and item.state == "quarantined"
        item = repo.set_item_state(item.id, "active")
        repo.add_audit("item_reinstated", target=item.item_ref)
        repo.append_event(ITEM_REINSTATED, {"item": item.item_ref}, item=item)


def _confirm(ctx: ServiceContext, platform: Actor, upload: PdqHash) -> None:
    decision, match_ref = _ask(ctx, platform, upload)
    assert decision != "allow" and match_ref is not None
    assert submit_verdict(ctx, platform, VerdictRequest(match_ref, "confirmed")).recorded


def _events(ctx: ServiceContext) -> list[str]:
    with ctx.store.read() as repo:
        return [e.type for e in repo.read_events()]


def test_a_confirmation_blocks_at_once_on_the_confirming_organisations_platforms_only(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    receipt = create_case(ctx, Actor.reporter(), [ItemSubmission.from_image(images["original"])])
    item_ref = receipt.accepted[0].item_ref
    feed = world.platform("Example", "feed")
    chat = world.platform("Example", "chat")
    other_org = world.platform("Other", "photos")
    result = check(ctx, feed, CheckRequest.from_image(images["flipped"]))
    assert result.decision == "review"

    verdict = VerdictRequest(result.matches[0].match_ref, "confirmed")
    assert submit_verdict(ctx, feed, verdict).recorded
    assert check(ctx, feed, CheckRequest.from_image(images["resized"])).decision == "block"
    assert check(ctx, chat, CheckRequest.from_image(images["original"])).decision == "block"
    assert check(ctx, other_org, CheckRequest.from_image(images["original"])).decision == "review"
    assert _item(ctx, item_ref).trust == "unvouched"
    assert _events(ctx) == ["item_added"]  # nothing for the feeds: it is not confirmed for all
    with ctx.store.read() as repo:
        assert [a.actor_key_id for a in repo.list_audit(action="verdict_confirmed")] == [
            feed.key_id
        ]
        assert repo.list_audit(action="item_confirmed") == []


def test_one_organisation_cannot_get_an_anonymous_image_blocked_everywhere(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    # An organisation banks any image anonymously, then confirms it from every platform it
    # has, on as many distinct uploads as it likes: other organisations still only review it.
    banked = pdq_family.new()
    item_ref = _bank(ctx, Actor.reporter(), banked)
    own = [world.platform("Big Co", name) for name in ("feed", "chat", "photos")]
    for platform in own:
        for _ in range(2):
            _confirm(ctx, platform, pdq_family.near(banked, 24))
    assert all(_ask(ctx, p, banked)[0] == "block" for p in own)
    assert _ask(ctx, world.platform("Victim Co", "victim-feed"), banked)[0] == "review"
    assert _item(ctx, item_ref).trust == "unvouched"
    assert _events(ctx) == ["item_added"]


def test_two_organisations_on_distinct_uploads_confirm_it_for_everyone(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    banked = pdq_family.new()
    item_ref = _bank(ctx, Actor.reporter(), banked)
    first, second = world.platform("A", "a-feed"), world.platform("B", "b-feed")
    third = world.platform("C", "c-feed")
    upload = pdq_family.near(banked, 20)
    _confirm(ctx, first, upload)
    _confirm(ctx, second, pdq_family.near(upload, 6))  # the same upload, re-encoded: once
    assert _item(ctx, item_ref).trust == "unvouched"
    assert _ask(ctx, third, banked)[0] == "review"

    _confirm(ctx, second, pdq_family.near(banked, 22))  # a distinct upload
    assert _item(ctx, item_ref).trust == "confirmed"
    assert _ask(ctx, third, banked)[0] == "block"
    assert _events(ctx) == ["item_added", "trust_changed"]
    with ctx.store.read() as repo:
        assert repo.read_events()[-1].payload == {"item": item_ref, "trust": "confirmed"}
        assert [a.actor_key_id for a in repo.list_audit(action="item_confirmed")] == [second.key_id]


def test_confirmations_needed_is_a_setting(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"confirm_min_orgs": 3})
    banked = pdq_family.new()
    item_ref = _bank(ctx, Actor.reporter(), banked)
    for org in ("A", "B"):
        _confirm(ctx, world.platform(org, f"{org}-feed"), pdq_family.near(banked, 20))
    assert _item(ctx, item_ref).trust == "unvouched"
    _confirm(ctx, world.platform("C", "C-feed"), pdq_family.near(banked, 20))
    assert _item(ctx, item_ref).trust == "confirmed"


def test_the_operator_confirms_an_item_for_everyone(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    banked = pdq_family.new()
    item_ref = _bank(ctx, Actor.reporter(), banked)
    elsewhere = world.platform("Other", "photos")
    with pytest.raises(Forbidden):
        confirm_item(ctx, elsewhere, item_ref)
    assert _ask(ctx, elsewhere, banked)[0] == "review"
    done = confirm_item(ctx, Actor.operator(), item_ref)
    assert (done.trust, done.changed) == ("confirmed", True)
    assert _ask(ctx, elsewhere, banked)[0] == "block"
    assert not confirm_item(ctx, Actor.operator(), item_ref).changed
    assert _events(ctx) == ["item_added", "trust_changed"]
    with pytest.raises(NotFound):
        confirm_item(ctx, Actor.operator(), "itm_unknown")


def test_a_verdict_is_about_the_upload_its_match_was_made_on(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    banked = pdq_family.new()
    item_ref = _bank(ctx, Actor.reporter(), banked)
    first, second = world.platform("A", "a-feed"), world.platform("B", "b-feed")
    upload = pdq_family.near(banked, 20)
    sha = "ab" * 32
    result = check(ctx, first, CheckRequest((Signal("pdq", upload.hex, 90), Signal("sha256", sha))))
    match_ref = result.matches[0].match_ref
    made_up = pdq_family.near(banked, 24)  # near the banked item, far from the upload
    assert made_up.distance(upload) > 31
    for wrong in (
        VerdictRequest(match_ref, "confirmed", upload_pdq=made_up.hex),
        VerdictRequest(match_ref, "not_ncii", upload_pdq=made_up.hex),
        VerdictRequest(match_ref, "confirmed", upload_sha256="cd" * 32),
    ):
        with pytest.raises(UploadMismatch) as caught:
            submit_verdict(ctx, first, wrong)
        assert (caught.value.code, caught.value.status) == ("upload_mismatch", 422)
    with ctx.store.read() as repo:
        assert repo.list_verdicts(_item(ctx, item_ref).id) == []

    # Within the platform's threshold (the reviewer's own hash of the upload): recorded, with
    # the match's values. A second organisation sending "distinct" values for the same upload
    # cannot make two uploads of it.
    near = pdq_family.near(upload, 10)
    assert submit_verdict(
        ctx, first, VerdictRequest(match_ref, "confirmed", upload_pdq=near.hex)
    ).recorded
    _, other_ref = _ask(ctx, second, upload)
    assert other_ref is not None
    with pytest.raises(UploadMismatch):
        submit_verdict(ctx, second, VerdictRequest(other_ref, "confirmed", upload_pdq=made_up.hex))
    assert submit_verdict(ctx, second, VerdictRequest(other_ref, "confirmed")).recorded
    with ctx.store.read() as repo:
        recorded = repo.list_verdicts(_item(ctx, item_ref).id)
    assert [(v.upload_pdq, v.upload_sha256) for v in recorded] == [
        (upload.hex, sha),
        (upload.hex, None),
    ]
    assert _item(ctx, item_ref).trust == "unvouched"  # one upload, however many organisations


def test_withdrawal_erases_the_uploads_kept_on_matches(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    banked = pdq_family.new()
    receipt = create_case(
        ctx, world.partner("Helpline"), [ItemSubmission((Signal("pdq", banked.hex, 90),))]
    )
    feed = world.platform("A", "feed")
    _, match_ref = _ask(ctx, feed, pdq_family.near(banked, 10))
    assert match_ref is not None
    withdraw_case(ctx, Actor.reporter(), receipt.case_number, pin=receipt.pin)
    with ctx.store.read() as repo:
        match = repo.get_match(match_ref)
    assert match is not None and (match.upload_pdq, match.upload_sha256) == (None, None)


def test_a_platform_cannot_judge_another_platforms_match(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    banked = pdq_family.new()
    _bank(ctx, world.partner("Helpline"), banked)
    feed = world.platform("Example", "feed")
    sibling = world.platform("Example", "chat")  # same organisation, still another platform
    stranger = world.platform("Other", "photos")
    _, match_ref = _ask(ctx, feed, banked)
    assert match_ref is not None
    for platform in (sibling, stranger):
        with pytest.raises(Forbidden):
            submit_verdict(ctx, platform, VerdictRequest(match_ref, "confirmed"))
    no_scope = world.platform("Example", "checker", scopes=("check",))
    with pytest.raises(Forbidden):
        submit_verdict(ctx, no_scope, VerdictRequest(match_ref, "confirmed"))
    with pytest.raises(Forbidden):
        submit_verdict(ctx, Actor.reporter(), VerdictRequest(match_ref, "confirmed"))
    with pytest.raises(NotFound):
        submit_verdict(ctx, feed, VerdictRequest("mch_unknown", "confirmed"))
    with pytest.raises(InvalidInput):  # not the upload of the match
        far = pdq_family.near(banked, 60)
        submit_verdict(ctx, feed, VerdictRequest(match_ref, "not_ncii", upload_pdq=far.hex))
    with ctx.store.read() as repo:
        assert repo.list_audit(action="verdict_confirmed") == []


def test_not_ncii_exempts_that_upload_on_that_platform_only(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    banked = pdq_family.new()
    item_ref = _bank(ctx, world.partner("Helpline"), banked)
    feed, photos = world.platform("Example", "feed"), world.platform("Other", "photos")
    upload = pdq_family.near(banked, 20)
    _not_ncii(ctx, feed, upload)

    assert _ask(ctx, feed, upload)[0] == "allow"
    assert _ask(ctx, feed, pdq_family.near(upload, 4))[0] == "allow"  # the same upload, re-encoded
    assert _ask(ctx, feed, pdq_family.near(banked, 20))[0] == "block"  # another upload
    assert _ask(ctx, feed, banked)[0] == "block"
    assert _ask(ctx, photos, upload)[0] == "block"  # another platform
    assert _item(ctx, item_ref).state == "active"


def test_one_organisation_cannot_quarantine_an_item_alone(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    banked = pdq_family.new()
    item_ref = _bank(ctx, world.partner("Helpline"), banked)
    platforms = [world.platform("Big Co", name) for name in ("feed", "chat", "photos")]
    for platform in platforms:
        for _ in range(2):
            _not_ncii(ctx, platform, pdq_family.near(banked, 24))  # distinct uploads every time
    assert _item(ctx, item_ref).state == "active"
    with ctx.store.read() as repo:
        assert len(repo.list_verdicts(_item(ctx, item_ref).id, verdict="not_ncii")) == 6
        assert [e.type for e in repo.read_events()] == ["item_added"]


def test_two_organisations_on_distinct_uploads_quarantine_then_the_operator_reinstates(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    ctx.live = LiveIndexes(ctx.store, ctx.settings)
    ctx.live.build()
    banked = pdq_family.new()
    item_ref = _bank(ctx, world.partner("Helpline"), banked)
    ctx.live.catch_up()
    feed, photos = world.platform("Example", "feed"), world.platform("Other", "photos")
    third = world.platform("Third", "video")
    upload = pdq_family.near(banked, 20)

    # Repeated verdicts on one upload count once, across organisations too.
    _, match_ref = _ask(ctx, feed, upload)
    assert match_ref is not None
    for _ in range(3):
        verdict = VerdictRequest(match_ref, "not_ncii", upload_pdq=upload.hex)
        assert submit_verdict(ctx, feed, verdict).recorded
    _not_ncii(ctx, photos, pdq_family.near(upload, 6))
    assert _item(ctx, item_ref).state == "active"
    with ctx.store.read() as repo:
        assert feed.platform_id is not None
        assert len(repo.list_exemptions(feed.platform_id, [_item(ctx, item_ref).id])) == 1

    # A second organisation on a distinct upload: quarantined.
    _not_ncii(ctx, photos, pdq_family.near(banked, 22))
    item = _item(ctx, item_ref)
    assert item.state == "quarantined" and item.trust == "vouched"
    with ctx.store.read() as repo:
        assert repo.read_events()[-1].type == "item_quarantined"
        assert [a.actor_key_id for a in repo.list_audit(action="item_quarantined")] == [
            photos.key_id
        ]
    # Quarantined: it stays in the index and answers review everywhere it is not exempted.
    ctx.live.catch_up()
    assert ctx.live.size == 1
    assert _ask(ctx, third, banked)[0] == "review"
    assert _ask(ctx, feed, upload)[0] == "allow"  # still exempted there

    _reinstate(ctx, item_ref)
    assert _ask(ctx, third, banked)[0] == "block"
    # The overruled verdicts do not count again: one more organisation alone is not enough.
    _not_ncii(ctx, third, pdq_family.near(banked, 26))
    assert _item(ctx, item_ref).state == "active"
    _not_ncii(ctx, feed, pdq_family.near(banked, 28))
    assert _item(ctx, item_ref).state == "quarantined"


def test_quarantine_threshold_is_a_setting(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"quarantine_min_orgs": 3})
    banked = pdq_family.new()
    item_ref = _bank(ctx, world.partner("Helpline"), banked)
    for org in ("A", "B"):
        _not_ncii(ctx, world.platform(org, f"{org}-feed"), pdq_family.near(banked, 20))
    assert _item(ctx, item_ref).state == "active"
    _not_ncii(ctx, world.platform("C", "C-feed"), pdq_family.near(banked, 20))
    assert _item(ctx, item_ref).state == "quarantined"


def test_csam_flags_the_item_and_it_keeps_blocking(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    banked = pdq_family.new()
    item_ref = _bank(ctx, world.partner("Helpline"), banked)
    feed = world.platform("Example", "feed")
    _, match_ref = _ask(ctx, feed, banked)
    assert match_ref is not None
    assert submit_verdict(ctx, feed, VerdictRequest(match_ref, "csam")).recorded
    item = _item(ctx, item_ref)
    assert item.csam and item.state == "active"
    assert _ask(ctx, feed, banked)[0] == "block"
    with ctx.store.read() as repo:
        assert [a.target for a in repo.list_audit(action="verdict_csam")] == [match_ref]
