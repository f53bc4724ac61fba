"""Videos in the bank: frames banked as ``vpdq_frame`` signals, found through the index and
judged by the video rule (a re-encode, a clip inside a longer video, a compilation of two
banked clips match; unrelated and near-static videos do not). Clips are made in code."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL import Image

from hashwall.domain import Actor, PlatformPolicy
from hashwall.errors import InvalidHash, TooManyFrames
from hashwall.hashing.vpdq import hash_video
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.indexes import LiveIndexes
from hashwall.service.intake import AllItemsRefused, ItemSubmission, create_case
from hashwall.service.list_formats import read_list
from hashwall.service.lists import export_bank, import_list
from hashwall.service.reviews import list_pending_matches
from hashwall.service.withdraw import withdraw_case
from hashwall.store.repositories.signals import SignalRepository

from support import textured_rgb
from video_samples import SMALL_FPS, encode_clip, small_panning

if TYPE_CHECKING:
    from conftest import World

FPS = SMALL_FPS
Frames = list[dict[str, Any]]


def _still(seconds: float, seed: int, level: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = textured_rgb(128, 96, seed=seed).astype(np.float64) * level / 255
    for _ in range(round(seconds * FPS)):
        yield np.clip(base + rng.normal(0, 1.0, base.shape), 0, 255).astype(np.uint8)


def _resized(frames: Iterable[np.ndarray], width: int, height: int) -> Iterator[np.ndarray]:
    for f in frames:
        yield np.asarray(Image.fromarray(f).resize((width, height), Image.Resampling.BILINEAR))


def _frames(data: bytes, *, dense: bool = False, mirror: bool = False) -> Frames:
    hashed = hash_video(data, seconds_per_hash=0 if dense else None, mirror=mirror)
    return [f.to_dict() for f in hashed.frames]


@pytest.fixture(scope="module")
def clips() -> dict[str, Any]:
    """Hashed once per module: two banked clips (every frame), and the uploads (1 fps)."""
    a, b = small_panning(10, seed=7), small_panning(10, seed=11)
    host = small_panning(60, seed=8)
    inside = list(itertools.chain(host[:255], a, host[255:]))  # at 25.5 s of 70 s
    upload = {
        "reencode": encode_clip(_resized(a, 176, 132), "avi", FPS),
        "inside": encode_clip(inside, "mp4", FPS),
        "compilation": encode_clip(itertools.chain(a, small_panning(3, seed=5), b), "mp4", FPS),
        "unrelated": encode_clip(small_panning(20, seed=9), "mp4", FPS),
        "mirrored": encode_clip((np.ascontiguousarray(f[:, ::-1]) for f in a), "mp4", FPS),
    }
    return {
        "a": _frames(encode_clip(a, "mp4", FPS), dense=True),
        "b": _frames(encode_clip(b, "mp4", FPS), dense=True),
        "still_banked": _frames(encode_clip(_still(10, 1, 90), "mp4", FPS), dense=True),
        "still_upload": _frames(encode_clip(_still(20, 1, 90), "mp4", FPS), mirror=True),
        **{name: _frames(data, mirror=True) for name, data in upload.items()},
    }


@pytest.fixture
def live_ctx(ctx: ServiceContext) -> ServiceContext:
    ctx.live = LiveIndexes(ctx.store, ctx.settings)
    ctx.live.build()
    return ctx


def _bank(ctx: ServiceContext, world: World, frames: Frames, name: str = "Helpline") -> str:
    receipt = create_case(
        ctx, world.partner(name), [ItemSubmission((), kind="video", frames=frames)]
    )
    return receipt.accepted[0].item_ref


def _upload(ctx: ServiceContext, frames: Frames) -> CheckRequest:
    plain = [{k: v for k, v in f.items() if k != "mirror"} for f in frames]
    mirrored = [{**p, "pdq": f["mirror"]} for p, f in zip(plain, frames, strict=True)]
    return CheckRequest.parse([], frames=plain, mirror_frames=mirrored, settings=ctx.settings)


def _platform(world: World) -> Any:
    return world.platform("Example", "video", PlatformPolicy(reveal_distance=True))


def test_a_banked_video_is_found_in_its_reencode_inside_a_longer_video_and_in_a_compilation(
    live_ctx: ServiceContext, world: World, clips: dict[str, Any]
) -> None:
    ctx = live_ctx
    ref_a = _bank(ctx, world, clips["a"])
    ref_b = _bank(ctx, world, clips["b"], "Other")
    assert ctx.live is not None and ctx.live.catch_up() == 2
    assert ctx.live.sizes()["vpdq_frame"] == len(clips["a"]) + len(clips["b"])
    platform = _platform(world)

    reencode = check(ctx, platform, _upload(ctx, clips["reencode"]))
    assert reencode.decision == "block" and reencode.reason == "match"
    assert [m.item_ref for m in reencode.matches] == [ref_a]
    match = reencode.matches[0]
    assert match.signal_type == "vpdq_frame" and match.video is not None
    assert match.video.upload_frames_matched_pct >= 80

    inside = check(ctx, platform, _upload(ctx, clips["inside"]))
    assert [m.item_ref for m in inside.matches] == [ref_a]
    video = inside.matches[0].video
    assert video is not None and video.banked_frames_matched_pct >= 80
    assert video.upload_frames_matched_pct < 30
    assert video.upload_ranges[0].start >= 25 and video.upload_ranges[-1].end <= 36

    both = check(ctx, platform, _upload(ctx, clips["compilation"]))
    assert sorted(m.item_ref for m in both.matches) == sorted([ref_a, ref_b])

    mirrored = check(ctx, platform, _upload(ctx, clips["mirrored"]))
    assert [m.item_ref for m in mirrored.matches] == [ref_a]
    assert mirrored.matches[0].video is not None and mirrored.matches[0].video.mirrored

    unrelated = check(ctx, platform, _upload(ctx, clips["unrelated"]))
    assert unrelated.decision == "allow" and not unrelated.matches

    # The match records keep no frame distance (the platform reveals distances).
    pending = list_pending_matches(ctx, platform)
    assert pending and all(m.distance is None for m in pending)


def test_without_a_live_index_the_store_is_scanned_with_the_same_rule(
    ctx: ServiceContext, world: World, clips: dict[str, Any]
) -> None:
    ref_a = _bank(ctx, world, clips["a"])
    platform = world.platform("Example", "quiet")  # reveals nothing
    result = check(ctx, platform, _upload(ctx, clips["reencode"]))
    assert [m.item_ref for m in result.matches] == [ref_a]
    assert result.matches[0].video is None and result.matches[0].distance is None
    assert check(ctx, platform, _upload(ctx, clips["unrelated"])).decision == "allow"


def _flipped(value: str, bits: int) -> str:
    """``value`` (hex) with its first ``bits`` bits flipped."""
    number = int(value, 16) ^ (((1 << bits) - 1) << (256 - bits))
    return f"{number:064x}"


def test_an_animations_first_frame_pdq_matches_by_itself_whatever_its_frames_say(
    live_ctx: ServiceContext, world: World, clips: dict[str, Any]
) -> None:
    # An animation is banked with its frames and its first frame's pdq. An upload whose
    # first frame is near that pdq matches by the pdq even when its few frames (too few for the
    # video rule) also hit the banked frames, closer than the pdq does.
    ctx = live_ctx
    first = clips["a"][0]
    pdq = {"type": "pdq", "value": first["pdq"], "quality": first["quality"]}
    receipt = create_case(
        ctx,
        world.partner("Helpline"),
        [ItemSubmission((pdq,), kind="video", frames=clips["a"])],
    )
    ref = receipt.accepted[0].item_ref
    assert ctx.live is not None and ctx.live.catch_up() == 1
    frames = clips["reencode"][:2]  # two samples: frame hits, but fewer than 3 scenes
    near = {**pdq, "value": _flipped(first["pdq"], 30)}  # the frames hit at 22-28
    plain = [{k: v for k, v in f.items() if k != "mirror"} for f in frames]
    upload = CheckRequest.parse([near], frames=plain, settings=ctx.settings)
    platform = _platform(world)
    result = check(ctx, platform, upload)
    assert result.decision == "block"
    assert [(m.item_ref, m.signal_type) for m in result.matches] == [(ref, "pdq")]
    assert result.matches[0].distance is not None and result.matches[0].distance > 0
    # Without the pdq the same frames alone do not make a video match.
    alone = CheckRequest.parse([], frames=plain, settings=ctx.settings)
    assert check(ctx, platform, alone).decision == "allow"


def test_a_near_static_dark_clip_matches_nothing(
    live_ctx: ServiceContext, world: World, clips: dict[str, Any]
) -> None:
    ctx = live_ctx
    _bank(ctx, world, clips["still_banked"])
    assert ctx.live is not None and ctx.live.catch_up() == 1
    result = check(ctx, _platform(world), _upload(ctx, clips["still_upload"]))
    assert result.decision == "allow"


def test_frames_are_stored_with_their_numbers_and_low_quality_ones_are_not_banked(
    ctx: ServiceContext, world: World, clips: dict[str, Any]
) -> None:
    frames = [dict(f) for f in clips["a"][:6]]
    frames[2]["quality"] = 10
    frames[2]["pdq"] = "0" * 64  # a featureless frame's degenerate hash: accepted, dropped
    ref = _bank(ctx, world, frames)
    with ctx.store.read() as repo:
        item = repo.get_item(ref)
        assert item is not None and item.kind == "video"
        rows = [s for s in repo.list_signals(item.id) if s.type == "vpdq_frame"]
    assert [(r.frame_number, r.frame_timestamp, r.value) for r in rows] == [
        (f["frame"], f["timestamp"], f["pdq"]) for i, f in enumerate(frames) if i != 2
    ]


def test_withdrawing_a_video_takes_its_frames_out_of_the_index(
    live_ctx: ServiceContext, world: World, clips: dict[str, Any]
) -> None:
    ctx = live_ctx
    partner = world.partner("Helpline")
    receipt = create_case(ctx, partner, [ItemSubmission((), kind="video", frames=clips["a"])])
    assert ctx.live is not None and ctx.live.catch_up() == 1
    withdraw_case(ctx, partner, receipt.case_number)
    ctx.live.catch_up()
    assert ctx.live.sizes()["vpdq_frame"] == 0
    rebuilt = LiveIndexes(ctx.store, ctx.settings)
    rebuilt.build()
    assert rebuilt.sizes()["vpdq_frame"] == 0


def test_a_rebuilt_index_holds_every_frame_and_forgets_them_on_withdrawal(
    ctx: ServiceContext, world: World, clips: dict[str, Any]
) -> None:
    partner = world.partner("Helpline")
    receipt = create_case(ctx, partner, [ItemSubmission((), kind="video", frames=clips["a"])])
    live = LiveIndexes(ctx.store, ctx.settings)
    live.build()
    assert live.sizes()["vpdq_frame"] == len(clips["a"])
    withdraw_case(ctx, partner, receipt.case_number)
    live.catch_up()
    assert live.sizes()["vpdq_frame"] == 0


GOOD = {
    "frame": 0,
    "pdq": "34ada6b96d18d2491a79f80f07f2c9936fe6083dfb6983d8a4a36db40034df54",
    "quality": 90,
    "timestamp": 0.0,
}


@pytest.mark.parametrize(
    ("frames", "code", "says"),
    [
        ([{**GOOD, "pdq": "xyz"}], "invalid_hash", "frames[0]"),
        ([GOOD, {**GOOD, "frame": 0, "timestamp": 0.1}], "invalid_hash", "in order"),
        (
            [{**GOOD, "frame": 5, "timestamp": 2.0}, {**GOOD, "frame": 6, "timestamp": 1.0}],
            "invalid_hash",
            "in order",
        ),
        ([{**GOOD, "quality": 101}], "invalid_hash", "quality"),
        ([{**GOOD, "timestamp": -1}], "invalid_hash", "timestamp"),
        ([{**GOOD, "quality": 20}], "low_quality", "featureless"),
        ([], "invalid_hash", "empty"),
    ],
)
def test_bad_frame_lists_are_refused_with_a_clear_code(
    ctx: ServiceContext, world: World, frames: Frames, code: str, says: str
) -> None:
    with pytest.raises(AllItemsRefused) as caught:
        create_case(ctx, world.partner("Helpline"), [ItemSubmission((), "video", frames=frames)])
    refusal = caught.value.refusals[0]
    assert refusal.code == code and says in refusal.message


def test_frames_come_with_a_video_and_within_the_limit(ctx: ServiceContext, world: World) -> None:
    with pytest.raises(AllItemsRefused) as caught:
        create_case(ctx, world.partner("Helpline"), [ItemSubmission((), "image", frames=[GOOD])])
    assert caught.value.refusals[0].code == "invalid_input"
    few = ctx.settings.model_copy(update={"vpdq_max_frames": 2})
    many = [{**GOOD, "frame": i, "timestamp": i / 10} for i in range(3)]
    with pytest.raises(TooManyFrames, match="at most 2"):
        CheckRequest.parse([], frames=many, settings=few)
    with pytest.raises(InvalidHash, match="signals"):
        CheckRequest.parse([{"type": "vpdq_frame", "value": GOOD["pdq"], "quality": 90}])
    with pytest.raises(InvalidHash, match="mirror_frames"):
        CheckRequest.parse([], frames=[GOOD], mirror_frames=[], settings=ctx.settings)


def test_a_video_miss_on_a_platform_that_hides_hits_judges_a_video_decoy(
    live_ctx: ServiceContext,
    world: World,
    clips: dict[str, Any],
    images: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Hits answer allow there, so a miss must do a hit's work: read a banked video's frames
    # and run the video rule on them (an image decoy would read none).
    ctx = live_ctx
    partner = world.partner("Helpline")
    create_case(ctx, partner, [ItemSubmission.from_image(images["original"])])
    video_ref = create_case(ctx, partner, [ItemSubmission((), "video", frames=clips["a"])])
    assert ctx.live is not None and ctx.live.catch_up() == 2
    read: list[list[int]] = []
    original = SignalRepository.read_item_frames

    def spy(self: SignalRepository, item_ids: Any, signal_type: str) -> Any:
        read.append(sorted(item_ids))
        return original(self, item_ids, signal_type)

    monkeypatch.setattr(SignalRepository, "read_item_frames", spy)
    lenient = world.platform("Lenient Co", "lenient", PlatformPolicy(unvouched_answer="allow"))
    answer = check(ctx, lenient, _upload(ctx, clips["unrelated"]))
    assert (answer.decision, answer.matches) == ("allow", ())
    with ctx.store.read() as repo:
        video = repo.get_item(video_ref.accepted[0].item_ref)
    assert video is not None and read == [[video.id]]


def test_lists_neither_export_nor_import_frame_hashes(
    ctx: ServiceContext, world: World, clips: dict[str, Any]
) -> None:
    operator = Actor.operator()
    _bank(ctx, world, clips["a"])
    assert [line.signal_type for line in export_bank(ctx, operator)] == []
    text = f"type,value,trust,quality\nvpdq_frame,{clips['a'][0]['pdq']},vouched,90\n"
    report = import_list(
        ctx, operator, read_list(io.StringIO(text), "csv"), partner="Helpline", label="x"
    )
    assert report.items_banked == 0
    assert [(r.line, r.code) for r in report.refused] == [(2, "invalid_hash")]
