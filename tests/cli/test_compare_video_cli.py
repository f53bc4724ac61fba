"""``hashwall compare A B`` on two videos: A the upload, B the banked video, the video rule."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from hashwall.cli.main import app

from support import encode, textured_rgb
from video_samples import SMALL_FPS, encode_clip, small_panning

runner = CliRunner()
FPS = SMALL_FPS


def _mp4(frames: Iterable[np.ndarray]) -> bytes:
    return encode_clip(frames, "mp4", FPS)


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_an_upload_holding_the_banked_clip_matches_with_both_percentages(tmp_path: Path) -> None:
    clip = list(small_panning(8, seed=7))
    upload = _mp4(itertools.chain(small_panning(10, seed=8), clip, small_panning(10, seed=9)))
    a = _write(tmp_path / "upload.mp4", upload)
    b = _write(tmp_path / "banked.mp4", _mp4(clip))
    result = runner.invoke(app, ["compare", a, b, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["match"] is True
    assert out["reason"] == "banked_percent"
    assert out["banked_frames_matched_pct"] >= 90
    assert out["upload_frames_matched_pct"] < 50
    assert [r["start"] for r in out["ranges"]["upload"]] == [10.0]
    assert out["ranges"]["banked"][0]["start"] == 0.0
    assert out["a"]["role"] == "upload" and out["b"]["role"] == "banked"


def test_the_banked_side_is_the_second_operand(tmp_path: Path) -> None:
    clip = list(small_panning(8, seed=7))
    long = _write(tmp_path / "long.mp4", _mp4(itertools.chain(small_panning(30, seed=8), clip)))
    short = _write(tmp_path / "clip.mp4", _mp4(clip))
    out = json.loads(runner.invoke(app, ["compare", short, long, "--json"]).stdout)
    # The clip as the upload: all of it is in the long video, little of the long one in it.
    assert out["upload_frames_matched_pct"] == 100.0
    assert out["banked_frames_matched_pct"] < 50
    assert out["match"] is True and out["reason"] == "upload_percent"


def test_unrelated_videos_do_not_match(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.mp4", _mp4(small_panning(8, seed=1)))
    b = _write(tmp_path / "b.mp4", _mp4(small_panning(8, seed=2)))
    result = runner.invoke(app, ["compare", a, b, "--json"])
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert out["match"] is False and out["upload_frames_matched_pct"] == 0.0
    human = runner.invoke(app, ["compare", a, b])
    assert human.exit_code == 1 and "no match" in human.stdout


def test_a_broken_video_is_exit_2(tmp_path: Path) -> None:
    good = _mp4(small_panning(4, seed=1))
    a = _write(tmp_path / "a.mp4", good)
    b = _write(tmp_path / "b.mp4", good[: len(good) // 2])
    result = runner.invoke(app, ["compare", a, b, "--json"])
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["error"]["code"] == "corrupt_media"


def test_two_images_are_still_compared_as_images(tmp_path: Path) -> None:
    image = encode(textured_rgb(seed=3), "PNG")
    a = _write(tmp_path / "a.png", image)
    out = json.loads(runner.invoke(app, ["compare", a, a, "--json"]).stdout)
    assert out["distance"] == 0 and "upload_frames_matched_pct" not in out
