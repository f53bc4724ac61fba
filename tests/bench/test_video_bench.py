"""``hashwall bench video`` end to end on small generated videos: both methods hash the frames
vPDQ picks at the given rate, with the same hashes, and every rate is reported."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from hashwall.bench.video import make_test_videos
from hashwall.cli.bench import bench_app


def test_make_test_videos_writes_panning_h264_of_the_asked_size(tmp_path: Path) -> None:
    (path,) = make_test_videos(tmp_path, count=1, seconds=2, width=128, height=72, fps=10)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = list(container.decode(stream))
    assert len(frames) == 20
    assert (frames[0].width, frames[0].height) == (128, 72)
    # It pans: the first and last frames differ.
    assert (frames[0].to_ndarray(format="rgb24") != frames[-1].to_ndarray(format="rgb24")).any()


@pytest.mark.parametrize(("seconds_per_hash", "expected"), [(1.0, 3), (0.5, 6)])
def test_bench_video_reports_frames_and_rates_of_both_methods(
    tmp_path: Path, seconds_per_hash: float, expected: int
) -> None:
    # Two 3-second clips at 10 fps: one frame in 10 (or 5) hashed, frames 0, 10, 20 (0, 5, ...).
    make_test_videos(tmp_path, count=2, seconds=3, width=160, height=96, fps=10)
    result = CliRunner().invoke(
        bench_app,
        ["video", "--videos", str(tmp_path), "--seconds-per-hash", str(seconds_per_hash),
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["seconds_per_hash"] == seconds_per_hash
    assert report["failed"] == [] and report["generated"] is False
    assert len(report["videos"]) == 2
    for row in report["videos"]:
        assert (row["width"], row["height"], row["fps"]) == (160, 96, 10.0)
        assert row["frames_decoded"] == 30
        assert row["duration_s"] == pytest.approx(3.0)
        assert row["max_bits_vs_reference"] == 0  # the same PDQ of the same decoded frames
        for method in ("hashwall", "reference"):
            m = row[method]
            assert m["frames_hashed"] == expected
            assert m["frames_decoded"] == 30
            assert m["cpu_s"] >= 0 and m["wall_s"] > 0
            assert m["frames_per_s"] > 0 and m["x_realtime_wall"] > 0
            assert m["x_realtime_wall"] == pytest.approx(3.0 / m["wall_s"])
        assert row["speedup_wall"] > 0
    total = report["total"]
    assert total["videos"] == 2 and total["duration_s"] == pytest.approx(6.0)
    for method in ("hashwall", "reference"):
        assert total[method]["frames_hashed"] == 2 * expected
        assert total[method]["frames_per_s"] > 0


def test_bench_video_prints_a_table(tmp_path: Path) -> None:
    make_test_videos(tmp_path, count=1, seconds=2, width=128, height=72, fps=10)
    result = CliRunner().invoke(bench_app, ["video", "--videos", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for text in ("hashwall", "reference", "ratio", "total", "target of 10x"):
        assert text in result.stdout


def test_bench_video_refuses_a_folder_without_videos(tmp_path: Path) -> None:
    result = CliRunner().invoke(bench_app, ["video", "--videos", str(tmp_path), "--json"])
    assert result.exit_code == 1
    assert "no video files" in result.stderr


def test_bench_video_fast_hashes_the_same_frames_within_a_few_bits(tmp_path: Path) -> None:
    make_test_videos(tmp_path, count=1, seconds=2, width=160, height=96, fps=10)
    result = CliRunner().invoke(bench_app, ["video", "--videos", str(tmp_path), "--fast", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["fast"] is True
    (row,) = report["videos"]
    assert row["hashwall"]["frames_hashed"] == row["reference"]["frames_hashed"] == 2
    # Fast mode's PDQ is the reference's within a few bits (as for images), not bit-exact.
    assert 0 <= row["max_bits_vs_reference"] <= 10
