"""Videos with the CLI and the SDK against a real server: ``hashwall case create`` banks a
video by every frame, ``hashwall check`` checks videos at one frame per second (mirrored too),
and the SDK sends a video's frames."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from remote_cli import json_lines, run

from hashwall import Client
from hashwall.cli.check import EXIT_ALLOW, EXIT_BLOCK
from hashwall.hashing.vpdq import hash_video
from live_server import Served, indexed_at_least, prepare_store, served_in_thread

from support import fresh_database_url
from video_samples import SMALL_FPS, encode_clip, small_panning

FPS = SMALL_FPS


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    url = fresh_database_url("sqlite", tmp_path, request)
    with served_in_thread(url, prepare_store(url)) as served:
        yield served


@pytest.fixture
def videos(tmp_path: Path) -> dict[str, Path]:
    clip, host = small_panning(8, seed=7), small_panning(20, seed=8)
    data = {
        "clip.mp4": encode_clip(clip, "mp4", FPS),
        "inside.mkv": encode_clip(itertools.chain(host[:75], clip, host[75:]), "mkv", FPS),
        "mirrored.mp4": encode_clip((np.ascontiguousarray(f[:, ::-1]) for f in clip), "mp4", FPS),
        "other.mp4": encode_clip(small_panning(12, seed=9), "mp4", FPS),
    }
    folder = tmp_path / "videos"
    folder.mkdir()
    for name, content in data.items():
        (folder / name).write_bytes(content)
    return {name.split(".")[0]: folder / name for name in data}


def test_case_create_banks_every_frame_and_check_finds_the_clip(
    server: Served, videos: dict[str, Path]
) -> None:
    env = {"HASHWALL_KEY": server.keys["intake"]}
    created = run("case", "create", str(videos["clip"]), "--server", server.url, "--json", env=env)
    assert created.exit_code == 0, created.output
    assert json_lines(created)[0]["items"][0]["status"] == "accepted"
    assert indexed_at_least(server.url, 70) >= 70  # every frame of 8 s at 10 fps, not 8

    env = {"HASHWALL_KEY": server.keys["feed"]}
    paths = [str(videos[name]) for name in ("inside", "mirrored", "other")]
    checked = run("check", *paths, "--server", server.url, "--json", env=env)
    assert checked.exit_code == EXIT_BLOCK, checked.output
    lines = {Path(line["path"]).stem: line for line in json_lines(checked)}
    assert lines["inside"]["decision"] == "block"
    match = lines["inside"]["matches"][0]
    assert match["signal_type"] == "vpdq_frame" and match["banked_frames_matched_pct"] >= 80
    assert lines["mirrored"]["decision"] == "block"
    assert lines["other"]["decision"] == "allow"

    table = run("check", str(videos["inside"]), "--server", server.url, env=env)
    assert "frames" in table.output and "banked" in table.output

    alone = run("check", str(videos["other"]), "--server", server.url, "--json", env=env)
    assert alone.exit_code == EXIT_ALLOW


def test_the_sdk_sends_a_videos_frames(server: Served, videos: dict[str, Path]) -> None:
    with Client(server.url, key=server.keys["intake"]) as client:
        banked = client.create_case([hash_video(videos["clip"], seconds_per_hash=0)])
    assert banked.items[0].status == "accepted"
    indexed_at_least(server.url, 70)
    with Client(server.url, key=server.keys["feed"]) as client:
        found = client.check(hash_video(videos["mirrored"], mirror=True))
        assert found.decision == "block"
        assert found.matches[0].upload_frames_matched_pct is not None
        assert client.check(hash_video(videos["mirrored"])).decision == "allow"  # no mirror
        assert client.check(hash_video(videos["other"], mirror=True)).decision == "allow"
