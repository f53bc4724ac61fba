"""vPDQ hashing against the sample videos of Meta's vPDQ and their expected per-frame hashes.

Runs in CI with ``CI=true``, where missing data fails instead of skipping. ``videos/`` (under
``HASHWALL_SHARED_DATA``, see tests/README.md) holds the 14 sample videos of
facebook/ThreatExchange (``tmk/sample-videos``; BSD licence) and, in ``vpdq-expected/``, the
hashes vPDQ's C++ library gives for every frame at native resolution (``NAME.txt``; the
``-128x128`` files are for frames scaled to 128x128 first and are not used here).

Cost (~50 s on a loaded 2-core machine): every frame of the 14 videos (6,776 frames) is decoded
and hashed in fast mode (PDQ's sampled Jarosz filter at native resolution); reference mode
(``pdqhash``, ~15x slower per frame) hashes one frame per second of four of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hashwall.hashing.vpdq import VpdqFeature, compute_hash
from hashwall.media.video import open_video
from hashwall.settings import Settings

from support import require_shared_data

pytestmark = pytest.mark.conformance

SAMPLES = 14
HIGH_QUALITY = 80  # the frames whose hashes are compared
MAX_BITS = 10
MIN_SHARE_WITHIN = 0.99
REFERENCE_MODE_VIDEOS = (
    "chair-19-sd-bar",
    "doorknob-hd-no-bar",
    "pattern-hd-no-bar",
    "test-padded-dimensions",
)


def _videos() -> list[Path]:
    root = require_shared_data("videos")
    videos = sorted(root.glob("*.mp4"))
    assert len(videos) == SAMPLES
    return videos


def _expected(video: Path) -> list[VpdqFeature]:
    path = video.parent / "vpdq-expected" / f"{video.stem}.txt"
    return [VpdqFeature.from_line(line) for line in path.read_text().splitlines() if line]


def _hash(video: Path, seconds_per_hash: float, *, fast: bool) -> list[VpdqFeature]:
    with open_video(video, Settings()) as opened:
        return list(compute_hash(opened, seconds_per_hash, fast=fast))


def _compare(
    name: str, got: list[VpdqFeature], expected: list[VpdqFeature], distances: list[int]
) -> None:
    """Same frame numbers and timestamps (3 decimals); distances of high-quality frames kept."""
    assert [f.frame_number for f in got] == [f.frame_number for f in expected], name
    assert [f"{f.timestamp:.3f}" for f in got] == [f"{f.timestamp:.3f}" for f in expected], name
    for mine, theirs in zip(got, expected, strict=True):
        if theirs.quality >= HIGH_QUALITY:
            distances.append(mine.hash.distance(theirs.hash))


def test_expected_files_read_back_to_their_own_lines() -> None:
    root = require_shared_data("videos", "vpdq-expected")
    files = sorted(root.glob("*.txt"))
    assert len(files) >= SAMPLES
    for path in files:
        lines = [line for line in path.read_text().splitlines() if line]
        assert [VpdqFeature.from_line(line).to_line() for line in lines] == lines, path.name


def test_every_frame_at_native_resolution_agrees_with_vpdq_sample_hashes() -> None:
    distances: list[int] = []
    for video in _videos():
        _compare(video.stem, _hash(video, 0, fast=True), _expected(video), distances)
    within = sum(d <= MAX_BITS for d in distances)
    assert len(distances) >= 5000
    assert within >= MIN_SHARE_WITHIN * len(distances), (
        f"{within} of {len(distances)} frames of quality >= {HIGH_QUALITY} within {MAX_BITS} "
        f"bits; max distance {max(distances)}"
    )


def test_reference_mode_at_one_frame_per_second_hashes_vpdq_frames_0_30_60() -> None:
    distances: list[int] = []
    root = require_shared_data("videos")
    for name in REFERENCE_MODE_VIDEOS:
        video = root / f"{name}.mp4"
        expected = _expected(video)[::30]  # 30 fps: vPDQ's frameMod is 30 at 1 s per hash
        _compare(name, _hash(video, 1.0, fast=False), expected, distances)
    assert len(distances) >= 15
    assert max(distances) <= MAX_BITS
