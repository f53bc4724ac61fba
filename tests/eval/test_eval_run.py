"""``hashwall eval`` end to end on generated photos, and the methods' rules one by one."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eval_images import textured
from PIL import Image
from typer.testing import CliRunner

from hashwall.cli.main import app
from hashwall.eval.methods import (
    METHODS,
    CropsMethod,
    HashwallMethod,
    Pdq8Method,
    PdqMethod,
    RegionsMethod,
)
from hashwall.eval.transforms import SHARED_OVERLAYS, SUITE
from hashwall.hashing.keypoints import MIN_INLIERS

METHOD_KEYS = {
    "recall",
    "false_matches",
    "distractor_pairs",
    "hashes_per_image",
    "bytes_per_image",
    "check_ms_p50",
    "check_ms_p99",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of the command: 4 banked photos, 3 distinct distractors, one process."""
    root = tmp_path_factory.mktemp("eval")
    bank, other, out = root / "bank", root / "other", root / "out"
    bank.mkdir()
    other.mkdir()
    for i in range(4):
        textured(100 + i).save(bank / f"p{i}.jpg", quality=92)
    for i in range(3):
        textured(200 + i).save(other / f"d{i}.jpg", quality=92)
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--photos",
            str(bank),
            "--distractors",
            str(other),
            "--out",
            str(out),
            "--workers",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return {
        "out": out,
        "stdout": result.stdout,
        "results": json.loads((out / "results.json").read_text()),
    }


def test_results_json_has_exactly_the_issue_shape(run: dict[str, Any]) -> None:
    r = run["results"]
    assert set(r) == {"bank_images", "distractor_images", "methods"}
    assert r["bank_images"] == 4 and r["distractor_images"] == 3
    assert list(r["methods"]) == ["pdq", "pdq8", "regions", "crops", "hashwall"]
    for m in r["methods"].values():
        assert set(m) == METHOD_KEYS
        assert set(m["recall"]) == set(SUITE)
        assert all(0.0 <= v <= 1.0 for v in m["recall"].values())
        assert m["distractor_pairs"] == 3 * (1 + len(SHARED_OVERLAYS)) * 4
        assert 0 < m["check_ms_p50"] <= m["check_ms_p99"]
    # --json prints the same summary.
    assert json.loads(run["stdout"].strip().splitlines()[-1]) == r


def test_recall_follows_what_each_method_can_do(run: dict[str, Any]) -> None:
    pdq, pdq8, hw = (run["results"]["methods"][n]["recall"] for n in ("pdq", "pdq8", "regions"))
    for q in (70, 50, 30):
        assert pdq[f"jpeg_q{q}"] == pdq8[f"jpeg_q{q}"] == hw[f"jpeg_q{q}"] == 1.0
    for turn in ("mirror", "flip_vertical", "rotate_90", "rotate_180", "rotate_270"):
        assert pdq[turn] == 0.0  # plain PDQ has no orientations
        assert pdq8[turn] == 1.0 and hw[turn] == 1.0
    for name in ("brightness_130", "gamma_60", "greyscale", "sharpen"):
        assert pdq[name] == 1.0


def test_no_false_match_and_the_bank_cost(run: dict[str, Any]) -> None:
    methods = run["results"]["methods"]
    assert all(m["false_matches"] == 0 for m in methods.values())
    assert methods["pdq"]["hashes_per_image"] == 1 and methods["pdq"]["bytes_per_image"] == 32
    assert methods["regions"]["hashes_per_image"] == 3
    assert methods["regions"]["bytes_per_image"] == 80  # PDQ 32 + md5 16 + sha256 32
    # hashwall: those, and each keypoint's 16-byte record
    full = methods["hashwall"]
    assert full["bytes_per_image"] == 80 + 16 * (full["hashes_per_image"] - 3)


def test_the_report_details_and_plots_are_written(run: dict[str, Any]) -> None:
    out: Path = run["out"]
    report = (out / "report.md").read_text()
    assert "| mirror | 0.00 | 1.00 | 1.00 | 1.00 |" in report
    details = json.loads((out / "details.json").read_text())
    assert details["methods"]["pdq"]["false_matches"] == []
    assert sum(details["methods"]["pdq8"]["true_distance_hist"]) == 4 * len(SUITE)
    assert sum(details["methods"]["pdq"]["false_distance_hist"]) == 3 * 5 * 4
    # keypoint inliers: one count per pair, for keypoints only
    keypoints = details["methods"]["hashwall"]
    assert sum(keypoints["false_score_hist"]) == 3 * 5 * 4
    assert sum(keypoints["true_score_hist"]) == 4 * len(SUITE)
    assert "false_score_hist" not in details["methods"]["regions"]
    assert "## hashwall: inliers per pair" in report
    assert "| group | at least 5 | at least 8 | at least 12 |" in report
    pytest.importorskip("matplotlib")
    for name in ("recall.png", "distances.png"):
        with Image.open(out / name) as png:
            assert png.format == "PNG" and png.width > 100


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["eval", "--photos", str(tmp_path / "nope"), "--out", str(tmp_path), "--json"]
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "invalid_input"


