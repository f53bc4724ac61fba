"""A check searches the places the photo may be inside the upload (its regions) like the
upload's own PDQ: a banked photo posted with a border or inside meme bars is found."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from hashwall.errors import InvalidHash
from hashwall.hashing.image import hash_image
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.intake import ItemSubmission, create_case

if TYPE_CHECKING:
    from conftest import World


def _photo(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(16, 21, 3), dtype=np.uint8)
    img = Image.fromarray(coarse, "RGB").resize((320, 240), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, 280)), int(rng.integers(0, 200))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.rectangle((x0, y0, x0 + int(rng.integers(20, 120)), y0 + 40), fill=colour)
    return img.filter(ImageFilter.GaussianBlur(1))


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _meme(photo: Image.Image) -> bytes:
    canvas = Image.new("RGB", (320, 240 + 2 * 44), (255, 255, 255))
    canvas.paste(photo, (0, 44))
    draw = ImageDraw.Draw(canvas)
    draw.text((20, 10), "TOP TEXT OF THE MEME", fill=(0, 0, 0))
    draw.text((30, 295), "BOTTOM TEXT", fill=(0, 0, 0))
    return _jpeg(canvas)


def test_a_photo_inside_meme_bars_is_found_through_its_region(
    ctx: ServiceContext, world: World
) -> None:
    photo = _photo(11)
    banked = hash_image(_jpeg(photo), orientations=True)
    assert create_case(ctx, world.partner("Helpline"), [ItemSubmission.from_image(banked)]).accepted
    platform = world.platform("Example", "feed")
    upload = _meme(photo)
    plain = hash_image(upload, fast=True, orientations=True)
    assert check(ctx, platform, CheckRequest.from_image(plain)).decision == "allow"
    with_regions = hash_image(upload, fast=True, orientations=True, regions=True)
    assert with_regions.regions
    answer = check(ctx, platform, CheckRequest.from_image(with_regions))
    assert answer.decision != "allow" and len(answer.matches) == 1
    # Another photo in the same bars is not.
    other = hash_image(_meme(_photo(12)), fast=True, orientations=True, regions=True)
    assert check(ctx, platform, CheckRequest.from_image(other)).decision == "allow"


def test_regions_are_validated() -> None:
    hashes = hash_image(_meme(_photo(13)), fast=True, orientations=True, regions=True)
    request = CheckRequest.from_image(hashes)
    (place,) = request.regions["pdq"]
    with pytest.raises(InvalidHash, match="all 8 orientation"):
        CheckRequest(request.signals, request.orientations, {"pdq": (place[:7],)})
    with pytest.raises(InvalidHash, match="at most 8 regions"):
        CheckRequest(request.signals, request.orientations, {"pdq": (place,) * 9})
    with pytest.raises(InvalidHash, match="come with the upload's pdq"):
        CheckRequest(request.signals[1:], {}, {"pdq": (place,)})


def test_a_local_copy_finds_the_region_as_the_service_does(
    ctx: ServiceContext, world: World
) -> None:
    from test_local_match import _copy

    photo = _photo(14)
    banked = hash_image(_jpeg(photo), orientations=True)
    assert create_case(ctx, world.partner("Helpline"), [ItemSubmission.from_image(banked)]).accepted
    platform = world.platform("Example", "feed")
    local = _copy(ctx, platform)
    upload = hash_image(_meme(photo), fast=True, orientations=True, regions=True)
    mine = local.match(CheckRequest.from_image(upload))
    theirs = check(ctx, platform, CheckRequest.from_image(upload))
    assert mine.decision == theirs.decision == "block"
    plain = hash_image(_meme(photo), fast=True, orientations=True)
    assert local.match(CheckRequest.from_image(plain)).decision == "allow"


def test_a_region_is_searched_when_the_whole_upload_is_below_the_quality_floor(
    ctx: ServiceContext, world: World
) -> None:
    from hashwall.hashing.signals import Signal

    photo = _photo(16)
    banked = hash_image(_jpeg(photo), orientations=True)
    assert create_case(ctx, world.partner("Helpline"), [ItemSubmission.from_image(banked)]).accepted
    platform = world.platform("Example", "feed")
    upload = hash_image(_meme(photo), fast=True, orientations=True, regions=True)
    flat = Signal("pdq", upload.pdq.hex, 10)  # as if the whole upload were featureless
    alone = CheckRequest((flat,))
    assert check(ctx, platform, alone).decision == "allow"
    with_regions = CheckRequest((flat,), regions=upload.region_values())
    assert check(ctx, platform, with_regions).decision == "block"
