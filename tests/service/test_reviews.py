"""A platform's review queue: its own matches awaiting its verdict, and nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hashwall.domain import Actor, PlatformPolicy
from hashwall.errors import Forbidden, InvalidInput, NotFound
from hashwall.hashing.image import ImageHashes
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.intake import ItemSubmission, create_case
from hashwall.service.reviews import list_pending_matches
from hashwall.service.verdicts import VerdictRequest, submit_verdict
from hashwall.service.withdraw import withdraw_case

if TYPE_CHECKING:
    from conftest import World


def _match(ctx: ServiceContext, platform: Actor, hashes: ImageHashes) -> str:
    result = check(ctx, platform, CheckRequest.from_image(hashes))
    assert result.decision != "allow"
    return result.matches[0].match_ref


def test_pending_lists_own_unjudged_matches_of_live_items_oldest_first(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    photos = world.platform("Example Social", "photos")
    chat = world.platform("Other Co", "chat")
    receipt = create_case(ctx, Actor.reporter(), [ItemSubmission.from_image(images["original"])])
    first = _match(ctx, photos, images["rotated"])
    second = _match(ctx, photos, images["reencoded"])
    theirs = _match(ctx, chat, images["original"])

    pending = list_pending_matches(ctx, photos)
    assert [m.match_ref for m in pending] == [first, second]
    assert not hasattr(pending[0], "item_ref")  # nothing about the bank
    assert pending[0].decision == "review"
    assert pending[0].distance is None and pending[0].orientation is None  # policy hides them
    assert [m.match_ref for m in list_pending_matches(ctx, chat)] == [theirs]

    submit_verdict(ctx, photos, VerdictRequest(first, "confirmed"))
    assert [m.match_ref for m in list_pending_matches(ctx, photos)] == [second]
    assert [m.match_ref for m in list_pending_matches(ctx, chat)] == [theirs]

    withdraw_case(ctx, Actor.reporter(), receipt.case_number, pin=receipt.pin)
    assert list_pending_matches(ctx, photos) == []  # a verdict would no longer be recorded


def test_pending_pages_by_match_ref_and_reveals_what_the_policy_reveals(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    policy = PlatformPolicy(reveal_distance=True, reveal_orientation=True)
    photos = world.platform("Example Social", "photos", policy)
    chat = world.platform("Other Co", "chat")
    create_case(ctx, Actor.reporter(), [ItemSubmission.from_image(images["original"])])
    refs = [_match(ctx, photos, images[n]) for n in ("rotated", "reencoded", "flipped")]
    page = list_pending_matches(ctx, photos, limit=2)
    assert [m.match_ref for m in page] == refs[:2]
    assert page[0].orientation is not None and page[0].distance is not None
    assert [m.match_ref for m in list_pending_matches(ctx, photos, after=refs[1])] == refs[2:]
    with pytest.raises(NotFound):
        list_pending_matches(ctx, chat, after=refs[0])  # not its match: no oracle on refs
    with pytest.raises(InvalidInput):
        list_pending_matches(ctx, photos, limit=0)


def test_pending_needs_a_platform_key_with_the_verdict_scope(
    ctx: ServiceContext, world: World
) -> None:
    checker = world.platform("Example Social", "photos", scopes=("check",))
    with pytest.raises(Forbidden):
        list_pending_matches(ctx, checker)
    with pytest.raises(Forbidden):
        list_pending_matches(ctx, world.partner("Helpline"))
    with pytest.raises(Forbidden):
        list_pending_matches(ctx, Actor.operator())
