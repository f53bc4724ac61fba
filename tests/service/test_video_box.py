"""Videos inside bars: an upload whose picture was shrunk into letterbox or pillarbox bars
also sends its frames cropped to the picture (``box_frames``), which find and match the banked
video; nothing of them is banked, and a barred banked video still matches its barred
re-upload by its plain frames. Clips are made in code."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL import Image

from hashwall.cli.feed import sync
from hashwall.domain import PlatformPolicy
from hashwall.errors import InvalidHash, TooManyFrames
from hashwall.hashing.video_box import video_box
from hashwall.hashing.vpdq import VideoHashes, hash_video
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.feed_copy import FeedCopy
from hashwall.service.indexes import LiveIndexes
from hashwall.service.intake import ItemSubmission, create_case
from hashwall.service.local_match import LocalBank
from hashwall.service.video import upload_of

from feed_harness import InProcess
from video_samples import SMALL_FPS, encode_clip, panning_frames, small_panning

if TYPE_CHECKING:
    from conftest import World

FPS = SMALL_FPS
Frames = list[dict[str, Any]]


def _barred(
    frames: Iterable[np.ndarray], share: float, *, sides: bool = False, logo: bool = False
) -> Iterator[np.ndarray]:
    """Each frame shrunk into black bars of ``share`` of the frame top and bottom (left and
    right when ``sides``), with a small white logo on a bar when ``logo``."""
    for f in frames:
        h, w = f.shape[:2]
        out = np.zeros_like(f)
        if sides:
            b = round(w * share)
            out[:, b : w - b] = np.asarray(Image.fromarray(f).resize((w - 2 * b, h)))
        else:
            b = round(h * share)
            out[b : h - b] = np.asarray(Image.fromarray(f).resize((w, h - 2 * b)))
        if logo:
            out[2 : max(3, b - 2), 4:30] = 255
        yield out


def _stamped(frames: Iterable[np.ndarray], share: float, corner: str) -> Iterator[np.ndarray]:
    """Each frame with a bright logo of ``share`` of the width stamped on the picture, in the
    bottom-right (``br``) or top-left (``tl``) corner: a white plate with two dark lines."""
    for f in frames:
        out = f.copy()
        h, w = out.shape[:2]
        lw, lh = round(w * share), round(w * share * 0.6)
        y0, x0 = (h - lh - 4, w - lw - 4) if corner == "br" else (4, 4)
        plate = out[y0 : y0 + lh, x0 : x0 + lw]
        plate[:] = 245
        plate[lh // 3 : lh // 3 + 2, 2:-2] = 20
        plate[2 * lh // 3 : 2 * lh // 3 + 2, 2:-6] = 20
        yield out


def _lists(hashes: VideoHashes) -> dict[str, Frames]:
    def plain(frames: Iterable[Any]) -> Frames:
        return [{k: v for k, v in f.to_dict().items() if k != "mirror"} for f in frames]

    def mirrored(frames: Iterable[Any]) -> Frames:
        return [{**f.to_dict(), "pdq": f.mirror.hex} for f in frames if f.mirror is not None]

    out = {"frames": plain(hashes.frames), "mirror_frames": mirrored(hashes.frames)}
    if hashes.box_frames:
        out["box_frames"] = plain(hashes.box_frames)
        out["box_mirror_frames"] = mirrored(hashes.box_frames)
    return out


def _upload_lists(data: bytes) -> dict[str, Frames]:
    return _lists(hash_video(data, mirror=True, box=True))


def _dense(data: bytes) -> Frames:
    return [f.to_dict() for f in hash_video(data, seconds_per_hash=0).frames]


@pytest.fixture(scope="module")
def clips() -> dict[str, Any]:
    """Hashed once per module: the banked clips (every frame) and the uploads (1 fps)."""
    a = small_panning(10, seed=7)
    other = small_panning(10, seed=9)
    return {
        "a": _dense(encode_clip(a, "mp4", FPS)),
        "a_barred": _dense(encode_clip(_barred(a, 0.1), "mp4", FPS)),
        "letterbox": _upload_lists(encode_clip(_barred(a, 0.1), "mp4", FPS)),
        "letterbox_logo": _upload_lists(encode_clip(_barred(a, 0.125, logo=True), "mp4", FPS)),
        "pillarbox": _upload_lists(encode_clip(_barred(a, 0.15, sides=True), "mp4", FPS)),
        "unrelated": _upload_lists(encode_clip(_barred(other, 0.1), "mp4", FPS)),
        "plain": _upload_lists(encode_clip(a, "mp4", FPS)),
        "logo_br": _upload_lists(encode_clip(_stamped(a, 0.12, "br"), "mp4", FPS)),
        "logo_tl": _upload_lists(encode_clip(_stamped(a, 0.2, "tl"), "mp4", FPS)),
        "unrelated_logo": _upload_lists(encode_clip(_stamped(other, 0.12, "br"), "mp4", FPS)),
    }


@pytest.fixture
def live_ctx(ctx: ServiceContext) -> ServiceContext:
    ctx.live = LiveIndexes(ctx.store, ctx.settings)
    ctx.live.build()
    return ctx


def _bank(ctx: ServiceContext, world: World, frames: Frames) -> str:
    receipt = create_case(
        ctx, world.partner("Helpline"), [ItemSubmission((), kind="video", frames=frames)]
    )
    return receipt.accepted[0].item_ref


def _check(
    ctx: ServiceContext, platform: Any, lists: dict[str, Frames], *, box: bool = True
) -> Any:
    if not box:
        lists = {k: v for k, v in lists.items() if not k.startswith("box")}
    request = CheckRequest.parse([], settings=ctx.settings, **lists)
    return check(ctx, platform, request)


@pytest.fixture
def platform(world: World) -> Any:
    return world.platform("Example", "video", PlatformPolicy(reveal_distance=True))


def test_a_banked_clip_is_matched_by_its_upload_inside_letterbox_or_pillarbox_bars(
    live_ctx: ServiceContext, world: World, clips: dict[str, Any], platform: Any
) -> None:
    ctx = live_ctx
    ref = _bank(ctx, world, clips["a"])
    assert ctx.live is not None and ctx.live.catch_up() == 1
    for name in ("letterbox", "letterbox_logo", "pillarbox"):
        lists = clips[name]
        assert "box_frames" in lists, name
        # Without its box frames the barred upload is not matched; with them it is.
        assert _check(ctx, platform, lists, box=False).decision == "allow", name
        result = _check(ctx, platform, lists)
        assert result.decision == "block", name
        assert [m.item_ref for m in result.matches] == [ref]
        video = result.matches[0].video
        assert video is not None and video.upload_frames_matched_pct >= 80
    unrelated = _check(ctx, platform, clips["unrelated"])
    assert "box_frames" in clips["unrelated"]
    assert unrelated.decision == "allow" and not unrelated.matches
    # Only the banked frames are in the index: the box frames were searched, not banked.
    assert ctx.live.sizes()["vpdq_frame"] == len(clips["a"])


def test_a_banked_clip_is_matched_by_its_upload_with_a_logo_stamped_on_the_picture(
    live_ctx: ServiceContext, world: World, clips: dict[str, Any], platform: Any
) -> None:
    """A bright logo of an eighth to a fifth of the width moves every frame's hash past the
    threshold; the upload's box frames, with the logo filled in, find the banked clip."""
    ctx = live_ctx
    ref = _bank(ctx, world, clips["a"])
    assert ctx.live is not None and ctx.live.catch_up() == 1
    for name in ("logo_br", "logo_tl"):
        lists = clips[name]
        assert "box_frames" in lists, name
        assert _check(ctx, platform, lists, box=False).decision == "allow", name
        result = _check(ctx, platform, lists)
        assert [m.item_ref for m in result.matches] == [ref], name
    unrelated = clips["unrelated_logo"]
    assert "box_frames" in unrelated and _check(ctx, platform, unrelated).decision == "allow"
    assert ctx.live.sizes()["vpdq_frame"] == len(clips["a"])


