"""``hashwall match --bank`` on videos: a video banked by every frame through a real server,
synced with ``hashwall feed sync``, is found locally inside a longer video (hashed at one frame
per second, mirrored too) with the decision ``hashwall check`` gets from the service."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from remote_cli import json_lines
from typer.testing import CliRunner, Result

from hashwall.cli.check import EXIT_BLOCK
from hashwall.cli.main import app
from live_server import Served, indexed_at_least, prepare_store, served_in_thread

from support import fresh_database_url
from video_samples import SMALL_FPS, encode_clip, small_panning

FPS = SMALL_FPS


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """Invoke hashwall (``match`` is a command of the full app); never a traceback."""
    result = CliRunner().invoke(app, list(args), env=env)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    return result


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
        "other.mp4": encode_clip(small_panning(12, seed=9), "mp4", FPS),
    }
    folder = tmp_path / "videos"
    folder.mkdir()
    for name, content in data.items():
        (folder / name).write_bytes(content)
    return {name.split(".")[0]: folder / name for name in data}


def test_match_finds_a_banked_video_in_the_copy_as_check_does(
    server: Served, videos: dict[str, Path], tmp_path: Path
) -> None:
    intake = {"HASHWALL_KEY": server.keys["intake"]}
    created = run("case", "create", str(videos["clip"]), "--server", server.url, "--json",
                  env=intake)  # fmt: skip
    assert created.exit_code == 0, created.output
    item_ref = json_lines(created)[0]["items"][0]["item_ref"]
    assert indexed_at_least(server.url, 70) >= 70  # every frame of 8 s at 10 fps
    feed = {"HASHWALL_KEY": server.keys["feed"]}
    bank = tmp_path / "feed"
    synced = run("feed", "sync", "--server", server.url, "--dir", str(bank), env=feed)
    assert synced.exit_code == 0, synced.output

    paths = [str(videos["inside"]), str(videos["other"])]
    local = run("match", *paths, "--bank", str(bank), "--json")
    assert local.exit_code == EXIT_BLOCK, local.output
    answers = {Path(line["path"]).stem: line for line in json_lines(local)}
    checked = run("check", *paths, "--server", server.url, "--json", env=feed)
    remote = {Path(line["path"]).stem: line for line in json_lines(checked)}
    assert (
        {n: a["decision"] for n, a in answers.items()}
        == {n: r["decision"] for n, r in remote.items()}
        == {"inside": "block", "other": "allow"}
    )
    match = answers["inside"]["matches"][0]
    assert match["item_ref"] == item_ref and match["signal_type"] == "vpdq_frame"
    assert "distance" not in match and match["banked_frames_matched_pct"] >= 80
    assert match["ranges"]["upload"][0]["start"] >= 6  # the clip starts at 7.5 s

    table = run("match", str(videos["inside"]), "--bank", str(bank))
    assert table.exit_code == EXIT_BLOCK and "block" in table.stdout and "banked" in table.stdout
