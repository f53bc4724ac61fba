"""Videos matched locally against a feed copy (``LocalBank`` over the folder ``hashwall feed
sync`` keeps) answer as the service's check does: a banked clip inside a longer video matches
with the same decision, shares and ranges; an unrelated video, and the clip once its item is
withdrawn and the copy re-synced, are ``allow``. Clips are made in code, small."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hashwall.cli.feed import sync
from hashwall.domain import Actor, PlatformPolicy
from hashwall.hashing.vpdq import VideoHashes, hash_video
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.feed_copy import FeedCopy
from hashwall.service.indexes import LiveIndexes
from hashwall.service.intake import ItemSubmission, create_case
from hashwall.service.local_match import LocalBank
from hashwall.service.video import UploadFrames

from bank_ops import withdraw
from feed_harness import InProcess
from video_samples import SMALL_FPS, encode_clip, small_panning

if TYPE_CHECKING:
    from conftest import World

FPS = SMALL_FPS


@pytest.fixture(scope="module")
def videos() -> dict[str, VideoHashes]:
    """Hashed once per module: the banked clip (every frame), and uploads at 1 fps with their
    mirrored frames (as ``hashwall check`` and ``hashwall match`` hash them)."""
    clip, host = small_panning(8, seed=7), small_panning(24, seed=8)
    inside = itertools.chain(host[:125], clip, host[125:])  # at 12.5 s of 32 s
    return {
        "banked": hash_video(encode_clip(clip, "mp4", FPS), seconds_per_hash=0),
        "inside": hash_video(encode_clip(inside, "mp4", FPS), mirror=True),
        "unrelated": hash_video(encode_clip(small_panning(12, seed=9), "mp4", FPS), mirror=True),
    }


def _bank(ctx: ServiceContext, actor: Actor, hashes: VideoHashes) -> str:
    frames = [f.to_dict() for f in hashes.frames]
    receipt = create_case(ctx, actor, [ItemSubmission((), kind="video", frames=frames)])
    return receipt.accepted[0].item_ref


def _local(ctx: ServiceContext, folder: Path) -> LocalBank:
    """Sync the platform's feed into ``folder`` (first sync or re-sync) and load the copy."""
    sync(InProcess(ctx, "video"), FeedCopy.open(folder, "local"), limit=50)
    return LocalBank.load(folder)


@pytest.mark.parametrize("trust", ["vouched", "unvouched"])
def test_a_video_matches_locally_as_in_the_service_until_withdrawn(
    ctx: ServiceContext, world: World, videos: dict[str, VideoHashes], tmp_path: Path, trust: str
) -> None:
    ctx.live = LiveIndexes(ctx.store, ctx.settings)
    ctx.live.build()
    platform = world.platform("Example", "video", PlatformPolicy(reveal_distance=True))
    actor = world.partner("Helpline") if trust == "vouched" else Actor.reporter()
    ref = _bank(ctx, actor, videos["banked"])
    assert ctx.live.catch_up() == 1
    folder = tmp_path / "copy"
    local = _local(ctx, folder)
    assert len(local) == 1

    inside = CheckRequest.from_video(videos["inside"])
    theirs = check(ctx, platform, inside)
    mine = local.match(inside)
    expected = "block" if trust == "vouched" else "review"
    assert (mine.decision, mine.reason) == (theirs.decision, theirs.reason) == (expected, "match")
    assert [m.item_ref for m in mine.matches] == [ref]
    match = mine.matches[0]
    assert match.signal_type == "vpdq_frame" and match.distance is None
    assert match.video is not None and theirs.matches[0].video is not None
    assert match.video.to_dict() == theirs.matches[0].video.to_dict()  # the same rule, same answer
    assert match.video.banked_frames_matched_pct >= 80
    assert match.video.upload_frames_matched_pct < 50
    assert match.video.upload_ranges[0].start >= 11 and match.video.upload_ranges[-1].end <= 22

    unrelated = CheckRequest.from_video(videos["unrelated"])
    assert check(ctx, platform, unrelated).decision == "allow"
    assert (local.match(unrelated).decision, local.match(unrelated).reason) == (
        "allow",
        "no_match",
    )

    assert withdraw(ctx.store, ref)
    assert check(ctx, platform, inside).decision == "allow"
    again = _local(ctx, folder)
    assert len(again) == 0
    assert again.match(inside).decision == "allow" and not again.match(inside).matches


def test_a_frame_found_is_still_judged_by_the_video_rule(
    videos: dict[str, VideoHashes],
) -> None:
    """A candidate found by a frame is judged by the video rule before it answers: a banked
    "video" of one frame, equal to a frame of the upload, is found but never matches (too few
    ordered frames), however low the policy's shares."""
    upload = videos["inside"]
    same = upload.frames[len(upload.frames) // 2]
    frame = {"type": "vpdq_frame", "value": same.hash.hex, "quality": same.quality,
             "frame_number": 0, "frame_timestamp": 0.0}  # fmt: skip
    items: dict[str, Any] = {
        "one-frame": {"kind": "video", "trust": "vouched", "state": "active", "signals": [frame]},
    }
    local = LocalBank(items, {"video_upload_percent": 1, "video_bank_percent": 1})
    assert local.video_policy.video_bank_percent == 1
    answer = local.match(CheckRequest.from_video(upload))
    assert (answer.decision, answer.reason, answer.matches) == ("allow", "no_match", ())
    # A video none of whose frames is usable is low quality, as the service's check says.
    featureless = local.match(CheckRequest((), frames=UploadFrames((), ())))
    assert (featureless.decision, featureless.reason) == ("allow", "low_quality")