def test_a_barred_banked_clip_is_still_matched_by_its_barred_reupload(
    live_ctx: ServiceContext, world: World, clips: dict[str, Any], platform: Any
) -> None:
    ctx = live_ctx
    ref = _bank(ctx, world, clips["a_barred"])
    assert ctx.live is not None and ctx.live.catch_up() == 1
    result = _check(ctx, platform, clips["letterbox"])
    assert [m.item_ref for m in result.matches] == [ref]
    assert _check(ctx, platform, clips["letterbox"], box=False).decision == "block"


def test_the_store_scan_judges_box_frames_too(
    ctx: ServiceContext, world: World, clips: dict[str, Any], platform: Any
) -> None:
    ref = _bank(ctx, world, clips["a"])
    result = _check(ctx, platform, clips["pillarbox"])
    assert [m.item_ref for m in result.matches] == [ref]


def test_a_video_without_bars_has_no_box(clips: dict[str, Any]) -> None:
    assert "box_frames" not in clips["plain"]
    assert video_box(small_panning(4, seed=3)) is None
    # A logo on a smooth picture is no bar (the blurred-surround detectors would take its edge).
    logo = [f.copy() for f in panning_frames(12, 640, 360, seed=5, speed=50)]
    for f in logo:
        f[12:40, 20:110] = 255
    assert video_box(logo) is None
    hashes = hash_video(encode_clip(small_panning(4, seed=3), "mp4", FPS), box=True)
    assert hashes.content_box is None and hashes.box_frames == ()
    assert upload_of(hashes).box is None


