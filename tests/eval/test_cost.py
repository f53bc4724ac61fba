"""``python -m hashwall.eval.cost``: the content boxes' cost per upload, printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_images import textured
from PIL import Image

from hashwall.eval.cost import main, measure


def test_measure_counts_candidates_and_times_both_stages(tmp_path: Path) -> None:
    textured(1).save(tmp_path / "plain.jpg", quality=92)
    padded = Image.new("RGB", (400, 330), (255, 255, 255))
    padded.paste(textured(2), (40, 45))
    padded.save(tmp_path / "padded.jpg", quality=92)
    result = measure(sorted(tmp_path.glob("*.jpg")))
    assert result["photos"] == 2
    assert result["candidates_per_upload"] == 0.5  # the padded photo's box, none for the plain
    assert result["uploads_with_a_candidate"] == 0.5
    for key in ("pdq8_ms", "boxes_extra_ms", "keypoints_check_ms", "keypoints_bank_ms"):
        assert 0 <= result[key]["p50"] <= result[key]["p90"] <= result[key]["p99"]
    assert result["keypoints_per_upload"] > 10


def test_the_command_prints_the_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    textured(3).save(tmp_path / "a.jpg", quality=92)
    assert main(["--photos", str(tmp_path), "--limit", "5"]) == 0
    out = capsys.readouterr().out
    assert "boxes_extra_ms: p50" in out and "candidates per upload: 0.00" in out
    assert "keypoints_check_ms: p50" in out
