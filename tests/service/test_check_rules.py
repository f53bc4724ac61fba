"""Check: DESIGN.md's matching rules, with generated photos and synthetic hashes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hashwall.api import mapping
from hashwall.domain import Actor, PlatformPolicy
from hashwall.errors import Forbidden, InvalidHash
from hashwall.hashing.image import ImageHashes
from hashwall.hashing.pdq import PdqHash
from hashwall.hashing.signals import Signal
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.indexes import LiveIndexes
from hashwall.service.intake import ItemSubmission, create_case

if TYPE_CHECKING:
    from conftest import PdqFamily, World

COPIES = ("original", "reencoded", "resized", "rotated", "flipped")


def _enrol(ctx: ServiceContext, actor: Actor, hashes: ImageHashes) -> str:
    receipt = create_case(ctx, actor, [ItemSubmission.from_image(hashes)])
    return receipt.accepted[0].item_ref


@pytest.fixture
def live_ctx(ctx: ServiceContext) -> ServiceContext:
    """The context with a live index built (tests call ``catch_up`` themselves)."""
    ctx.live = LiveIndexes(ctx.store, ctx.settings)
    ctx.live.build()
    return ctx


def test_partner_enrolled_photo_blocks_its_altered_copies(
    live_ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    ctx = live_ctx
    item_ref = _enrol(ctx, world.partner("Helpline"), images["original"])
    assert ctx.live is not None and ctx.live.catch_up() == 1
    reveal = PlatformPolicy(reveal_distance=True, reveal_orientation=True)
    platform = world.platform("Example", "feed", reveal)

    for name in COPIES:
        result = check(ctx, platform, CheckRequest.from_image(images[name]))
        assert (name, result.decision, result.reason) == (name, "block", "match")
        (match,) = result.matches
        assert match.decision == "block" and match.match_ref.startswith("mch_")
        assert match.item_ref == item_ref
        if name in ("original", "reencoded"):
            assert match.orientation == "original"
        if name == "rotated":
            assert match.orientation in ("rotate90", "rotate270")
        if name == "flipped":
            assert match.orientation in ("flip_x", "flip_y")
        assert match.distance is not None and match.distance % 8 == 0  # coarse: a band
        with ctx.store.read() as repo:
            [row] = repo.list_matches(check_id=result.check_id)
        assert row.distance is not None and row.distance <= 31  # the true one, on record
        assert abs(match.distance - row.distance) <= 7

    assert check(ctx, platform, CheckRequest.from_image(images["other"])).decision == "allow"
    with ctx.store.read() as repo:
        item = repo.get_item(item_ref)
        assert item is not None
        rows = repo.list_matches(item_id=item.id)
        assert len(rows) == len(COPIES) and {r.decision for r in rows} == {"block"}
        assert len({r.check_id for r in rows}) == len(COPIES)


def test_anonymous_items_answer_review_or_the_policy(
    live_ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    ctx = live_ctx
    _enrol(ctx, Actor.reporter(), images["original"])
    assert ctx.live is not None
    ctx.live.catch_up()
    feed = world.platform("Example", "feed")
    lenient = world.platform("Example", "chat", PlatformPolicy(unvouched_answer="allow"))
    for name in ("original", "rotated"):
        result = check(ctx, feed, CheckRequest.from_image(images[name]))
        assert result.decision == "review"
        assert result.matches[0].distance is None and result.matches[0].orientation is None
        allowed = check(ctx, lenient, CheckRequest.from_image(images[name]))
        assert (allowed.decision, allowed.reason, allowed.matches) == ("allow", "no_match", ())


def test_without_a_live_index_the_store_is_scanned(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    _enrol(ctx, world.partner("Helpline"), images["original"])
    platform = world.platform("Example", "feed")
    assert check(ctx, platform, CheckRequest.from_image(images["rotated"])).decision == "block"
    assert check(ctx, platform, CheckRequest.from_image(images["other"])).decision == "allow"


def test_featureless_uploads_are_allowed_as_low_quality_unless_a_digest_matches(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    blank = images["blank"]
    platform = world.platform("Example", "feed")
    result = check(ctx, platform, CheckRequest.from_image(blank))
    assert (result.decision, result.reason) == ("allow", "low_quality")
    wire = CheckRequest.parse(
        [{"type": "pdq", "value": blank.pdq.hex, "quality": blank.quality}],
        [h.hex for h in blank.orientations or ()],
    )
    assert check(ctx, platform, wire).reason == "low_quality"

    # The same file banked by its digest (a partner, digest only) matches exactly.
    create_case(ctx, world.partner("Helpline"), [ItemSubmission((Signal("sha256", blank.sha256),))])
    result = check(ctx, platform, CheckRequest.from_image(blank))
    assert (result.decision, result.reason) == ("block", "match")
    assert result.matches[0].signal_type == "sha256"
    digest_only = CheckRequest.parse([{"type": "sha256", "value": blank.sha256.upper()}])
    assert check(ctx, platform, digest_only).decision == "block"
    md5_only = CheckRequest.parse([{"type": "md5", "value": blank.md5}])
    assert check(ctx, platform, md5_only).decision == "allow"


def test_platform_threshold_is_honoured(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    _enrol(ctx, world.partner("Helpline"), images["original"])
    strict = world.platform("Example", "strict", PlatformPolicy(thresholds={"pdq": 10}))
    default = world.platform("Example", "default")
    resized = CheckRequest.from_image(images["resized"])  # 22 bits from the original
    assert check(ctx, strict, resized).decision == "allow"
    assert check(ctx, default, resized).decision == "block"
    assert check(ctx, strict, CheckRequest.from_image(images["reencoded"])).decision == "block"


def test_allowlisted_uploads_and_items_never_match(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    banked, meme = pdq_family.new(), pdq_family.new()
    near_meme = pdq_family.near(meme, 20)
    helpline = world.partner("Helpline")
    for code in (banked, near_meme):
        create_case(ctx, helpline, [ItemSubmission((Signal("pdq", code.hex, 90),))])
    platform = world.platform("Example", "feed")

    def ask(code: PdqHash) -> str:
        return check(ctx, platform, CheckRequest((Signal("pdq", code.hex, 90),))).decision

    assert ask(near_meme) == "block" and ask(banked) == "block"
    with ctx.store.write() as repo:
        repo.add_to_allowlist(Signal("pdq", meme.hex, 100), note="a meme")
    assert ask(pdq_family.near(meme, 10)) == "allow"  # the upload is near the allowlist
    assert ask(banked) == "block"


def test_bad_requests_and_actors(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    original = images["original"]
    for signals, orientations in [
        ([], None),
        ([{"type": "pdq", "value": "00" * 32, "quality": 90}], None),
        ([{"type": "pdq", "value": original.pdq.hex, "quality": 90}], ["ab" * 32] * 3),
        ([{"type": "pdq", "value": original.pdq.hex}], None),
        ([{"type": "sha256", "value": "x"}], None),
        ([{"type": "md5", "value": "a" * 32}, {"type": "md5", "value": "b" * 32}], None),
    ]:
        with pytest.raises(InvalidHash):
            CheckRequest.parse(signals, orientations)
    request = CheckRequest.from_image(original)
    no_scope = world.platform("Example", "feed", scopes=("feed",))
    for actor in (no_scope, Actor.reporter(), Actor.operator(), world.partner("Helpline")):
        with pytest.raises(Forbidden):
            check(ctx, actor, request)


def test_results_serialise_without_hidden_fields(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    _enrol(ctx, world.partner("Helpline"), images["original"])
    platform = world.platform("Example", "feed")
    result = check(ctx, platform, CheckRequest.from_image(images["original"]))
    body = mapping.check_answer(result).model_dump(mode="json", exclude_none=True)  # as sent
    assert body["decision"] == "block" and body["reason"] == "match"
    assert set(body["matches"][0]) == {"match_ref", "decision", "signal_type"}  # no item ref
    assert images["original"].pdq.hex not in str(body)


def test_a_platform_read_with_the_key_saves_the_read_and_a_foreign_one_is_ignored(
    live_ctx: ServiceContext,
    world: World,
    images: dict[str, ImageHashes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx = live_ctx
    _enrol(ctx, world.partner("Helpline"), images["original"])
    assert ctx.live is not None and ctx.live.catch_up() == 1
    strict = world.platform("Example", "strict", PlatformPolicy(thresholds={"pdq": 10}))
    default = world.platform("Example", "default")
    assert strict.platform_id is not None and default.platform_id is not None
    with ctx.store.read() as repo:
        strict_row = repo.get_platform_by_id(strict.platform_id)
        default_row = repo.get_platform_by_id(default.platform_id)
    assert strict_row is not None and default_row is not None

    reads = 0
    real_read = ctx.store.read

    def counting_read():  # type: ignore[no-untyped-def]
        nonlocal reads
        reads += 1
        return real_read()

    monkeypatch.setattr(ctx.store, "read", counting_read)

    def pdq_only(name: str) -> CheckRequest:
        h = images[name]
        return CheckRequest((Signal("pdq", h.pdq.hex, h.quality),), h.orientation_values())

    # the passed row is used: no read before the search, its threshold applies
    assert check(ctx, default, pdq_only("resized"), platform=default_row).decision == "block"
    assert check(ctx, default, pdq_only("other"), platform=default_row).decision == "allow"
    assert check(ctx, strict, pdq_only("resized"), platform=strict_row).decision == "allow"
    assert reads == 0
    # another platform's row is ignored: the actor's own is read (and its threshold applies)
    assert check(ctx, strict, pdq_only("resized"), platform=default_row).decision == "allow"
    assert reads == 1
    # exact digests come from the live index too: still no read before the decision
    full = CheckRequest.from_image(images["resized"])
    assert check(ctx, default, full, platform=default_row).decision == "block"
    assert reads == 1
