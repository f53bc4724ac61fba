"""Reference mode against the PDQ reference images and their published hashes.

Runs in CI with ``CI=true``, where missing data fails instead of skipping.

The reference data is not in this repository; ``HASHWALL_SHARED_DATA`` names the folder that
holds it (see tests/README.md). ``pdq-reference/``: the PDQ test images of
facebook/ThreatExchange (its ``pdq/data/`` folder and python-threatexchange's test images; BSD
licence), with ``expected.tsv``, the reference hashes that repository's tests and READMEs give
for them. ``photos/``: a corpus of openly licensed photographs (desktop wallpapers and sample
photos shipped in Debian, PyPI and npm packages).
"""

from __future__ import annotations

import csv
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashwall import hash_file
from hashwall.hashing.pdq import ORIENTATIONS, PdqHash, pdq_reference

from support import require_shared_data

pytestmark = pytest.mark.conformance

JAVA_BRIDGE_1 = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
DIH_FILES = {
    "rotate90": "bridge-2-rotate-90.jpg",
    "rotate180": "bridge-3-rotate-180.jpg",
    "rotate270": "bridge-4-rotate-270.jpg",
    "flip_x": "bridge-5-flipx.jpg",
    "flip_y": "bridge-6-flipy.jpg",
    "flip_plus1": "bridge-7-flip-plus-1.jpg",
    "flip_minus1": "bridge-8-flip-minus-1.jpg",
}
# hashwall composites transparency on white before hashing (see hashwall.media.decode); this
# reference value was computed with the alpha channel dropped, and LA.png's alpha is a gradient
# over the whole picture, so the composited picture is a different picture (~60 bits away).
# test_alpha_image_matches_reference_when_alpha_is_dropped shows the hasher itself agrees.
COMPOSITED_DIFFERENTLY = {"python-threatexchange/LA.png"}


def _expected_rows() -> list[dict[str, str]]:
    root = require_shared_data("pdq-reference")
    with (root / "expected.tsv").open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    qualities = {r["path"]: r["quality"] for r in rows if r["quality"]}
    for r in rows:  # rows with no quality take that of the same image's other rows
        r["quality"] = r["quality"] or qualities.get(r["path"], "")
    return rows


def test_reference_mode_reproduces_java_vector_for_bridge_exactly() -> None:
    root = require_shared_data("pdq-reference")
    result = hash_file(root / "dih" / "bridge-1-original.jpg")
    assert result.pdq.hex == JAVA_BRIDGE_1
    assert result.quality == 100


def test_reference_mode_is_within_10_bits_of_every_expected_hash_of_quality_80_or_more() -> None:
    root = require_shared_data("pdq-reference")
    checked = 0
    failures = []
    for row in _expected_rows():
        if not row["quality"] or int(row["quality"]) < 80 or row["path"] in COMPOSITED_DIFFERENTLY:
            continue
        result = hash_file(root / row["path"])
        distance = result.pdq.distance(PdqHash.from_hex(row["pdq"]))
        checked += 1
        if distance > 10:
            failures.append((row["path"], row["source"], distance))
    assert checked >= 20
    assert failures == []


def test_alpha_image_matches_reference_when_alpha_is_dropped() -> None:
    root = require_shared_data("pdq-reference")
    row = next(r for r in _expected_rows() if r["path"] in COMPOSITED_DIFFERENTLY)
    pixels = np.asarray(Image.open(root / row["path"]).convert("RGB"))
    assert pdq_reference(pixels).hash.hex == row["pdq"]


def test_dihedral_hashes_match_the_rotated_and_flipped_files() -> None:
    dih = require_shared_data("pdq-reference", "dih")
    original = hash_file(dih / "bridge-1-original.jpg", orientations=True)
    assert original.orientations is not None and len(original.orientations) == 8
    by_name = dict(zip((o.value for o in ORIENTATIONS), original.orientations, strict=True))
    for name, filename in DIH_FILES.items():
        other = hash_file(dih / filename)
        assert by_name[name].distance(other.pdq) <= 10, name
        # and not merely close to everything: the other orientations are far away
        assert by_name["original"].distance(other.pdq) > 31, name


def test_exif_orientation_is_applied_before_hashing() -> None:
    root: Path = require_shared_data("pdq-reference")
    results = [hash_file(root / f"exif-rotn-{n}.jpg") for n in (1, 3, 6, 8)]
    assert {(r.width, r.height) for r in results} == {(results[0].width, results[0].height)}
    for a, b in combinations(results, 2):
        assert a.pdq.distance(b.pdq) <= 10


def test_hash_image_fast_mode_is_within_10_bits_of_reference_on_1024px_photos() -> None:
    wallpapers = require_shared_data("photos", "wallpapers")
    paths = sorted(wallpapers.glob("*.jpg"))
    assert len(paths) >= 50
    distances = []
    for path in paths:
        reference = hash_file(path)
        if reference.quality < 80:
            continue
        fast = hash_file(path, fast=True, orientations=True)
        distances.append(fast.pdq.distance(reference.pdq))
        assert fast.orientations is not None and fast.orientations[0] == fast.pdq
    assert max(distances) <= 10, sorted(distances)[-5:]
