"""Local matching against a feed copy answers as the service's check does, for what the feed
carries (trust, state, the platform's threshold and unvouched answer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hashwall.api import mapping
from hashwall.domain import Actor, PlatformPolicy
from hashwall.errors import InvalidInput
from hashwall.hashing.image import ImageHashes
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.feed import FeedMirror, read_feed
from hashwall.service.intake import ItemSubmission, create_case
from hashwall.service.local_match import BANK_FORMAT, LocalBank

from bank_ops import quarantine

if TYPE_CHECKING:
    from conftest import World


def _copy(ctx: ServiceContext, platform: Actor) -> LocalBank:
    """What ``hashwall feed sync`` would save for ``platform``, as a LocalBank."""
    mirror = FeedMirror()
    while True:
        page = mapping.feed_page(read_feed(ctx, platform, cursor=mirror.cursor)).wire()
        mirror.apply(page)
        if not page["more"]:
            break
    return LocalBank.from_document(
        {"format": BANK_FORMAT, "policy": page["policy"], "items": mirror.items}
    )


def _bank(ctx: ServiceContext, actor: Actor, hashes: ImageHashes) -> str:
    receipt = create_case(ctx, actor, [ItemSubmission.from_image(hashes)])
    return receipt.accepted[0].item_ref


@pytest.mark.parametrize("unvouched_answer", ["review", "allow"])
def test_local_answers_equal_the_services(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes], unvouched_answer: str
) -> None:
    policy = PlatformPolicy(unvouched_answer=unvouched_answer, thresholds={"pdq": 24})  # type: ignore[arg-type]
    platform = world.platform("Example Social", "photos", policy)
    partner = world.partner("Helpline")
    _bank(ctx, Actor.reporter(), images["original"])  # unvouched
    vouched = _bank(ctx, partner, images["other"])
    local = _copy(ctx, platform)
    for name in ("original", "rotated", "flipped", "reencoded", "resized", "other", "blank"):
        request = CheckRequest.from_image(images[name])
        mine = local.match(request)
        theirs = check(ctx, platform, request)
        assert (mine.decision, mine.reason) == (theirs.decision, theirs.reason), name
        assert [m.item_ref for m in mine.matches] == [m.item_ref for m in theirs.matches], name
        assert [m.decision for m in mine.matches] == [m.decision for m in theirs.matches], name
    assert local.match(CheckRequest.from_image(images["other"])).matches[0].item_ref == vouched


def test_a_quarantined_item_reviews_and_a_digest_matches_alone(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    platform = world.platform("Example Social", "photos")
    partner = world.partner("Helpline")
    ref = _bank(ctx, partner, images["original"])
    quarantine(ctx.store, ref)
    local = _copy(ctx, platform)
    by_md5 = CheckRequest.parse([{"type": "md5", "value": images["original"].md5.upper()}])
    for request in (CheckRequest.from_image(images["rotated"]), by_md5):
        mine, theirs = local.match(request), check(ctx, platform, request)
        assert mine.decision == theirs.decision == "review"
        assert mine.matches[0].signal_type == theirs.matches[0].signal_type


def test_an_empty_copy_allows_and_a_featureless_upload_is_low_quality(
    images: dict[str, ImageHashes],
) -> None:
    empty = LocalBank.from_document({"format": BANK_FORMAT, "policy": {}, "items": {}})
    assert empty.match(CheckRequest.from_image(images["original"])).reason == "no_match"
    assert empty.match(CheckRequest.from_image(images["blank"])).reason == "low_quality"
    with pytest.raises(InvalidInput):
        LocalBank.from_document({"format": "other", "items": {}})
