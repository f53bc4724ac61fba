"""Intake: cases from both channels, per-item refusals, PINs, status, re-issue, vouching."""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from hashwall.domain import Actor
from hashwall.errors import Forbidden, InvalidCredentials, NoItemsAccepted
from hashwall.hashing.image import ImageHashes
from hashwall.hashing.signals import Signal
from hashwall.service.access import PinCheck, recording_pin_check
from hashwall.service.context import PinHashing, ServiceContext
from hashwall.service.intake import (
    AllItemsRefused,
    ItemAccepted,
    ItemRefused,
    ItemSubmission,
    add_items,
    case_status,
    create_case,
    reissue_pin,
    vouch_case,
)
from hashwall.service.withdraw import withdraw_case
from hashwall.store.ids import CASE_NUMBER_PATTERN
from hashwall.store.tables import audit, cases, events, signals

if TYPE_CHECKING:
    from conftest import PdqFamily, World

#: 12 symbols of Crockford's base 32 in three groups of four.
PIN_PATTERN = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){2}")


def _submission(hashes: ImageHashes) -> ItemSubmission:
    return ItemSubmission.from_image(hashes)


def test_reporter_case_is_anonymous_and_unvouched(
    ctx: ServiceContext, images: dict[str, ImageHashes]
) -> None:
    receipt = create_case(ctx, Actor.reporter(), [_submission(images["original"])])

    assert CASE_NUMBER_PATTERN.fullmatch(receipt.case_number)
    assert PIN_PATTERN.fullmatch(receipt.pin)
    assert receipt.pin not in repr(receipt)
    assert receipt.channel == "anonymous"
    assert [type(o) for o in receipt.items] == [ItemAccepted]
    with ctx.store.read() as repo:
        case = repo.get_case(receipt.case_number)
        assert case is not None and case.channel == "anonymous" and case.partner_id is None
        assert case.pin_hash.startswith("$argon2id$") and receipt.pin not in case.pin_hash
        (item,) = repo.list_items(case.id)
        assert item.item_ref == receipt.accepted[0].item_ref
        assert item.trust == "unvouched" and item.state == "active"
        assert {s.type for s in repo.list_signals(item.id)} == {"pdq", "md5", "sha256"}
        (event,) = repo.read_events()
        assert event.type == "item_added" and event.item_id == item.id
        assert event.payload["item"] == item.item_ref
        assert {s["type"] for s in event.payload["signals"]} == {"pdq", "md5", "sha256"}
        (entry,) = repo.list_audit(action="case_created")
        assert entry.actor_key_id is None and entry.details["channel"] == "anonymous"
        # The PIN is nowhere in the database.
        for table in (audit, events, cases):
            for row in repo.conn.execute(select(table)):
                assert receipt.pin not in str(tuple(row))
                assert receipt.pin.replace("-", "") not in str(tuple(row))


