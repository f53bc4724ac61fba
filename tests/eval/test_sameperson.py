"""The same-person check counts every match between different photos, by person."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_images import textured

from hashwall.eval.sameperson import MANIFEST, check_same_person, rebuild


def test_a_near_copy_under_the_same_person_is_a_same_person_false_match(tmp_path: Path) -> None:
    for person, seeds in (("ann", (1, 2)), ("bob", (3,))):
        (tmp_path / person).mkdir()
        for s in seeds:
            textured(s).save(tmp_path / person / f"{s}.jpg", quality=92)
    # "Another photo" of ann that is in fact photo 1 re-encoded: every method must match it.
    textured(1).save(tmp_path / "ann" / "1b.jpg", quality=60)
    result = check_same_person(tmp_path)
    assert result["photos"] == 4 and result["people"] == 2
    for name, m in result["methods"].items():
        assert m["pairs"] == 4 * 5 * 3
        assert m["same_person_false_matches"] >= 2, name  # 1 ~ 1b and 1b ~ 1, plain
        assert m["false_matches"] == m["same_person_false_matches"]
        assert m["closest_same_person"] < 10 and m["closest_other_person"] > 31


def test_rebuild_refuses_files_that_are_not_the_pinned_ones(tmp_path: Path) -> None:
    for _, path, _ in MANIFEST:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"not the photo")
    with pytest.raises(ValueError, match="sha256 differs"):
        rebuild(tmp_path, tmp_path / "out")
