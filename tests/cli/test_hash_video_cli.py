"""``hashwall hash`` on videos: frame hashes as JSON, vPDQ's text format, animations, errors."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from hashwall.cli.main import app
from hashwall.hashing.image import hash_image
from hashwall.hashing.vpdq import VpdqFeature

from support import encode, textured_rgb

runner = CliRunner()


def _frames(n: int = 20) -> list[np.ndarray]:
    base = textured_rgb(96 + 3 * n, 64, seed=5)
    return [np.ascontiguousarray(base[:, 3 * i : 3 * i + 96]) for i in range(n)]


def _mp4(frames: list[np.ndarray], fps: int = 10) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for pixels in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("videos") / "clip.mp4"
    path.write_bytes(_mp4(_frames()))
    return path


def _records(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_a_video_is_one_json_object_with_its_frame_hashes_at_one_per_second(video: Path) -> None:
    result = runner.invoke(app, ["hash", "--json", str(video)])
    assert result.exit_code == 0, result.output
    (record,) = _records(result.stdout)
    assert record["kind"] == "video" and record["error"] is None
    assert record["md5"] == hashlib.md5(video.read_bytes()).hexdigest()
    frames = record["frames"]
    assert isinstance(frames, list)
    assert [(f["frame"], f["timestamp"]) for f in frames] == [(0, 0.0), (10, 1.0)]
    assert (record["frames_decoded"], record["duration"], record["fps"]) == (20, 2.0, 10.0)


def test_every_frame_and_seconds_per_hash_set_the_rate(video: Path) -> None:
    every = _records(runner.invoke(app, ["hash", "--json", "--every-frame", str(video)]).stdout)
    assert [f["frame"] for f in every[0]["frames"]] == list(range(20))  # type: ignore[attr-defined]
    half = _records(
        runner.invoke(app, ["hash", "--json", "--seconds-per-hash", "0.5", str(video)]).stdout
    )
    assert [f["frame"] for f in half[0]["frames"]] == [0, 5, 10, 15]  # type: ignore[attr-defined]


def test_vpdq_prints_vpdq_text_lines(video: Path) -> None:
    result = runner.invoke(app, ["hash", "--vpdq", "--every-frame", str(video)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    features = [VpdqFeature.from_line(line) for line in lines]
    assert [f.frame_number for f in features] == list(range(20))
    assert lines[3].endswith(",0.300")


def test_vpdq_takes_one_video(video: Path) -> None:
    result = runner.invoke(app, ["hash", "--vpdq", str(video), str(video)])
    assert result.exit_code == 2


def test_an_animated_gif_is_a_video_that_keeps_its_first_frame_pdq(tmp_path: Path) -> None:
    images = [Image.fromarray(f) for f in _frames(12)]
    path = tmp_path / "anim.gif"
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    (record,) = _records(runner.invoke(app, ["hash", "--json", str(path)]).stdout)
    assert record["kind"] == "video" and record["format"] == "gif"
    assert record["pdq"] == hash_image(path.read_bytes()).pdq.hex
    assert len(record["frames"]) == 2  # type: ignore[arg-type]


def test_images_and_videos_in_one_folder(tmp_path: Path, video: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(encode(textured_rgb(seed=1), "JPEG"))
    (tmp_path / "b.mp4").write_bytes(video.read_bytes())
    records = _records(runner.invoke(app, ["hash", "--json", str(tmp_path)]).stdout)
    assert [r["kind"] for r in records] == ["image", "video"]


def test_a_truncated_video_is_a_clean_error(tmp_path: Path, video: Path) -> None:
    data = video.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    result = runner.invoke(app, ["hash", "--json", str(path)])
    assert result.exit_code == 1
    (record,) = _records(result.stdout)
    assert record["error"]["code"] == "corrupt_media"  # type: ignore[index]


def test_the_table_shows_each_hashed_frame(video: Path) -> None:
    result = runner.invoke(app, ["hash", str(video)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "frame 10 @ 1.000 s" in result.stdout
    assert "2 frame hashes of 20 frames" in result.stdout