def test_partner_case_is_vouched(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    helpline = world.partner("Helpline")
    receipt = create_case(ctx, helpline, [_submission(images["original"])])
    assert receipt.channel == "partner"
    with ctx.store.read() as repo:
        case = repo.get_case(receipt.case_number)
        assert case is not None and case.partner_id == helpline.partner_id
        assert [i.trust for i in repo.list_items(case.id)] == ["vouched"]
        assert repo.list_audit(action="case_created")[0].actor_key_id == helpline.key_id


def test_items_are_refused_one_by_one(
    ctx: ServiceContext, pdq_family: object, images: dict[str, ImageHashes]
) -> None:
    meme = images["other"]
    with ctx.store.write() as repo:
        repo.add_to_allowlist(Signal("pdq", meme.pdq.hex, meme.quality), note="a meme")
        repo.add_to_allowlist(Signal("sha256", "ab" * 32), note="stock photo")
    original = images["original"]
    items = [
        _submission(original),
        _submission(images["blank"]),  # quality 0
        ItemSubmission((Signal("pdq", meme.orientations[0].hex, 100),)),  # allowlisted PDQ
        ItemSubmission(({"type": "sha256", "value": "AB" * 32},)),  # allowlisted digest
        ItemSubmission(({"type": "pdq", "value": "zz", "quality": 90},)),
        ItemSubmission(({"type": "md5", "value": "c" * 32}, {"type": "md5", "value": "d" * 32})),
        ItemSubmission(()),
        ItemSubmission(({"type": "pdq", "value": original.pdq.hex},)),  # no quality
        ItemSubmission(({"type": "sha256", "value": "0f" * 32},)),  # digest only: fine
    ]
    receipt = create_case(ctx, Actor.reporter(), items)

    outcomes = {o.index: o for o in receipt.items}
    assert isinstance(outcomes[0], ItemAccepted) and isinstance(outcomes[8], ItemAccepted)
    codes = {i: o.code for i, o in outcomes.items() if isinstance(o, ItemRefused)}
    assert codes == {
        1: "low_quality",
        2: "allowlisted",
        3: "allowlisted",
        4: "invalid_hash",
        5: "invalid_input",
        6: "invalid_input",
        7: "invalid_input",
    }
    for refusal in receipt.refused:
        assert original.pdq.hex not in refusal.message
    with ctx.store.read() as repo:
        case = repo.get_case(receipt.case_number)
        assert case is not None and len(repo.list_items(case.id)) == 2
        assert len(repo.read_events()) == 2


def test_nothing_is_written_when_every_item_is_refused(
    ctx: ServiceContext, images: dict[str, ImageHashes]
) -> None:
    with pytest.raises(NoItemsAccepted) as raised:
        create_case(ctx, Actor.reporter(), [_submission(images["blank"])])
    assert raised.value.code == "no_items_accepted"
    assert isinstance(raised.value, AllItemsRefused)
    assert [r.code for r in raised.value.refusals] == ["low_quality"]
    with ctx.store.read() as repo:
        assert repo.list_cases() == [] and repo.read_events() == []


def test_no_oracle_banking_an_image_twice_looks_the_same(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    first = create_case(ctx, Actor.reporter(), [_submission(images["original"])])
    second = create_case(ctx, Actor.reporter(), [_submission(images["original"])])
    third = create_case(ctx, world.partner("Hotline"), [_submission(images["original"])])
    for receipt in (first, second, third):
        assert [type(o) for o in receipt.items] == [ItemAccepted]
        assert receipt.refused == ()
    refs = {r.accepted[0].item_ref for r in (first, second, third)}
    assert len(refs) == 3


def test_unknown_case_and_wrong_pin_are_one_error(
    ctx: ServiceContext, images: dict[str, ImageHashes]
) -> None:
    receipt = create_case(ctx, Actor.reporter(), [_submission(images["original"])])
    wrong_pin = "0" * 8 if receipt.pin != "0" * 8 else "1" * 8
    errors = []
    for number, pin in [
        (receipt.case_number, wrong_pin),
        ("HW-0000-0000-0000", receipt.pin),
        ("not a case number", receipt.pin),
    ]:
        with pytest.raises(InvalidCredentials) as raised:
            case_status(ctx, Actor.reporter(), number, pin=pin)
        errors.append(raised.value)
    assert {(e.code, e.status, e.message) for e in errors} == {
        ("invalid_credentials", 401, errors[0].message)
    }
    with pytest.raises(InvalidCredentials):
        case_status(ctx, Actor.reporter(), receipt.case_number)  # no PIN at all


def test_a_pin_is_read_as_typed_in_any_case_with_or_without_separators(
    ctx: ServiceContext, images: dict[str, ImageHashes]
) -> None:
    receipt = create_case(ctx, Actor.reporter(), [_submission(images["original"])])
    compact = receipt.pin.replace("-", "")
    typed = [
        receipt.pin.lower(),
        compact,
        " ".join(receipt.pin.split("-")),
        f" {compact[:6]} - {compact[6:]} ",
        receipt.pin.replace("0", "o").replace("1", "I"),
    ]
    for pin in typed:
        assert case_status(ctx, Actor.reporter(), receipt.case_number, pin=pin).status == "active"


def test_an_old_eight_digit_pin_still_opens_its_case(
    ctx: ServiceContext, images: dict[str, ImageHashes]
) -> None:
    receipt = create_case(ctx, Actor.reporter(), [_submission(images["original"])])
    with ctx.store.write() as repo:  # a case from before 12-symbol PINs
        case = repo.get_case(receipt.case_number)
        assert case is not None
        repo.set_case_pin(case.id, ctx.pins.hash("40718253"))
    for pin in ("40718253", "4071 8253", "4071-8253"):
        assert case_status(ctx, Actor.reporter(), receipt.case_number, pin=pin)
    with pytest.raises(InvalidCredentials):
        case_status(ctx, Actor.reporter(), receipt.case_number, pin=receipt.pin)
    with pytest.raises(InvalidCredentials):
        case_status(ctx, Actor.reporter(), receipt.case_number, pin="40718254")


def test_text_that_cannot_be_a_pin_is_refused_without_argon2_work(
    ctx: ServiceContext, images: dict[str, ImageHashes]
) -> None:
    receipt = create_case(ctx, Actor.reporter(), [_submission(images["original"])])
    verified: list[str] = []
    fullwidth_digits = "".join(chr(0xFF11 + i) for i in range(8))  # digits, but not ASCII

    def spy(pin_hash: str | None, pin: str) -> bool:
        verified.append(pin)
        return ctx.pins.verify(pin_hash, pin)

    spying = ServiceContext(ctx.store, ctx.settings, pins=PinHashing(ctx.pins.hash, spy))
    for number in (receipt.case_number, "HW-0000-0000-0000"):
        for pin in ("1234567", "K7QM-4XRT-9HW", "K7QM-4XRT-9HWU", "?" * 12, fullwidth_digits):
            check = PinCheck()
            with recording_pin_check(check), pytest.raises(InvalidCredentials) as raised:
                case_status(spying, Actor.reporter(), number, pin=pin)
            assert "not a PIN" in raised.value.message
            assert not check.verified
    assert verified == []
    # A PIN that could be one is verified (and says so), for a known case or an unknown one.
    for number, right in ((receipt.case_number, True), ("HW-0000-0000-0000", False)):
        check = PinCheck()
        with recording_pin_check(check), contextlib.suppress(InvalidCredentials):
            case_status(spying, Actor.reporter(), number, pin=receipt.pin)
        assert (check.verified, check.right) == (True, right)
    assert len(verified) == 2


def test_add_items_and_status(
    ctx: ServiceContext, images: dict[str, ImageHashes], world: World
) -> None:
    receipt = create_case(ctx, Actor.reporter(), [_submission(images["original"])])
    # Typed the way people type it: lower case, no hyphens.
    typed = receipt.case_number.lower().replace("-", "")
    added = add_items(ctx, Actor.reporter(), typed, [_submission(images["other"])], pin=receipt.pin)
    assert added.case_number == receipt.case_number and len(added.accepted) == 1

    view = case_status(ctx, Actor.reporter(), receipt.case_number, pin=receipt.pin)
    assert view.status == "active" and view.channel == "anonymous"
    assert [(i.trust, i.state) for i in view.items] == [("unvouched", "active")] * 2
    assert {i.item_ref for i in view.items} == {
        receipt.accepted[0].item_ref,
        added.accepted[0].item_ref,
    }
    assert images["original"].pdq.hex not in repr(view)

    with pytest.raises(Forbidden):
        case_status(ctx, world.platform("Org", "feed"), receipt.case_number, pin=receipt.pin)
    with pytest.raises(Forbidden):  # another partner, without the PIN
        case_status(ctx, world.partner("Other helpline"), receipt.case_number)

    withdraw_case(ctx, Actor.reporter(), receipt.case_number, pin=receipt.pin)
    with pytest.raises(Exception) as raised:
        add_items(
            ctx,
            Actor.reporter(),
            receipt.case_number,
            [_submission(images["flipped"])],
            pin=receipt.pin,
        )
    assert getattr(raised.value, "code", None) == "case_withdrawn"


def test_partner_reissues_a_pin_for_its_own_cases_only(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    helpline, other = world.partner("Helpline"), world.partner("Other")
    receipt = create_case(ctx, helpline, [_submission(images["original"])])
    anonymous = create_case(ctx, Actor.reporter(), [_submission(images["other"])])

    # The filing partner sees the case without the PIN.
    assert case_status(ctx, helpline, receipt.case_number).channel == "partner"

    reissued = reissue_pin(ctx, helpline, receipt.case_number)
    assert reissued.pin != receipt.pin and reissued.pin not in repr(reissued)
    assert PIN_PATTERN.fullmatch(reissued.pin)
    with pytest.raises(InvalidCredentials):
        case_status(ctx, Actor.reporter(), receipt.case_number, pin=receipt.pin)
    assert case_status(ctx, Actor.reporter(), receipt.case_number, pin=reissued.pin)

    for number in (receipt.case_number, anonymous.case_number, "HW-0000-0000-0000"):
        with pytest.raises(Forbidden) as raised:
            reissue_pin(ctx, other, number)
        assert raised.value.message == "this is not a case your organisation filed"
    with pytest.raises(Forbidden):
        reissue_pin(ctx, helpline, anonymous.case_number)
    with pytest.raises(Forbidden):
        reissue_pin(ctx, Actor.reporter(), receipt.case_number)
    with ctx.store.read() as repo:
        assert [e.actor_key_id for e in repo.list_audit(action="case_pin_reissued")] == [
            helpline.key_id
        ]


def test_partner_vouches_for_an_anonymous_case(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    receipt = create_case(ctx, Actor.reporter(), [_submission(images["original"])])
    helpline = world.partner("Helpline")
    with pytest.raises(InvalidCredentials):
        vouch_case(ctx, helpline, receipt.case_number, pin="12345678")
    vouched = vouch_case(ctx, helpline, receipt.case_number, pin=receipt.pin)
    assert vouched.item_refs == (receipt.accepted[0].item_ref,)
    with ctx.store.read() as repo:
        item = repo.get_item(receipt.accepted[0].item_ref)
        assert item is not None and item.trust == "vouched"
        assert [e.type for e in repo.read_events()] == ["item_added", "trust_changed"]
    with pytest.raises(Forbidden):
        vouch_case(ctx, Actor.reporter(), receipt.case_number, pin=receipt.pin)


def test_only_reporters_and_partners_open_cases(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    for actor in (world.platform("Org", "feed"), Actor.operator()):
        with pytest.raises(Forbidden):
            create_case(ctx, actor, [_submission(images["original"])])
    with ctx.store.read() as repo:
        assert repo.conn.execute(select(signals)).first() is None


def test_the_case_holder_sees_how_many_uploads_each_item_stopped(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    from hashwall.service.check import CheckRequest, check

    vouched, unvouched = pdq_family.new(), pdq_family.new()
    receipt = create_case(
        ctx,
        world.partner("Helpline"),
        [ItemSubmission((Signal("pdq", vouched.hex, 90),))],
    )
    anonymous = create_case(
        ctx, Actor.reporter(), [ItemSubmission((Signal("pdq", unvouched.hex, 90),))]
    )
    platform = world.platform("Example", "feed")
    for distance in (0, 10):
        request = CheckRequest((Signal("pdq", pdq_family.near(vouched, distance).hex, 90),))
        assert check(ctx, platform, request).decision == "block"
    assert check(ctx, platform, CheckRequest((Signal("pdq", unvouched.hex, 90),))).decision == (
        "review"
    )
    [blocked] = case_status(ctx, Actor.reporter(), receipt.case_number, pin=receipt.pin).items
    [held] = case_status(ctx, Actor.reporter(), anonymous.case_number, pin=anonymous.pin).items
    assert (blocked.blocked_uploads, held.blocked_uploads) == (2, 0)  # a review is not a block
