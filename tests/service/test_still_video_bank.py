"""Still videos in the bank (a photo shown for a few seconds): matched by their picture, a
``pdq`` signal, since the video rule needs more scenes than they have. A banked still matches
its re-encode and the photo it shows (in the service and against a feed copy); a banked photo
matches a still of it; an unrelated still and a dark one match nothing. Videos are made with
PyAV from the shared photos."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np
import pytest
from PIL import Image

from hashwall.cli.feed import sync
from hashwall.domain import Actor, PlatformPolicy
from hashwall.hashing.image import hash_image
from hashwall.hashing.vpdq import VideoHashes, hash_video
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.feed_copy import FeedCopy
from hashwall.service.indexes import LiveIndexes
from hashwall.service.intake import AllItemsRefused, ItemSubmission, create_case
from hashwall.service.local_match import LocalBank

from feed_harness import InProcess
from support import require_shared_data, textured_rgb
from video_samples import encode_clip

if TYPE_CHECKING:
    from conftest import World

FPS = 10


def _pixels(name: str) -> np.ndarray:
    data = require_shared_data("photos", name).read_bytes()
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    h, w = rgb.shape[:2]
    return np.ascontiguousarray(rgb[: h // 2 * 2, : w // 2 * 2])


def _still(pixels: np.ndarray, seconds: float = 6) -> bytes:
    return encode_clip([pixels] * round(seconds * FPS), "mp4", FPS)


def _reencoded(data: bytes) -> bytes:
    """Decoded and encoded again: 352x264, a low bitrate, half the frame rate, WebM."""
    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)][::2]
    small = [np.asarray(Image.fromarray(f).resize((352, 264))) for f in frames]
    return encode_clip(small, "webm", FPS // 2, options={"crf": "45", "b": "0"})


@pytest.fixture(scope="module")
def media() -> dict[str, Any]:
    """Hashed once per module: the photo, stills of it and of another photo, a dark still."""
    name = "kphotoalbum/kphotoalbum_0002.jpg"
    photo = require_shared_data("photos", name).read_bytes()
    pixels = _pixels(name)
    still = _still(pixels)
    dark = textured_rgb(320, 240, seed=1) // 8
    return {
        "photo": hash_image(photo, orientations=True),
        "banked_photo": hash_image(photo),
        "still": hash_video(still),
        "reencode": hash_video(_reencoded(still), mirror=True),
        "mirrored": hash_video(_still(np.ascontiguousarray(pixels[:, ::-1])), mirror=True),
        "upload": hash_video(still, mirror=True),
        "unrelated": hash_video(_still(_pixels("kphotoalbum/kphotoalbum_0003.jpg")), mirror=True),
        "dark": hash_video(_still(dark), mirror=True),
        "dark_other": hash_video(_still(textured_rgb(320, 240, seed=2) // 8), mirror=True),
    }


@pytest.fixture
def live_ctx(ctx: ServiceContext) -> ServiceContext:
    ctx.live = LiveIndexes(ctx.store, ctx.settings)
    ctx.live.build()
    return ctx


def _bank(ctx: ServiceContext, world: World, item: ItemSubmission) -> str:
    receipt = create_case(ctx, world.partner("Helpline"), [item])
    assert ctx.live is not None and ctx.live.catch_up() == 1
    return receipt.accepted[0].item_ref


def _platform(world: World) -> Actor:
    return world.platform("Example", "video", PlatformPolicy(reveal_distance=True))


def test_a_banked_still_matches_its_reencode_and_the_photo_it_shows(
    live_ctx: ServiceContext, world: World, media: dict[str, Any]
) -> None:
    ctx, platform = live_ctx, _platform(world)
    ref = _bank(ctx, world, ItemSubmission.from_video(media["still"]))
    for name in ("reencode", "mirrored"):
        result = check(ctx, platform, CheckRequest.from_video(media[name]))
        assert result.decision == "block", name
        assert [(m.item_ref, m.signal_type) for m in result.matches] == [(ref, "pdq")], name
    photo = check(ctx, platform, CheckRequest.from_image(media["photo"]))
    assert [(m.item_ref, m.signal_type) for m in photo.matches] == [(ref, "pdq")]
    unrelated = check(ctx, platform, CheckRequest.from_video(media["unrelated"]))
    assert unrelated.decision == "allow" and not unrelated.matches


def test_a_still_of_a_banked_photo_matches_it(
    live_ctx: ServiceContext, world: World, media: dict[str, Any]
) -> None:
    ctx, platform = live_ctx, _platform(world)
    ref = _bank(ctx, world, ItemSubmission.from_image(media["banked_photo"]))
    for name in ("upload", "reencode", "mirrored"):
        result = check(ctx, platform, CheckRequest.from_video(media[name]))
        assert [(m.item_ref, m.signal_type) for m in result.matches] == [(ref, "pdq")], name
    assert check(ctx, platform, CheckRequest.from_video(media["unrelated"])).decision == "allow"


def test_dark_stills_have_no_picture_and_match_nothing(
    live_ctx: ServiceContext, world: World, media: dict[str, Any]
) -> None:
    dark: VideoHashes = media["dark"]
    assert dark.first_frame is None and dark.frames == ()
    assert [n.code for n in dark.notes] == ["low_quality"]
    ctx, platform = live_ctx, _platform(world)
    _bank(ctx, world, ItemSubmission.from_video(media["still"]))
    with pytest.raises(AllItemsRefused, match="low_quality"):
        create_case(ctx, world.partner("Other"), [ItemSubmission.from_video(dark)])
    request = CheckRequest.from_video(media["dark_other"])
    assert check(ctx, platform, request).decision == "allow"


def test_a_banked_still_matches_its_reencode_against_a_feed_copy(
    live_ctx: ServiceContext, world: World, media: dict[str, Any], tmp_path: Path
) -> None:
    ctx = live_ctx
    ref = _bank(ctx, world, ItemSubmission.from_video(media["still"]))
    _platform(world)  # the platform whose feed is synced
    folder = tmp_path / "copy"
    sync(InProcess(ctx, "video"), FeedCopy.open(folder, "local"), limit=50)
    local = LocalBank.load(folder)
    answer = local.match(CheckRequest.from_video(media["reencode"]))
    assert answer.decision == "block"
    assert [(m.item_ref, m.signal_type) for m in answer.matches] == [(ref, "pdq")]
    assert local.match(CheckRequest.from_video(media["unrelated"])).decision == "allow"
