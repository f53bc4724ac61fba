"""A rotated or mirrored copy of an allowlisted image is refused at intake and never blocks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hashwall.domain import Actor
from hashwall.errors import NoItemsAccepted
from hashwall.hashing.image import ImageHashes
from hashwall.hashing.signals import Signal
from hashwall.service import moderation
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.intake import ItemSubmission, create_case

if TYPE_CHECKING:
    from conftest import World


def _single_pdq(hashes: ImageHashes) -> ItemSubmission:
    """What a client that sends no orientations (or an attacker) enrols."""
    return ItemSubmission((Signal("pdq", hashes.pdq.hex, hashes.quality),))


def test_an_item_sent_with_its_orientations_is_compared_in_all_of_them(
    ctx: ServiceContext, images: dict[str, ImageHashes]
) -> None:
    original, rotated = images["original"], images["rotated"]
    # The allowlist holds the original's PDQ only (added by its hash, without orientations).
    moderation.add_to_allowlist(
        ctx, Actor.operator(), [Signal("pdq", original.pdq.hex, original.quality)]
    )
    assert rotated.pdq.distance(original.pdq) > 31  # one PDQ alone does not see it
    with pytest.raises(NoItemsAccepted) as refused:
        create_case(ctx, Actor.reporter(), [ItemSubmission.from_image(rotated)])
    assert refused.value.refusals[0].code == "allowlisted"


def test_allowlisting_an_image_with_its_orientations_covers_rotated_copies(
    ctx: ServiceContext, world: World, images: dict[str, ImageHashes]
) -> None:
    original, rotated, flipped = images["original"], images["rotated"], images["flipped"]
    platform = world.platform("Example", "feed")
    # Banked before anyone allowlisted the image, by a client that sent one PDQ only.
    early = create_case(ctx, world.partner("Helpline"), [_single_pdq(rotated)])
    assert early.accepted
    assert check(ctx, platform, CheckRequest((_pdq(rotated),))).decision == "block"

    assert original.orientations is not None
    moderation.add_to_allowlist(
        ctx,
        Actor.operator(),
        original.signals(),
        pdq_orientations=[h.hex for h in original.orientations],
    )
    # A check with one PDQ of a rotated copy: allowlisted, never block.
    assert check(ctx, platform, CheckRequest((_pdq(rotated),))).decision == "allow"
    # Enrolling a mirrored copy with one PDQ only: refused.
    with pytest.raises(NoItemsAccepted):
        create_case(ctx, Actor.reporter(), [_single_pdq(flipped)])


def _pdq(hashes: ImageHashes) -> Signal:
    return Signal("pdq", hashes.pdq.hex, hashes.quality)