def test_box_frames_round_trip_through_the_wire_form() -> None:
    data = encode_clip(_barred(small_panning(4, seed=3), 0.1), "mp4", FPS)
    hashes = hash_video(data, mirror=True, box=True)
    assert hashes.content_box is not None and hashes.box_frames
    _, y0, _, y1 = hashes.content_box
    assert abs(y0 - 10) <= 2 and abs(y1 - 86) <= 2
    assert VideoHashes.from_wire(hashes.to_wire()) == hashes
    boxed = upload_of(hashes).box
    assert boxed is not None and boxed.mirror is not None and len(boxed) == len(hashes.box_frames)


def test_box_frames_are_validated_like_frames(clips: dict[str, Any], ctx: ServiceContext) -> None:
    lists = clips["letterbox"]
    with pytest.raises(InvalidHash, match="box_mirror_frames"):
        CheckRequest.parse(
            [],
            frames=lists["frames"],
            mirror_frames=lists["mirror_frames"],
            box_frames=lists["box_frames"],
            settings=ctx.settings,
        )
    with pytest.raises(InvalidHash, match="box_frames"):
        CheckRequest.parse(
            [],
            frames=lists["frames"],
            box_frames=[{**lists["box_frames"][0], "pdq": "zz"}],
            settings=ctx.settings,
        )
    with pytest.raises(InvalidHash, match="video's frames"):
        CheckRequest.parse(
            [{"type": "md5", "value": "0" * 32}],
            box_frames=lists["box_frames"],
            settings=ctx.settings,
        )
    few = ctx.settings.model_copy(update={"vpdq_max_frames": 3})
    with pytest.raises(TooManyFrames, match="box_frames"):
        CheckRequest.parse(
            [], frames=lists["frames"][:2], box_frames=lists["box_frames"], settings=few
        )


def test_a_barred_upload_matches_locally_as_in_the_service(
    live_ctx: ServiceContext, world: World, clips: dict[str, Any], tmp_path: Path, platform: Any
) -> None:
    ctx = live_ctx
    ref = _bank(ctx, world, clips["a"])
    assert ctx.live is not None and ctx.live.catch_up() == 1
    folder = tmp_path / "copy"
    sync(InProcess(ctx, "video"), FeedCopy.open(folder, "local"), limit=50)
    local = LocalBank.load(folder)
    barred = CheckRequest.parse([], settings=ctx.settings, **clips["pillarbox"])
    mine, theirs = local.match(barred), _check(ctx, platform, clips["pillarbox"])
    assert mine.decision == theirs.decision == "block"
    assert [m.item_ref for m in mine.matches] == [ref]
    plain = {k: v for k, v in clips["pillarbox"].items() if not k.startswith("box")}
    assert local.match(CheckRequest.parse([], settings=ctx.settings, **plain)).decision == "allow"
