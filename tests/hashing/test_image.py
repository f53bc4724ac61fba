"""hash_image / hash_file: untrusted bytes to signals, or a HashwallError and nothing else."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from hashwall import HashMode, HashwallError, Settings, hash_file, hash_image
from hashwall.errors import FileUnreadable, MediaTooLarge
from hashwall.hashing.pdq import pdq_reference

from support import encode, textured_rgb


def test_hash_image_gives_pdq_quality_and_digests(photo_jpeg: bytes) -> None:
    result = hash_image(photo_jpeg)
    assert result.mode is HashMode.REFERENCE
    assert result.md5 == hashlib.md5(photo_jpeg).hexdigest()
    assert result.sha256 == hashlib.sha256(photo_jpeg).hexdigest()
    assert (result.width, result.height, result.format) == (320, 240, "jpeg")
    assert result.quality >= 80 and result.usable
    pixels = np.asarray(Image.open(io.BytesIO(photo_jpeg)).convert("RGB"))
    assert result.pdq == pdq_reference(pixels).hash
    assert [s.type for s in result.signals()] == ["pdq", "md5", "sha256"]
    assert result.notes == ()


def test_re_encoded_copy_is_close_and_digests_differ(photo_jpeg: bytes) -> None:
    pixels = np.asarray(Image.open(io.BytesIO(photo_jpeg)))
    copy = encode(pixels, "WEBP", quality=60)
    a, b = hash_image(photo_jpeg), hash_image(copy)
    assert a.pdq.distance(b.pdq) <= 16
    assert a.sha256 != b.sha256


def test_orientations_are_only_computed_when_asked(photo_jpeg: bytes) -> None:
    assert hash_image(photo_jpeg).orientations is None
    result = hash_image(photo_jpeg, orientations=True)
    assert result.orientations is not None and result.orientations[0] == result.pdq


def test_fast_mode_orientations_agree_with_reference() -> None:
    data = encode(textured_rgb(1600, 1200, seed=11), "JPEG", quality=92)
    fast = hash_image(data, fast=True, orientations=True)
    ref = hash_image(data, orientations=True)
    assert fast.mode is HashMode.FAST
    assert fast.orientations is not None and ref.orientations is not None
    for f, r in zip(fast.orientations, ref.orientations, strict=True):
        assert f.distance(r) <= 10
    assert (fast.width, fast.height) == (1600, 1200)


def test_featureless_image_is_marked_low_quality_and_not_a_signal() -> None:
    data = encode(np.full((64, 64, 3), 200, dtype=np.uint8), "PNG")
    result = hash_image(data)
    assert result.quality < 50 and not result.usable
    assert [n.code for n in result.notes] == ["low_quality"]
    assert [s.type for s in result.signals()] == ["md5", "sha256"]


def test_animated_gif_hashes_first_frame_and_says_so() -> None:
    frames = [Image.fromarray(textured_rgb(seed=s)) for s in (20, 21, 22)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    result = hash_image(buf.getvalue())
    assert result.animated and result.frame_count == 3
    assert [n.code for n in result.notes] == ["first_frame_only"]
    first = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    assert result.pdq.distance(pdq_reference(first).hash) <= 4


def test_settings_limits_are_honoured(photo_jpeg: bytes) -> None:
    with pytest.raises(MediaTooLarge):
        hash_image(photo_jpeg, settings=Settings(max_input_bytes=len(photo_jpeg) - 1))


def test_hash_file_refuses_a_too_large_file_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    with path.open("wb") as f:
        f.truncate(2000)
    with pytest.raises(MediaTooLarge):
        hash_file(path, settings=Settings(max_input_bytes=1000))


def test_hash_file_on_a_folder_or_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileUnreadable):
        hash_file(tmp_path)
    with pytest.raises(FileUnreadable):
        hash_file(tmp_path / "missing.jpg")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_any_bytes_give_hashes_or_a_hashwall_error(data: bytes) -> None:
    try:
        hash_image(data)
    except HashwallError as exc:
        assert exc.code and 400 <= exc.status < 500


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_damaged_images_give_hashes_or_a_hashwall_error(data: st.DataObject) -> None:
    fmt = data.draw(st.sampled_from(["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"]))
    blob = bytearray(encode(textured_rgb(64, 48, seed=1), fmt))
    for _ in range(data.draw(st.integers(0, 8))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(blob)))
    for fast in (False, True):
        try:
            hash_image(bytes(blob[:cut]), fast=fast)
        except HashwallError as exc:
            assert exc.code
