"""``python -m hashwall.eval.features``: the copy rules' measurements, transform by transform,
on generated photos split as ``hashwall eval`` splits them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eval_images import textured

from hashwall.eval import features
from hashwall.eval.runner import choose_split
from hashwall.eval.transforms import SHARED_OVERLAYS, SUITE
from hashwall.hashing.keypoint_verify import Transform
from hashwall.hashing.keypoints import MIN_INLIERS


@pytest.fixture(scope="module")
def measured(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """6 photos: 3 banked (copies of 1), 3 distractors; one process."""
    root = tmp_path_factory.mktemp("features")
    photos = root / "photos"
    photos.mkdir()
    for i in range(6):
        textured(300 + i).save(photos / f"p{i}.jpg", quality=92)
    out = root / "rows.jsonl"
    bank, distractors = choose_split(photos, None, 3, None, 0, False)
    summary = features.measure(bank, distractors, out, seed=0, copies=1, workers=1)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return summary, rows


def test_every_copy_has_a_row_with_its_rules(
    measured: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    summary, rows = measured
    copies = [r for r in rows if r["kind"] == "copy"]
    assert {r["variant"] for r in copies} == set(SUITE)
    assert len({r["photo"] for r in copies}) == 1
    assert summary["copies"] == len(SUITE)
    # a JPEG copy of a textured photo verifies, and passes every rule
    jpeg = next(r for r in copies if r["variant"] == "jpeg_q70")
    assert jpeg["inliers"] >= MIN_INLIERS
    assert jpeg["rules"] == {"close": True, "spread": True, "refound": True}
    assert 0.9 <= jpeg["scale"] <= 1.1 and jpeg["coverage"] >= 0.9
    assert summary["copies_verified_with_rules"] <= summary["copies_verified_without_rules"]
    assert summary["copies_verified_without_rules"] >= len(SUITE) // 2


def test_distractor_rows_are_other_photos_with_enough_inliers(
    measured: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    summary, rows = measured
    pairs = [r for r in rows if r["kind"] == "distractor"]
    assert all(r["inliers"] >= features.MIN_KEPT for r in pairs)
    assert all(r["photo"] != r["banked"] for r in pairs)
    assert all(r["variant"] in ["plain", *SHARED_OVERLAYS] for r in pairs)
    # distinct textures: no pair reaches the bank's level with the rules applied
    assert summary["distractor_pairs_with_rules"] == 0
    assert set(summary["rules"]) == {"close", "spread", "refound"}


def test_summary_counts_what_each_rule_alone_removes() -> None:
    def row(kind: str, inliers: int, **rules: bool) -> dict[str, Any]:
        passes = {"close": True, "spread": True, "refound": True, **rules}
        return {"kind": kind, "inliers": inliers, "rules": passes}

    rows = [
        row("copy", 20),
        row("copy", 20, refound=False),
        row("copy", 3, close=False),  # below the level: not a verified copy
        row("distractor", 12, close=False, spread=False),
        row("distractor", 9, refound=False),
        row("distractor", 5, refound=False),  # below the level
    ]
    summary = features.summarise(rows, bank_size=10)
    assert summary["copies_verified_without_rules"] == 2
    assert summary["copies_verified_with_rules"] == 1
    assert summary["distractor_pairs_without_rules"] == 2
    assert summary["distractor_pairs_with_rules"] == 0
    assert summary["rules"]["refound"] == {"copies_lost": 1, "distractor_pairs_removed": 1}
    assert summary["rules"]["close"] == {"copies_lost": 0, "distractor_pairs_removed": 1}


def test_a_transforms_rules_follow_its_counts() -> None:
    good = Transform(inliers=12, close=6, cells=5, coverage=1.0, refound=30, scale=1.0)
    assert all(good.rules().values())
    shot = Transform(inliers=12, close=6, cells=5, coverage=1.0, refound=60, scale=1.0)
    assert shot.rules() == {"close": True, "spread": True, "refound": False}
    corner = Transform(inliers=12, close=4, cells=2, coverage=1.0, refound=12, scale=1.0)
    assert corner.rules() == {"close": False, "spread": False, "refound": True}


def test_the_command_refuses_a_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        features.main(["--photos", str(tmp_path / "none"), "--out", str(tmp_path / "o.jsonl")])
    assert exc.value.code == 2
    assert "is not a folder" in capsys.readouterr().err
