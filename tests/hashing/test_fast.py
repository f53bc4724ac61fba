"""Fast-mode PDQ (``hashwall.hashing.fast``) against the reference C++ ``pdqhash``.

The tests marked ``conformance`` also run on the reference data, and skip without it.

The reference data is not in this repository; ``HASHWALL_SHARED_DATA`` names the folder that
holds it (see tests/README.md). ``pdq-reference/``: the PDQ test images of
facebook/ThreatExchange (its ``pdq/data/`` folder and python-threatexchange's test images; BSD
licence), with ``expected.tsv``, the reference hashes that repository's tests and READMEs give
for them. ``photos/``: a corpus of openly licensed photographs (desktop wallpapers and sample
photos shipped in Debian, PyPI and npm packages).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from hashwall.bench.hashing import run_hash_bench
from hashwall.hashing import fast
from hashwall.hashing.fast import FAST_DRAFT_MIN_SIDE, downsample_64x64, pdq_fast, pdq_full
from hashwall.hashing.pdq import MIN_QUALITY, ORIENTATIONS, Orientation, pdq_reference
from hashwall.media.decode import decode_image
from hashwall.settings import Settings

from support import encode, require_shared_data, textured_rgb

# (width, height): odd and even box windows, sides not multiples of 64, upsampling (< 64),
# the reference's 64 x 64 shortcut, a wallpaper and the smallest hashable image.
SIZES = [(320, 240), (641, 479), (1024, 640), (200, 333), (64, 64), (50, 90), (5, 7), (1500, 97)]


def _fast_from_jpeg(data: bytes):  # type: ignore[no-untyped-def]
    image = decode_image(data, Settings(), draft_min_side=FAST_DRAFT_MIN_SIDE)
    return pdq_fast(image.pixels, full_size=(image.height, image.width))


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_full_pipeline_reproduces_pdqhash_bit_for_bit(width: int, height: int) -> None:
    img = textured_rgb(width, height, seed=width + height)
    ours = pdq_full(img, dihedral=True)
    ref = pdq_reference(img, dihedral=True)
    assert ours.hash == ref.hash
    assert ours.quality == ref.quality
    assert ours.orientations == ref.orientations


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_fast_on_full_resolution_pixels_is_within_float_rounding_of_reference(
    width: int, height: int
) -> None:
    img = textured_rgb(width, height, seed=width * height)
    ours = pdq_fast(img)
    ref = pdq_reference(img)
    assert ours.hash.distance(ref.hash) <= 2
    assert abs(ours.quality - ref.quality) <= 1


def test_sampled_filter_equals_full_image_filter_at_the_decimation_points() -> None:
    img = textured_rgb(777, 555, seed=7)
    kernels = fast._kernels()
    full = kernels.jarosz_decimate_reference(kernels.luminance(img))
    np.testing.assert_allclose(downsample_64x64(img), full, rtol=0, atol=1e-3)


def test_image_smaller_than_five_pixels_gets_the_references_empty_hash() -> None:
    img = textured_rgb(40, 4, seed=1)
    ref = pdq_reference(img)
    for ours in (pdq_fast(img), pdq_full(img)):
        assert ours.hash == ref.hash
        assert ours.quality == ref.quality == 0


def test_dihedral_hashes_match_reference_in_compute_dihedral_order() -> None:
    img = textured_rgb(400, 300, seed=11)
    ours = pdq_fast(img, dihedral=True)
    ref = pdq_reference(img, dihedral=True)
    assert ours.orientations is not None and ref.orientations is not None
    assert len(ours.orientations) == len(ORIENTATIONS) == 8
    assert ours.orientations[0] == ours.hash
    for mine, theirs in zip(ours.orientations, ref.orientations, strict=True):
        assert mine.distance(theirs) <= 2


def test_each_dihedral_hash_is_the_hash_of_the_image_turned_that_way() -> None:
    img = textured_rgb(256, 256, seed=5)
    turned = {
        Orientation.ORIGINAL: img,
        Orientation.ROTATE90: np.rot90(img, 1),  # counter-clockwise
        Orientation.ROTATE180: np.rot90(img, 2),
        Orientation.ROTATE270: np.rot90(img, 3),
        Orientation.FLIP_X: img[::-1],  # mirrored over the horizontal axis
        Orientation.FLIP_Y: img[:, ::-1],
        Orientation.FLIP_PLUS1: img.transpose(1, 0, 2),
        Orientation.FLIP_MINUS1: np.rot90(img, 2).transpose(1, 0, 2),
    }
    result = pdq_fast(img, dihedral=True)
    assert result.orientations is not None
    for orientation, pixels in turned.items():
        h = pdq_fast(np.ascontiguousarray(pixels)).hash
        distances = [h.distance(o) for o in result.orientations]
        # PDQ's sampling grid is not exactly symmetric, so a turn costs a few bits, no more.
        assert int(np.argmin(distances)) == ORIENTATIONS.index(orientation)
        assert min(distances) <= 40
        assert sorted(distances)[1] >= 80


def test_flat_image_is_low_quality() -> None:
    flat = np.full((300, 400, 3), 120, dtype=np.uint8)
    gentle = np.repeat(np.linspace(100, 110, 400, dtype=np.uint8)[None, :, None], 300, 0)
    gentle = np.repeat(gentle, 3, axis=2)
    for img in (flat, gentle):
        assert pdq_fast(img).quality < MIN_QUALITY
        assert not pdq_fast(img).usable


def test_textured_image_is_high_quality() -> None:
    assert pdq_fast(textured_rgb(640, 480)).quality >= 80


def test_fast_mode_on_reduced_jpeg_decode_is_close_to_reference() -> None:
    data = encode(textured_rgb(1024, 768, seed=3), "JPEG", quality=90)
    reduced = decode_image(data, Settings(), draft_min_side=FAST_DRAFT_MIN_SIDE)
    assert reduced.pixels.shape[0] < reduced.height  # the decode really was reduced
    ref = pdq_reference(decode_image(data, Settings()).pixels)
    ours = _fast_from_jpeg(data)
    assert ours.hash.distance(ref.hash) <= 10
    assert abs(ours.quality - ref.quality) <= 3


def test_full_size_smaller_than_the_pixels_is_refused() -> None:
    with pytest.raises(ValueError, match="full_size"):
        pdq_fast(textured_rgb(100, 80), full_size=(40, 50))


def test_non_rgb_pixels_are_refused() -> None:
    with pytest.raises(ValueError, match="uint8 RGB"):
        pdq_fast(np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8 RGB"):
        pdq_fast(np.zeros((10, 10, 3), dtype=np.float32))  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(n_full=st.integers(5, 6000), reduce_by=st.sampled_from([1, 2, 4, 8, 3, 1.7]))
def test_filter_weights_of_every_sample_sum_to_one(n_full: int, reduce_by: float) -> None:
    n_pixels = max(1, int(np.ceil(n_full / reduce_by)))
    start, weights = fast._tent(n_full, n_pixels)
    assert start.shape == (64,)
    assert (start >= 0).all() and (start < n_pixels).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=0, atol=1e-9)
    assert (weights >= 0).all()
    # no weight falls outside the image
    last = start[:, None] + np.arange(weights.shape[1])[None, :]
    assert (weights[last >= n_pixels] == 0).all()


# ---------------------------------------------------------------- the photo corpus


def _photos() -> list[Path]:
    root = require_shared_data("photos")
    return sorted(root.rglob("*.jpg"))


@pytest.mark.conformance
def test_fast_mode_meets_its_accuracy_target_on_the_photo_corpus() -> None:
    """Quality >= 80: >= 99% within 10 bits of reference mode, none beyond 20; and the
    re-implemented pipeline equals pdqhash on the same full-resolution pixels."""
    files = _photos()
    assert len(files) >= 1000
    settings_ = Settings()
    distances = []
    full_mismatch = []
    for path in files:
        data = path.read_bytes()
        pixels = decode_image(data, settings_).pixels
        ref = pdq_reference(pixels)
        if ref.quality >= 80:
            distances.append(ref.hash.distance(_fast_from_jpeg(data).hash))
        exact = pdq_full(pixels)
        if exact.hash != ref.hash or exact.quality != ref.quality:
            full_mismatch.append(path.name)
    d = np.asarray(distances)
    assert d.size >= 1000
    assert (d <= 10).mean() >= 0.99, f"{(d > 10).sum()} of {d.size} beyond 10 bits"
    assert d.max() <= 20
    assert full_mismatch == []


@pytest.mark.conformance
def test_full_pipeline_equals_pdqhash_and_fast_mode_is_close_on_the_pdq_reference_images() -> None:
    root = require_shared_data("pdq-reference")
    settings_ = Settings()
    checked = 0
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in {".jpg", ".jpeg", ".png", ".webp", ".tiff"}:
            continue
        data = path.read_bytes()
        pixels = decode_image(data, settings_).pixels
        ref = pdq_reference(pixels, dihedral=True)
        ours = pdq_full(pixels, dihedral=True)
        assert (ours.hash, ours.quality, ours.orientations) == (
            ref.hash,
            ref.quality,
            ref.orientations,
        ), path.name
        fast_result = pdq_fast(pixels)
        assert fast_result.hash.distance(ref.hash) <= 2, path.name
        if path.suffix.lower() in {".jpg", ".jpeg"}:  # reduced decode, up to 1/8 (4032 x 3024)
            assert _fast_from_jpeg(data).hash.distance(ref.hash) <= 10, path.name
        checked += 1
    assert checked >= 40


# ---------------------------------------------------------------- the benchmark command


def test_hash_bench_json_reports_every_method_and_skips_a_broken_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for seed in range(3):
        (tmp_path / f"p{seed}.jpg").write_bytes(
            encode(textured_rgb(480, 360, seed=seed), "JPEG", quality=90)
        )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "notes.txt").write_text("not an image")

    code = run_hash_bench(tmp_path, json_out=True, limit=None)

    assert code == 0
    report = json.loads(capsys.readouterr().out)  # exactly one JSON document
    assert report["images"] == 3
    assert report["failed"] == 1
    assert set(report["results"]) == {"reference", "fast", "pdqhash"}
    for numbers in report["results"].values():
        assert numbers["images_per_s"] > 0
        assert 0 < numbers["p50_ms"] <= numbers["p99_ms"]
    bits = report["fast_vs_reference_bits"]
    assert 0 <= bits["p50"] <= bits["p99"] <= bits["max"] <= 20
    assert report["speedup_fast_vs_pdqhash"] > 0


def test_hash_bench_on_a_folder_without_images_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_hash_bench(tmp_path, json_out=True, limit=None) == 1
    assert run_hash_bench(tmp_path / "missing", json_out=True, limit=None) == 2
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_fast_mode_keeps_geometry_of_exif_rotated_jpegs(orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(textured_rgb(1000, 700, seed=orientation), "JPEG", quality=90, exif=exif)
    upright = decode_image(data, Settings())
    ref = pdq_reference(upright.pixels)
    ours = _fast_from_jpeg(data)
    assert ours.hash.distance(ref.hash) <= 10
