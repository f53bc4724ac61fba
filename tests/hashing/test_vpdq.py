"""vPDQ hashing: sampling rate, timestamps, the quality filter, collapsed runs, digests, wire."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashwall.errors import InvalidHash
from hashwall.hashing.image import hash_image
from hashwall.hashing.pdq import PdqHash
from hashwall.hashing.vpdq import (
    VideoHashes,
    VpdqFeature,
    collapse_runs,
    frame_mod,
    hash_video,
    quality_filter,
)
from hashwall.settings import Settings

from support import textured_rgb
from video_samples import encode_clip, panning_frames

WIDTH, HEIGHT = 96, 64


def _panning(n: int, seed: int = 0) -> list[np.ndarray]:
    """n frames of a textured picture panning 3 pixels right per frame."""
    return list(panning_frames(n, WIDTH, HEIGHT, seed))


def _mp4(frames: list[np.ndarray], fps: int = 10) -> bytes:
    return encode_clip(frames, "mp4", fps)


def _feature(frame: int, h: str, quality: int = 100) -> VpdqFeature:
    return VpdqFeature(frame, PdqHash.from_hex(h), quality, frame / 10)


A, B = "a" * 64, "5" * 64


@pytest.fixture(scope="module")
def two_seconds() -> bytes:
    """2 s at 10 fps, every frame different."""
    return _mp4(_panning(20))


def test_frame_mod_is_seconds_per_hash_times_fps_truncated_as_vpdq_does() -> None:
    assert frame_mod(1.0, 30.0) == 30
    assert frame_mod(1.0, 29.97) == 29
    assert frame_mod(0.5, 25.0) == 12
    assert frame_mod(0, 30.0) == 1  # every frame
    assert frame_mod(1.0, 0.5) == 1  # slower than one frame per second: every frame
    with pytest.raises(ValueError):
        frame_mod(-1, 30.0)


def test_default_is_one_frame_per_second_timed_by_frame_number_over_fps(
    two_seconds: bytes,
) -> None:
    result = hash_video(two_seconds)
    assert [(f.frame_number, f.timestamp) for f in result.frames] == [(0, 0.0), (10, 1.0)]
    assert result.frames_decoded == 20
    assert result.duration == pytest.approx(2.0)
    assert (result.width, result.height, result.fps) == (WIDTH, HEIGHT, 10.0)


def test_every_frame_is_hashed_when_seconds_per_hash_is_zero(two_seconds: bytes) -> None:
    result = hash_video(two_seconds, seconds_per_hash=0)
    assert [f.frame_number for f in result.frames] == list(range(20))
    assert [f.timestamp for f in result.frames] == [round(i / 10, 3) for i in range(20)]
    assert result.frames_hashed == 20


def test_the_rate_comes_from_settings_unless_given(two_seconds: bytes) -> None:
    result = hash_video(two_seconds, settings=Settings(vpdq_seconds_per_hash=0.5))
    assert [f.frame_number for f in result.frames] == [0, 5, 10, 15]


def test_timestamps_have_three_decimals_at_an_odd_rate() -> None:
    result = hash_video(_mp4(_panning(8), fps=3), seconds_per_hash=0)
    assert [f.timestamp for f in result.frames] == [
        0.0,
        0.333,
        0.667,
        1.0,
        1.333,
        1.667,
        2.0,
        2.333,
    ]
    assert result.frames[1].to_line().endswith(",0.333")


def test_frame_hashes_follow_the_picture(two_seconds: bytes) -> None:
    result = hash_video(two_seconds, seconds_per_hash=0)
    frames = _panning(20)
    for feature in result.frames[::5]:
        image = hash_image(_png(frames[feature.frame_number]))
        assert feature.hash.distance(image.pdq) <= 20
    assert result.frames[0].hash.distance(result.frames[19].hash) > 20


def test_fast_mode_agrees_with_reference_mode(two_seconds: bytes) -> None:
    reference = hash_video(two_seconds, seconds_per_hash=0)
    fast = hash_video(two_seconds, seconds_per_hash=0, fast=True)
    assert [f.frame_number for f in fast.frames] == [f.frame_number for f in reference.frames]
    pairs = zip(fast.frames, reference.frames, strict=True)
    assert max(a.hash.distance(b.hash) for a, b in pairs) <= 4


def test_a_still_scene_collapses_to_its_first_frame() -> None:
    still = textured_rgb(WIDTH, HEIGHT, seed=3)
    frames = [still] * 10 + _panning(5, seed=4) + [still] * 5
    result = hash_video(_mp4(frames), seconds_per_hash=0)
    numbers = [f.frame_number for f in result.frames]
    assert numbers[0] == 0 and 1 not in numbers
    assert result.frames_hashed == 20
    assert len(numbers) < 20
    assert all(a.hash != b.hash for a, b in itertools.pairwise(result.frames))


def test_collapse_runs_keeps_the_first_of_each_run_and_later_repeats() -> None:
    features = [_feature(0, A), _feature(1, A), _feature(2, B), _feature(3, A), _feature(4, A)]
    assert [f.frame_number for f in collapse_runs(features)] == [0, 2, 3]


def test_quality_filter_drops_frames_below_50() -> None:
    features = [_feature(0, A, 49), _feature(1, B, 50), _feature(2, A, 100)]
    assert [f.frame_number for f in quality_filter(features)] == [1, 2]


def test_a_featureless_video_keeps_no_frame_and_says_low_quality() -> None:
    grey = np.full((HEIGHT, WIDTH, 3), 128, dtype=np.uint8)
    result = hash_video(_mp4([grey] * 10), seconds_per_hash=0)
    assert result.frames == ()
    assert result.frames_hashed == 10
    assert not result.usable
    assert [n.code for n in result.notes] == ["low_quality"]


def test_digests_are_of_the_file_bytes_for_every_kind_of_source(
    two_seconds: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "v.mp4"
    path.write_bytes(two_seconds)
    results = [hash_video(s) for s in (two_seconds, path, io.BytesIO(two_seconds))]
    assert {r.md5 for r in results} == {hashlib.md5(two_seconds).hexdigest()}
    assert {r.sha256 for r in results} == {hashlib.sha256(two_seconds).hexdigest()}
    assert results[0] == results[1] == results[2]


def test_an_animated_gif_is_hashed_as_a_video_and_keeps_its_first_frame_as_an_image() -> None:
    frames = [Image.fromarray(f) for f in _panning(15)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    data = buf.getvalue()
    result = hash_video(data)
    assert result.container == "gif"
    assert [f.frame_number for f in result.frames] == [0, 10]
    image = hash_image(data)
    assert result.first_frame is not None
    assert (result.first_frame.hash, result.first_frame.quality) == (image.pdq, image.quality)


def test_a_plain_video_of_several_scenes_has_no_first_frame_signal() -> None:
    # 5 s of a pan: 5 frames of several scenes (a shorter clip is hashed as a still picture).
    assert hash_video(_mp4(_panning(50))).first_frame is None


def test_wire_form_round_trips(two_seconds: bytes) -> None:
    result = hash_video(two_seconds, seconds_per_hash=0.5)
    assert VideoHashes.from_wire(result.to_wire()) == result


def test_vpdq_lines_round_trip_and_bad_lines_are_invalid_hash() -> None:
    line = "12,87,e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,0.400"
    assert VpdqFeature.from_line(line).to_line() == line
    for bad in ("12,87,abc,0.4", "x,87," + A + ",0.4", "1,101," + A + ",0.4", "1,2,3"):
        with pytest.raises(InvalidHash):
            VpdqFeature.from_line(bad)


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def test_a_decoder_worker_can_hash_a_video_within_its_memory_limit(
    two_seconds: bytes, tmp_path: Path
) -> None:
    # What the sandbox worker will run: bytes in, one thread, RLIMIT_AS as decode_memory_limit.
    script = (
        "import json, resource, sys\n"
        "limit = int(sys.argv[2])\n"
        "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
        "from hashwall.hashing.vpdq import hash_video\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "print(json.dumps(hash_video(data, threads=1).to_wire()))\n"
    )
    path = tmp_path / "clip.mp4"
    path.write_bytes(two_seconds)
    limit = Settings().decode_memory_limit
    done = subprocess.run(
        [sys.executable, "-c", script, str(path), str(limit)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert VideoHashes.from_wire(json.loads(done.stdout)) == hash_video(two_seconds)
