"""``hashwall hash`` and ``hashwall compare`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from hashwall import hash_file
from hashwall.bench.pictures import scene
from hashwall.cli.main import app

from support import encode, textured_rgb

runner = CliRunner()
KEYS = {"path", "kind", "pdq", "quality", "md5", "sha256", "width", "height", "error"}


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_hash_json_prints_one_object_per_file_and_keeps_going_past_bad_files(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.jpg").write_bytes(encode(textured_rgb(seed=1), "JPEG"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.png").write_bytes(encode(textured_rgb(seed=2), "PNG"))
    (tmp_path / "sub" / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.jpg").write_bytes(b"skipped")
    result = runner.invoke(app, ["hash", "--json", str(tmp_path)])
    assert result.exit_code == 1  # one file failed
    records = _lines(result.stdout)
    assert [Path(str(r["path"])).name for r in records] == ["a.jpg", "b.png", "notes.txt"]
    for r in records:
        assert set(r) >= KEYS
    good, png, bad = records
    assert good["error"] is None and good["kind"] == "image"
    assert good["pdq"] == hash_file(tmp_path / "a.jpg").pdq.hex
    assert (good["width"], good["height"]) == (320, 240)
    assert png["error"] is None
    assert bad["error"] == {"code": "unsupported_media", "message": bad["error"]["message"]}  # type: ignore[index]
    assert bad["pdq"] is None


def test_hash_exit_code_is_zero_when_all_files_hash(tmp_path: Path) -> None:
    path = tmp_path / "a.webp"
    path.write_bytes(encode(textured_rgb(seed=4), "WEBP"))
    result = runner.invoke(app, ["hash", str(path)])
    assert result.exit_code == 0, result.output
    assert hash_file(path).pdq.hex in result.stdout


def test_hash_all_orientations_adds_eight_hashes(tmp_path: Path) -> None:
    pixels = textured_rgb(seed=5)
    path = tmp_path / "a.png"
    path.write_bytes(encode(pixels, "PNG"))
    (tmp_path / "r.png").write_bytes(encode(np.rot90(pixels).copy(), "PNG"))
    result = runner.invoke(app, ["hash", "--json", "--all-orientations", str(path)])
    (record,) = _lines(result.stdout)
    orientations = record["orientations"]
    assert isinstance(orientations, list) and len(orientations) == 8
    assert orientations[0] == record["pdq"]
    rotated = hash_file(tmp_path / "r.png").pdq
    assert min(rotated.distance(type(rotated).from_hex(h)) for h in orientations) <= 10


def test_hash_fast_mode_is_close_to_reference(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(encode(textured_rgb(1200, 900, seed=6), "JPEG", quality=90))
    result = runner.invoke(app, ["hash", "--json", "--fast", str(path)])
    (record,) = _lines(result.stdout)
    assert record["mode"] == "fast"
    reference = hash_file(path).pdq
    assert reference.distance(type(reference).from_hex(str(record["pdq"]))) <= 10


def test_low_quality_image_is_marked_not_failed(tmp_path: Path) -> None:
    path = tmp_path / "flat.png"
    Image.new("RGB", (100, 100), (120, 130, 140)).save(path)
    result = runner.invoke(app, ["hash", "--json", str(path)])
    assert result.exit_code == 0
    (record,) = _lines(result.stdout)
    assert record["error"] is None
    assert record["usable"] is False
    assert [n["code"] for n in record["notes"]] == ["low_quality"]  # type: ignore[union-attr, index]


def test_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["hash", "--json", str(tmp_path / "nope.jpg")])
    assert result.exit_code == 1
    (record,) = _lines(result.stdout)
    assert record["error"]["code"] == "file_unreadable"  # type: ignore[index]


def test_compare_finds_rotation_of_a_file(tmp_path: Path) -> None:
    pixels = textured_rgb(seed=7)
    (tmp_path / "a.jpg").write_bytes(encode(pixels, "JPEG"))
    (tmp_path / "b.jpg").write_bytes(encode(np.rot90(pixels, k=2).copy(), "JPEG", quality=70))
    result = runner.invoke(
        app, ["compare", "--json", str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["match"] is True
    assert out["orientation"] == "rotate180"
    assert out["distance"] <= 20


def test_compare_unrelated_images_do_not_match(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(encode(textured_rgb(seed=8), "PNG"))
    (tmp_path / "b.png").write_bytes(encode(textured_rgb(seed=9), "PNG"))
    result = runner.invoke(
        app, ["compare", "--json", str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    )
    assert result.exit_code == 1, "no match is exit code 1, as for cmp and diff"
    out = json.loads(result.stdout)
    assert out["match"] is False and out["distance"] > 31
    assert out["reason"] == "beyond_threshold"


def test_compare_two_hashes_and_threshold(tmp_path: Path) -> None:
    a = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    b = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b2d"  # 4 bits apart
    within = runner.invoke(app, ["compare", "--json", a, b])
    out = json.loads(within.stdout)
    assert (out["match"], out["distance"], out["rotated"]) == (True, 4, None)
    assert within.exit_code == 0
    beyond = runner.invoke(app, ["compare", "--json", "--threshold", "3", a, b])
    assert json.loads(beyond.stdout)["match"] is False
    assert beyond.exit_code == 1


def test_compare_featureless_image_is_no_match(tmp_path: Path) -> None:
    flat = np.full((64, 64, 3), 128, dtype=np.uint8)
    (tmp_path / "flat.png").write_bytes(encode(flat, "PNG"))
    result = runner.invoke(
        app, ["compare", "--json", str(tmp_path / "flat.png"), str(tmp_path / "flat.png")]
    )
    assert json.loads(result.stdout)["reason"] == "low_quality"
    assert result.exit_code == 1


def test_compare_help_documents_exit_codes() -> None:
    result = runner.invoke(app, ["compare", "--help"])
    assert "Exit codes" in result.stdout


def test_compare_bad_operand_is_a_clean_error() -> None:
    result = runner.invoke(app, ["compare", "--json", "not-a-file", "zz"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["code"] == "file_unreadable"


def test_compare_keypoints_finds_a_crop_that_pdq_misses(tmp_path: Path) -> None:
    pixels = np.asarray(scene(11))  # keypoints need structure at many scales
    (tmp_path / "banked.png").write_bytes(encode(pixels, "PNG"))
    (tmp_path / "crop.jpg").write_bytes(encode(pixels[40:320, 90:430].copy(), "JPEG"))
    (tmp_path / "other.png").write_bytes(encode(np.asarray(scene(12)), "PNG"))
    crop, banked, other = (str(tmp_path / n) for n in ("crop.jpg", "banked.png", "other.png"))
    plain = runner.invoke(app, ["compare", "--json", crop, banked])
    assert plain.exit_code == 1 and "keypoints" not in json.loads(plain.stdout)
    found = runner.invoke(app, ["compare", "--json", "--keypoints", crop, banked])
    out = json.loads(found.stdout)
    assert found.exit_code == 0, found.output
    assert out["match"] is True and out["reason"] == "keypoints"
    assert out["distance"] > 31 and out["keypoints"]["inliers"] >= out["keypoints"]["min_inliers"]
    unrelated = runner.invoke(app, ["compare", "--json", "--keypoints", crop, other])
    out = json.loads(unrelated.stdout)
    assert unrelated.exit_code == 1
    assert out["keypoints"]["match"] is False and out["reason"] == "beyond_threshold"
    human = runner.invoke(app, ["compare", "--keypoints", crop, banked])
    assert "keypoints:" in human.stdout and "fit one placement of B" in human.stdout


def test_compare_keypoints_needs_two_files() -> None:
    a = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    result = runner.invoke(app, ["compare", "--json", "--keypoints", a, a])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["code"] == "invalid_input"


def test_hash_keypoints_prints_the_codes_a_case_or_a_check_sends(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    scene(5).save(photo, quality=90)
    for role in ("bank", "upload"):
        result = runner.invoke(app, ["hash", "--json", "--keypoints", role, str(photo)])
        assert result.exit_code == 0, result.output
        (record,) = _lines(result.stdout)
        expected = hash_file(photo, keypoints=role).keypoints
        assert expected is not None and len(expected) > 8
        assert record["keypoints"] == expected.to_bytes().hex()
    plain = _lines(runner.invoke(app, ["hash", "--json", str(photo)]).stdout)
    assert "keypoints" not in plain[0]
    wrong = runner.invoke(app, ["hash", "--keypoints", "both", str(photo)])
    assert wrong.exit_code == 2