def _jpeg(img: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def test_methods_find_the_banked_photo_and_not_another() -> None:
    a, b = _jpeg(textured(1)), _jpeg(textured(2))
    for cls in METHODS.values():
        m = cls()
        m.enrol(m.prepare(a))
        assert list(m.check(m.prepare(a))) == [0]
        assert m.check(m.prepare(b)) == {}


def test_pdq8_finds_a_mirror_that_pdq_does_not() -> None:
    photo = textured(5)
    mirrored = _jpeg(photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    plain, turned = PdqMethod(), Pdq8Method()
    for m in (plain, turned):
        m.enrol(m.prepare(_jpeg(photo)))
    assert plain.check(plain.prepare(mirrored)) == {}
    assert 0 in turned.check(turned.prepare(mirrored))


def test_hashwall_banks_a_featureless_photo_by_its_digests_only() -> None:
    flat = Image.new("RGB", (200, 150), (120, 130, 140))
    data = _jpeg(flat)
    m = RegionsMethod()
    stored = m.enrol(m.prepare(data))
    assert stored.values == 2 and stored.nbytes == 48  # md5 + sha256, no PDQ
    assert m.check(m.prepare(data)) == {0: 0}  # the same file: exact digest
    assert m.check(m.prepare(_jpeg(flat, quality=60))) == {}  # another file: nothing to match


@pytest.mark.parametrize("name", ["pad_20_solid", "letterbox_9x16", "meme_both", "screenshot_75"])
def test_hashwall_finds_the_photo_inside_a_frame_that_pdq8_misses(name: str) -> None:
    photo = textured(7)
    upload = _jpeg(SUITE[name](photo, np.random.default_rng(0)), quality=95)
    plain, hashwall = Pdq8Method(), RegionsMethod()
    for m in (plain, hashwall):
        m.enrol(m.prepare(_jpeg(photo)))
    assert plain.check(plain.prepare(upload)) == {}
    assert 0 in hashwall.check(hashwall.prepare(upload))


def test_crops_banks_ten_windows_and_finds_a_centred_crop() -> None:
    photo = textured(8)
    upload = _jpeg(SUITE["crop_20_centre_keep"](photo, np.random.default_rng(0)), quality=95)
    hashwall, crops = RegionsMethod(), CropsMethod()
    assert hashwall.enrol(hashwall.prepare(_jpeg(photo))).values == 3
    assert crops.enrol(crops.prepare(_jpeg(photo))).values == 13
    assert hashwall.check(hashwall.prepare(upload)) == {}
    assert 0 in crops.check(crops.prepare(upload))


@pytest.mark.parametrize(
    "name", ["crop_20_offcentre_change", "rotate_8_crop", "crop_30_centre_keep"]
)
def test_keypoints_find_the_crops_and_turns_that_regions_miss(name: str) -> None:
    photo, other = textured(8), textured(9)
    upload = _jpeg(SUITE[name](photo, np.random.default_rng(0)), quality=95)
    regions, hashwall = RegionsMethod(), HashwallMethod()
    for m in (regions, hashwall):
        m.enrol(m.prepare(_jpeg(other)))
        m.enrol(m.prepare(_jpeg(photo)))
    assert regions.check(regions.prepare(upload)) == {}
    assert set(hashwall.check(hashwall.prepare(upload))) == {1}
    scores = hashwall.scores(hashwall.query(hashwall.prepare(upload)))
    assert scores[1] >= MIN_INLIERS > scores[0]


def test_copies_checks_a_sample_of_the_bank_against_every_distractor(tmp_path: Path) -> None:
    from hashwall.eval.runner import run_eval

    for i in range(3):
        textured(300 + i).save(tmp_path / f"p{i}.jpg", quality=92)
    textured(400).save(tmp_path / "d.jpg", quality=92)
    bank = sorted(tmp_path.glob("p*.jpg"))
    run = run_eval(
        bank, [tmp_path / "d.jpg"], workers=1, method_names=["pdq"], progress=False, copies=1
    )
    tally = run.tallies["pdq"]
    assert set(tally.checked.values()) == {1}  # one banked photo's copies, each transform once
    assert tally.distractor_pairs == 3 * (1 + len(SHARED_OVERLAYS))  # against the whole bank


def test_swap_banks_the_distractors_and_checks_the_bank(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(5):
        textured(300 + i).save(photos / f"p{i}.jpg", quality=92)

    def split(*extra: str) -> tuple[set[str], set[str]]:
        out = tmp_path / ("out" + "".join(extra))
        args = ["eval", "--photos", str(photos), "--out", str(out), "--limit", "2"]
        args += ["--methods", "pdq", "--workers", "1", "--json", *extra]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        details = json.loads((out / "details.json").read_text())
        return set(details["bank"]), set(details["distractors"])

    bank, distractors = split()
    assert len(bank) == 2 and len(distractors) == 3 and not bank & distractors
    assert split("--swap") == (distractors, bank)
    args = ["eval", "--photos", str(photos), "--distractors", str(photos), "--swap"]
    refused = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "x"), "--json"])
    assert refused.exit_code == 1
    assert "--swap" in json.loads(refused.stdout)["error"]["message"]


def test_the_loose_method_runs_only_when_named() -> None:
    from hashwall.eval.methods import DEFAULT_METHODS, LooseHashwallMethod

    assert "hashwall" in DEFAULT_METHODS and LooseHashwallMethod.name not in DEFAULT_METHODS
    assert LooseHashwallMethod.name in METHODS and not LooseHashwallMethod.copy_rules
    photo, other = textured(8), textured(9)
    upload = _jpeg(SUITE["crop_20_offcentre_keep"](photo, np.random.default_rng(0)), quality=95)
    for cls in (HashwallMethod, LooseHashwallMethod):
        method = cls()
        method.enrol(method.prepare(_jpeg(other)))
        method.enrol(method.prepare(_jpeg(photo)))
        assert set(method.check(method.prepare(upload))) == {1}, cls.name
