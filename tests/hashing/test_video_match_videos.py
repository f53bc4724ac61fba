"""The video rule on real video: clips made in code with PyAV (a banked clip inside a longer
upload, an unrelated video, dark and near-static clips, a mirrored upload) and the reference
videos of the shared data (the chairs match each other, nothing else)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import numpy as np
import pytest
from PIL import Image

from hashwall.hashing.video_match import VideoFrames, VideoMatch, match_video
from hashwall.hashing.vpdq import VpdqFeature, collapse_runs, hash_video, quality_filter

from support import require_shared_data, textured_rgb
from video_samples import encode_clip, panning_frames

WIDTH, HEIGHT, FPS = 128, 96, 10


def panning(seconds: float, seed: int, speed: int = 2) -> Iterator[np.ndarray]:
    """A textured picture panning ``speed`` pixels right per frame."""
    return panning_frames(round(seconds * FPS), WIDTH, HEIGHT, seed, speed)


def still(seconds: float, seed: int, level: int, noise: float = 1.0) -> Iterator[np.ndarray]:
    """A picture dimmed to ``level`` (of 255) that does not move, with a little sensor noise."""
    rng = np.random.default_rng(seed)
    base = textured_rgb(WIDTH, HEIGHT, seed=seed).astype(np.float64) * level / 255
    for _ in range(round(seconds * FPS)):
        yield np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8)


def mp4(frames: Iterable[np.ndarray]) -> bytes:
    """H.264 in MP4 at the module's frame rate."""
    return encode_clip(frames, "mp4", FPS)


def frames_of(data: bytes, *, every_frame: bool = False, mirror: bool = False) -> VideoFrames:
    """One frame a second (the default rate), or every frame (a densely hashed bank)."""
    hashed = hash_video(data, seconds_per_hash=0 if every_frame else None, mirror=mirror)
    return VideoFrames.from_video(hashed)


def embedded(clip: list[np.ndarray], host_seconds: float, at_seconds: float) -> bytes:
    """``clip`` spliced into an unrelated panning video at ``at_seconds``."""
    cut = round(at_seconds * FPS)
    host = panning(host_seconds, seed=8)
    return mp4(itertools.chain(itertools.islice(host, cut), clip, host))


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    """The banked clip: 10 s of a panning picture."""
    return list(panning(10, seed=7))


@pytest.fixture(scope="module")
def banked_every_frame(clip: list[np.ndarray]) -> VideoFrames:
    return frames_of(mp4(clip), every_frame=True)


def test_a_banked_clip_inside_a_longer_upload_matches_by_the_banked_share(
    clip: list[np.ndarray], banked_every_frame: VideoFrames
) -> None:
    # At 25.5 s: the upload's one-a-second samples fall between the clip's own.
    upload = frames_of(embedded(clip, host_seconds=50, at_seconds=25.5))
    result = match_video(upload, banked_every_frame)
    assert result.match and result.reason == "banked_percent"
    assert result.banked_frames_matched_pct >= 90
    assert result.upload_frames_matched_pct < 30
    assert len(result.upload_ranges) == 1
    assert 25.5 <= result.upload_ranges[0].start <= 27
    assert 34 <= result.upload_ranges[0].end <= 35.5


def test_a_clip_banked_at_one_frame_a_second_matches_when_the_samples_line_up(
    clip: list[np.ndarray],
) -> None:
    upload = frames_of(embedded(clip, host_seconds=50, at_seconds=20))
    result = match_video(upload, frames_of(mp4(clip)))
    assert result.match and result.banked_frames_matched_pct == 100.0


