"""Still videos (a photo shown for a few seconds): too few scenes for the video rule, so
``hash_video`` hashes the best frame as a photo too (``VideoHashes.first_frame``), which the
clients send as a ``pdq`` signal. Videos are made with PyAV from the shared photos."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from hashwall import client as sdk
from hashwall.cli.main import app
from hashwall.hashing.image import hash_image
from hashwall.hashing.pdq import PdqHash
from hashwall.hashing.signals import MAX_PDQ_THRESHOLD
from hashwall.hashing.video_match import VideoFrames, key_frames, match_video
from hashwall.hashing.video_scenes import DEFAULT_DISTINCT_BITS, DEFAULT_MIN_FRAMES
from hashwall.hashing.vpdq import VideoHashes, VpdqFeature, hash_video, is_still

from support import require_shared_data, textured_rgb
from video_samples import encode_clip

FPS = 10
PHOTO, OTHER = "kphotoalbum/kphotoalbum_0002.jpg", "kphotoalbum/kphotoalbum_0003.jpg"


def _photo(name: str) -> bytes:
    return require_shared_data("photos", name).read_bytes()


def _pixels(data: bytes) -> np.ndarray:
    """The photo's RGB pixels cropped to even sides (what yuv420p needs)."""
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    h, w = rgb.shape[:2]
    return np.ascontiguousarray(rgb[: h // 2 * 2, : w // 2 * 2])


def _still(pixels: np.ndarray, seconds: float = 6, fps: int = FPS, **options: str) -> bytes:
    return encode_clip([pixels] * round(seconds * fps), "mp4", fps, options=options or None)


def _decoded(data: bytes) -> Iterator[np.ndarray]:
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


@pytest.fixture(scope="module")
def photo() -> bytes:
    return _photo(PHOTO)


@pytest.fixture(scope="module")
def still(photo: bytes) -> bytes:
    """6 s of the photo at 10 fps, H.264."""
    return _still(_pixels(photo))


@pytest.fixture(scope="module")
def reencode(still: bytes) -> bytes:
    """The still decoded and encoded again: smaller, at a low bitrate, at half the rate, WebM."""
    small = (
        np.asarray(Image.fromarray(f).resize((352, 264), Image.Resampling.BILINEAR))
        for f in list(_decoded(still))[::2]
    )
    return encode_clip(small, "webm", FPS // 2, options={"crf": "45", "b": "0"})


def test_a_still_video_is_hashed_as_the_photo_it_shows(still: bytes, photo: bytes) -> None:
    video = hash_video(still, mirror=True)
    assert len(video.frames) < DEFAULT_MIN_FRAMES  # the video rule cannot match it
    assert [n.code for n in video.notes] == ["still_picture"]
    first = video.first_frame
    image = hash_image(photo, orientations=True)
    assert first is not None and first.quality >= 50
    assert first.hash.distance(image.pdq) <= MAX_PDQ_THRESHOLD
    # Its 8 dihedral hashes are the photo's, orientation by orientation.
    assert first.orientations is not None and image.orientations is not None
    assert first.orientations[0] == first.hash
    assert all(
        a.distance(b) <= MAX_PDQ_THRESHOLD
        for a, b in zip(first.orientations, image.orientations, strict=True)
    )
    assert hash_video(still).first_frame == type(first)(first.hash, first.quality)


def test_a_still_matches_its_reencode_by_its_picture_and_not_by_its_frames(
    still: bytes, reencode: bytes
) -> None:
    banked, upload = hash_video(still), hash_video(reencode, mirror=True)
    assert banked.first_frame is not None and upload.first_frame is not None
    assert upload.width == 352 and upload.fps == FPS // 2
    assert banked.first_frame.hash.distance(upload.first_frame.hash) <= MAX_PDQ_THRESHOLD
    by_frames = match_video(VideoFrames.from_video(upload), VideoFrames.from_video(banked))
    assert not by_frames.match and by_frames.reason == "too_few_ordered_frames"


def test_an_unrelated_still_has_another_picture(still: bytes) -> None:
    mine, other = hash_video(still), hash_video(_still(_pixels(_photo(OTHER))))
    assert mine.first_frame is not None and other.first_frame is not None
    assert mine.first_frame.hash.distance(other.first_frame.hash) > 2 * MAX_PDQ_THRESHOLD


@pytest.mark.parametrize("level", [0, 40])
def test_a_black_or_dark_still_gets_no_picture(level: int) -> None:
    rng = np.random.default_rng(1)
    dark = textured_rgb(320, 240, seed=1).astype(np.float64) * level / 255
    noisy = [np.clip(dark + rng.normal(0, 1, dark.shape), 0, 255).astype(np.uint8)] * 60
    video = hash_video(encode_clip(noisy, "mp4", FPS), mirror=True)
    assert video.first_frame is None and video.frames == ()
    assert [n.code for n in video.notes] == ["low_quality"]


def test_a_pan_across_the_photo_is_a_video_not_a_still(photo: bytes) -> None:
    pixels = _pixels(photo)
    w = pixels.shape[1]
    width, count = w // 2 // 2 * 2, 6 * FPS
    pan = [
        np.ascontiguousarray(pixels[:, x : x + width])
        for x in (i * (w - width) // (count - 1) for i in range(count))
    ]
    video = hash_video(encode_clip(pan, "mp4", FPS), mirror=True)
    frames = VideoFrames.from_video(video)
    assert len(key_frames(frames.words, DEFAULT_DISTINCT_BITS)) >= DEFAULT_MIN_FRAMES
    assert video.first_frame is None and video.notes == ()


def _features(hexes: list[str]) -> list[VpdqFeature]:
    return [VpdqFeature(i, PdqHash.from_hex(h), 100, float(i)) for i, h in enumerate(hexes)]


def _away(bits: int) -> str:
    """A hash ``bits`` bits from zero."""
    return f"{(1 << bits) - 1:064x}"


def test_is_still_is_fewer_scenes_than_the_video_rule_needs_by_its_cut() -> None:
    zero = "0" * 64
    near, far, farther = _away(DEFAULT_DISTINCT_BITS), _away(40), _away(90)
    cases = {
        "one frame": [zero],
        "noise around one picture": [zero, near, zero, near],
        "two scenes": [zero, far, far],
        "three scenes": [zero, far, farther],
        "no frame": [],
    }
    for name, hexes in cases.items():
        features = _features(hexes)
        scenes = key_frames(VideoFrames.from_features(features).words, DEFAULT_DISTINCT_BITS)
        assert is_still(features) == (0 < len(scenes) < DEFAULT_MIN_FRAMES), name
    assert [is_still(_features(h)) for h in cases.values()] == [True, True, True, False, False]


def test_a_stills_picture_goes_over_the_wire_and_in_the_clients_bodies(still: bytes) -> None:
    video = hash_video(still, mirror=True)
    assert video.first_frame is not None
    assert VideoHashes.from_wire(video.to_wire()) == video  # what a decoder worker sends
    pdq = {"type": "pdq", "value": video.first_frame.hash.hex, "quality": video.first_frame.quality}
    banked = sdk.item_body(hash_video(still))  # hashwall case create, Client.create_case
    assert pdq in banked["signals"] and "pdq_orientations" not in banked
    checked = sdk.upload_body(video)  # hashwall check, Client.check
    assert pdq in checked["signals"]
    assert checked["pdq_orientations"] == [h.hex for h in video.first_frame.orientations or ()]


def test_hashwall_hash_prints_a_stills_picture(still: bytes, tmp_path: Path) -> None:
    path = tmp_path / "still.mp4"
    path.write_bytes(still)
    result = CliRunner().invoke(app, ["hash", "--json", str(path)])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    first = hash_video(still).first_frame
    assert first is not None
    assert (record["pdq"], record["quality"]) == (first.hash.hex, first.quality)
    assert [n["code"] for n in record["notes"]] == ["still_picture"]
