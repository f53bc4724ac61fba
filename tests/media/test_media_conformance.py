"""Against the reference images: every pixel mode decodes, and the same picture stored
in different modes or EXIF orientations gives PDQ hashes within 10 bits of each other.

Skips when the reference data is absent, fails instead under CI=true (see conftest.py).

The reference data is not in this repository; ``HASHWALL_SHARED_DATA`` names the folder that
holds it (see tests/README.md). ``pdq-reference/``: the PDQ test images of
facebook/ThreatExchange (its ``pdq/data/`` folder and python-threatexchange's test images; BSD
licence), with ``expected.tsv``, the reference hashes that repository's tests and READMEs give
for them. ``photos/``: a corpus of openly licensed photographs (desktop wallpapers and sample
photos shipped in Debian, PyPI and npm packages).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest

from hashwall.hashing.pdq import pdq_reference
from hashwall.media import decode_image
from hashwall.settings import Settings

pytestmark = pytest.mark.conformance

MODE_FILES = [
    "1.png",
    "CMYK.jpg",
    "F.tiff",
    "F.webp",
    "HSV.webp",
    "I.tiff",
    "I.webp",
    "I16.png",
    "L.png",
    "LA.png",
    "LAB.tiff",
    "LAB.webp",
    "P.png",
    "PA.webp",
    "RGB.jpg",
    "RGBA.png",
    "YCbCr.jpg",
    "original.jpg",
]
# Clipping I and F to 0..255 (see hashwall.media.modes) makes these two flat: they decode, and
# are refused later as low quality, which is the documented outcome.
FLAT_AFTER_CLIPPING = {"I.tiff", "F.tiff"}
SAME_PICTURE = ["RGB.jpg", "CMYK.jpg", "YCbCr.jpg", "LAB.tiff", "LAB.webp", "original.jpg"]
MAX_DISTANCE = 10


def _modes(shared_data: Path) -> Path:
    return shared_data / "pdq-reference" / "misc-images" / "modes"


@pytest.mark.parametrize("name", MODE_FILES)
def test_every_mode_file_decodes(name: str, shared_data: Path, settings: Settings) -> None:
    decoded = decode_image((_modes(shared_data) / name).read_bytes(), settings)
    assert decoded.pixels.shape == (decoded.height, decoded.width, 3)
    quality = pdq_reference(decoded.pixels).quality
    if name in FLAT_AFTER_CLIPPING:
        assert quality < 50
    else:
        assert quality >= 50


def test_rgb_cmyk_ycbcr_and_lab_versions_hash_within_10_bits(
    shared_data: Path, settings: Settings
) -> None:
    hashes = {
        name: pdq_reference(
            decode_image((_modes(shared_data) / name).read_bytes(), settings).pixels
        ).hash
        for name in SAME_PICTURE
    }
    for a, b in combinations(SAME_PICTURE, 2):
        assert hashes[a].distance(hashes[b]) <= MAX_DISTANCE, (a, b)


@pytest.mark.parametrize("draft_min_side", [None, 256])
def test_exif_rotated_copies_hash_within_10_bits(
    draft_min_side: int | None, shared_data: Path, settings: Settings
) -> None:
    hashes = {}
    for orientation in (1, 3, 6, 8):
        data = (shared_data / "pdq-reference" / f"exif-rotn-{orientation}.jpg").read_bytes()
        decoded = decode_image(data, settings, draft_min_side=draft_min_side)
        assert (decoded.width, decoded.height) == (1600, 1004)
        if draft_min_side is not None:
            assert min(decoded.pixels.shape[:2]) >= draft_min_side
            assert decoded.pixels.shape[:2] == (502, 800)
        hashes[orientation] = pdq_reference(decoded.pixels).hash
    for a, b in combinations(hashes, 2):
        assert hashes[a].distance(hashes[b]) <= MAX_DISTANCE, (a, b)