def zooming(seconds: float, seed: int, fps: int = FPS) -> Iterator[np.ndarray]:
    """A picture zoomed into slowly (its centre grows 1.5x over the clip)."""
    source = Image.fromarray(textured_rgb(WIDTH * 2, HEIGHT * 2, seed=seed))
    count = round(seconds * fps)
    for i in range(count):
        scale = 1 + 0.5 * i / count
        w, h = round(WIDTH * 2 / scale), round(HEIGHT * 2 / scale)
        x, y = (WIDTH * 2 - w) // 2, (HEIGHT * 2 - h) // 2
        box = source.resize((WIDTH, HEIGHT), Image.Resampling.BILINEAR, (x, y, x + w, y + h))
        yield np.asarray(box)


def resized(frames: Iterable[np.ndarray], width: int, height: int) -> Iterator[np.ndarray]:
    for f in frames:
        yield np.asarray(Image.fromarray(f).resize((width, height), Image.Resampling.BILINEAR))


@pytest.mark.parametrize(
    "copy",
    ["low_bitrate", "half_the_frame_rate", "trimmed", "larger", "webm"],
)
def test_a_banked_clip_matches_its_reencodes(
    copy: str, clip: list[np.ndarray], banked_every_frame: VideoFrames
) -> None:
    data = {
        "low_bitrate": lambda: encode_clip(clip, "mp4", FPS, options={"crf": "40"}),
        "half_the_frame_rate": lambda: encode_clip(clip[::2], "mp4", FPS // 2),
        "trimmed": lambda: mp4(clip[25:85]),
        "larger": lambda: encode_clip(resized(clip, 256, 192), "avi", FPS),
        "webm": lambda: encode_clip(clip, "webm", FPS),
    }[copy]()
    result = match_video(frames_of(data, mirror=True), banked_every_frame)
    assert result.match, (copy, result)
    assert result.upload_frames_matched_pct >= 90


def test_a_zooming_clip_matches_its_reencode_and_not_another_zoom() -> None:
    banked = frames_of(mp4(zooming(10, seed=3)), every_frame=True)
    upload = encode_clip(resized(zooming(10, seed=3, fps=25), 176, 132), "mp4", 25)
    assert match_video(frames_of(upload, mirror=True), banked).match
    other = frames_of(mp4(zooming(10, seed=4)), mirror=True)
    assert not match_video(other, banked).match


def test_an_unrelated_video_does_not_match(banked_every_frame: VideoFrames) -> None:
    result = match_video(frames_of(mp4(panning(30, seed=9))), banked_every_frame)
    assert not result.match
    assert result.upload_frames_matched_pct == 0.0


def test_a_mirrored_upload_matches_through_its_mirrored_frame_hashes(
    clip: list[np.ndarray], banked_every_frame: VideoFrames
) -> None:
    data = mp4(np.ascontiguousarray(f[:, ::-1]) for f in clip)
    result = match_video(frames_of(data, mirror=True), banked_every_frame)
    assert result.match and result.mirrored
    assert not match_video(frames_of(data), banked_every_frame).match


def test_mirror_hashes_are_the_hashes_of_the_mirrored_frames(clip: list[np.ndarray]) -> None:
    upload = hash_video(mp4(clip), mirror=True)
    flipped = hash_video(mp4(np.ascontiguousarray(f[:, ::-1]) for f in clip))
    assert len(upload.frames) == len(flipped.frames)
    for ours, theirs in zip(upload.frames, flipped.frames, strict=True):
        assert ours.mirror is not None
        # Encoded apart, the two differ by encoder noise: within the frame threshold.
        assert ours.mirror.distance(theirs.hash) <= 31
    wire = upload.to_wire()["frames"][0]
    assert VpdqFeature.from_dict(wire) == upload.frames[0]
    assert "mirror" not in flipped.to_wire()["frames"][0]


def test_a_near_static_clip_does_not_match_a_video_of_the_same_still() -> None:
    # Every frame matches (100% both ways), but a still is one key frame: no ordered chain.
    clip = frames_of(mp4(still(10, seed=1, level=90)))
    long_still = frames_of(mp4(still(30, seed=1, level=90)), every_frame=True)
    assert len(clip) >= 1
    result = match_video(clip, long_still)
    assert result.upload_frames_matched_pct == 100.0
    assert not result.match and result.reason == "too_few_ordered_frames"


def test_a_dark_clip_does_not_match_another_dark_video() -> None:
    dark = frames_of(mp4(still(10, seed=1, level=12)))
    other = frames_of(mp4(still(30, seed=2, level=12)), every_frame=True)
    assert len(dark) == 0  # every frame below quality 50: nothing to match on
    assert not match_video(dark, other).match


@pytest.mark.slow
def test_a_banked_clip_inside_a_five_minute_upload_matches(
    clip: list[np.ndarray], banked_every_frame: VideoFrames
) -> None:
    upload = frames_of(embedded(clip, host_seconds=290, at_seconds=150.5))
    result = match_video(upload, banked_every_frame)
    assert result.match and result.reason == "banked_percent"
    assert result.upload_frames_matched_pct < 5


# The reference videos. The chairs are re-cuts of one clip; chair-19 starts 1.7 s into it, so
# at one frame a second its samples fall 0.7 s from the others' and, the scene changing fast
# (frames 1/6 s apart are 50 to 100 bits apart), no 1-fps sample of it is near one of theirs:
# the bank is hashed at every frame, the uploads at one frame a second.
CHAIRS = (
    "chair-19-sd-bar",
    "chair-20-sd-bar",
    "chair-22-sd-grey-bar",
    "chair-22-sd-sepia-bar",
    "chair-22-with-small-logo-bar",
    "chair-orig-22-sd-bar",
)
OTHERS = (
    "pattern-hd-no-bar",
    "pattern-longer-no-bar",
    "pattern-sd-grey-bar",
    "pattern-sd-with-large-logo-bar",
    "pattern-sd-with-small-logo-bar",
    "doorknob-hd-no-bar",
)


def expected_frames(name: str, every: int = 1) -> VideoFrames:
    """A reference video's every-frame hashes as vPDQ gave them, one in ``every`` kept (30:
    one a second at their 30 fps), filtered and collapsed as hash_video does."""
    path = require_shared_data("videos", "vpdq-expected", f"{name}.txt")
    features = [VpdqFeature.from_line(line) for line in path.read_text().splitlines() if line]
    sampled = [f for f in features if f.frame_number % every == 0]
    return VideoFrames.from_features(list(collapse_runs(quality_filter(sampled))))


def cross(
    uploads: dict[str, VideoFrames], bank: dict[str, VideoFrames]
) -> dict[tuple[str, str], VideoMatch]:
    return {(a, b): match_video(up, bank[b]) for a, up in uploads.items() for b in bank}


def test_the_chairs_match_each_other_and_nothing_else_from_their_vpdq_hashes() -> None:
    names = CHAIRS + OTHERS
    uploads = {n: expected_frames(n, every=30) for n in names}
    bank = {n: expected_frames(n) for n in names}
    results = cross(uploads, bank)
    for (a, b), result in results.items():
        if a in CHAIRS and b in CHAIRS:
            assert result.match, (a, b, result)
            assert min(result.upload_frames_matched_pct, result.banked_frames_matched_pct) >= 80
        elif (a in CHAIRS) != (b in CHAIRS):
            assert not result.match, (a, b, result)
            assert result.upload_frames_matched_pct == 0.0, (a, b)


@pytest.mark.slow
def test_the_chairs_hashed_here_match_each_other_and_nothing_else() -> None:
    videos = require_shared_data("videos")
    names = CHAIRS + OTHERS
    uploads = {n: VideoFrames.from_video(hash_video(videos / f"{n}.mp4")) for n in names}
    bank = {
        n: VideoFrames.from_video(hash_video(videos / f"{n}.mp4", seconds_per_hash=0))
        for n in CHAIRS
    }
    for (a, b), result in cross(uploads, bank).items():
        assert result.match == (a in CHAIRS), (a, b, result)
