"""Withdraw: final the moment the call returns, even while a live index lags behind."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from hashwall.domain import Actor
from hashwall.errors import Forbidden, InvalidCredentials, NotFound
from hashwall.hashing.image import ImageHashes
from hashwall.hashing.signals import Signal
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.indexes import LiveIndexes
from hashwall.service.intake import ItemSubmission, create_case
from hashwall.service.verdicts import VerdictRequest, submit_verdict
from hashwall.service.withdraw import withdraw_case, withdraw_item
from hashwall.store.tables import events, exemptions, signals, verdicts

if TYPE_CHECKING:
    from conftest import PdqFamily, World


def test_withdrawn_case_is_allowed_before_the_index_catches_up(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    live = ctx.live = LiveIndexes(ctx.store, ctx.settings)
    live.build()
    receipt = create_case(
        ctx,
        Actor.reporter(),
        [ItemSubmission.from_image(images["original"]), ItemSubmission.from_image(images["other"])],
    )
    live.catch_up()
    platform = world.platform("Example", "feed")
    rotated = CheckRequest.from_image(images["rotated"])
    assert check(ctx, platform, rotated).decision == "review"
    assert live.size == 2

    done = withdraw_case(ctx, Actor.reporter(), receipt.case_number, pin=receipt.pin)
    assert done.case_withdrawn and set(done.item_refs) == {i.item_ref for i in receipt.accepted}

    # The index has not seen the withdrawal (no catch_up): the store re-read answers.
    assert live.size == 2 and live.search("pdq", images["rotated"].orientations or (), 31)
    for name in ("original", "rotated", "other"):
        result = check(ctx, platform, CheckRequest.from_image(images[name]))
        assert (result.decision, result.reason) == ("allow", "no_match")

    with ctx.store.read() as repo:
        case = repo.get_case(receipt.case_number)
        assert case is not None and case.status == "withdrawn" and case.withdrawn_at is not None
        assert {i.state for i in repo.list_items(case.id)} == {"withdrawn"}
        assert repo.conn.execute(select(signals)).first() is None
        log = repo.read_events()
        assert [e.type for e in log] == ["item_added"] * 2 + ["item_withdrawn"] * 2
        for event in log:
            for signal in event.payload.get("signals", []):
                assert signal["value"] is None
        payloads = str([row.payload for row in repo.conn.execute(select(events))])
        assert images["original"].pdq.hex not in payloads
        assert images["original"].sha256 not in payloads

    assert live.catch_up() == 2 and live.size == 0
    # Idempotent: nothing more to withdraw.
    again = withdraw_case(ctx, Actor.reporter(), receipt.case_number, pin=receipt.pin)
    assert again.item_refs == ()


def test_partner_withdraws_one_item_of_its_case(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    helpline = world.partner("Helpline")
    receipt = create_case(
        ctx,
        helpline,
        [ItemSubmission.from_image(images["original"]), ItemSubmission.from_image(images["other"])],
    )
    first, second = (i.item_ref for i in receipt.accepted)
    platform = world.platform("Example", "feed")

    with pytest.raises(Forbidden):
        withdraw_item(ctx, world.partner("Other"), receipt.case_number, first)
    with pytest.raises(InvalidCredentials):
        withdraw_item(ctx, Actor.reporter(), receipt.case_number, first, pin="00000000")
    with pytest.raises(Forbidden):
        withdraw_item(ctx, platform, receipt.case_number, first)
    with pytest.raises(NotFound):
        withdraw_item(ctx, helpline, receipt.case_number, "itm_nope")

    done = withdraw_item(ctx, helpline, receipt.case_number, first)
    assert done.item_refs == (first,) and not done.case_withdrawn
    assert check(ctx, platform, CheckRequest.from_image(images["original"])).decision == "allow"
    assert check(ctx, platform, CheckRequest.from_image(images["other"])).decision == "block"
    with ctx.store.read() as repo:
        (entry,) = repo.list_audit(action="item_withdrawn")
        assert entry.actor_key_id == helpline.key_id and entry.target == first
        item = repo.get_item(second)
        assert item is not None and item.state == "active"


def test_withdrawal_erases_the_uploads_platforms_sent_about_the_item(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    banked = pdq_family.new()
    receipt = create_case(
        ctx, world.partner("Helpline"), [ItemSubmission((Signal("pdq", banked.hex, 90),))]
    )
    platform = world.platform("Example", "feed")
    upload = pdq_family.near(banked, 12)
    result = check(ctx, platform, CheckRequest((Signal("pdq", upload.hex, 90),)))
    submit_verdict(
        ctx,
        platform,
        VerdictRequest(result.matches[0].match_ref, "not_ncii", upload_pdq=upload.hex),
    )
    with ctx.store.read() as repo:
        assert repo.conn.execute(select(exemptions)).first() is not None

    withdraw_case(ctx, Actor.reporter(), receipt.case_number, pin=receipt.pin)
    with ctx.store.read() as repo:
        assert repo.conn.execute(select(exemptions)).first() is None
        (row,) = repo.conn.execute(select(verdicts)).all()
        assert row.upload_pdq is None and row.upload_sha256 is None
