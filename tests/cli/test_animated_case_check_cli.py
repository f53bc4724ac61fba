"""Animated GIFs with the CLI and the SDK against a real server: an animation is a video (its
frames) with its first frame's PDQ beside them, banked and checked by ``hashwall case create``,
``hashwall check`` and the SDK's bodies."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from remote_cli import json_lines, run

from hashwall import Client, hash_image
from hashwall.cli.check import EXIT_BLOCK
from hashwall.hashing.vpdq import hash_video
from live_server import Served, indexed_at_least, prepare_store, served_in_thread

from support import fresh_database_url
from video_samples import animation, encode_clip, panning_frames


def _frames(seed: int) -> list[np.ndarray]:
    return list(panning_frames(40, 128, 96, seed, 2))


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    url = fresh_database_url("sqlite", tmp_path, request)
    with served_in_thread(url, prepare_store(url)) as served:
        yield served


def test_case_create_banks_an_animation_by_frames_and_first_frame(
    server: Served, tmp_path: Path
) -> None:
    frames, other = _frames(seed=11), _frames(seed=12)
    files = {
        "anim.gif": animation(frames, "GIF"),
        "same.mp4": encode_clip(frames, "mp4", 10),
        "first.png": _png(frames[0]),
        "other.gif": animation(other, "GIF"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    env = {"HASHWALL_KEY": server.keys["intake"]}
    created = run(
        "case", "create", str(tmp_path / "anim.gif"), "--server", server.url, "--json", env=env
    )
    assert created.exit_code == 0, created.output
    assert json_lines(created)[0]["items"][0]["status"] == "accepted"
    assert indexed_at_least(server.url, 31) >= 31  # ~every frame, and the first frame's PDQ

    env = {"HASHWALL_KEY": server.keys["feed"]}
    paths = [str(tmp_path / n) for n in ("same.mp4", "first.png", "other.gif")]
    checked = run("check", *paths, "--server", server.url, "--json", env=env)
    assert checked.exit_code == EXIT_BLOCK, checked.output
    lines = {Path(line["path"]).name: line for line in json_lines(checked)}
    assert lines["same.mp4"]["matches"][0]["signal_type"] == "vpdq_frame"
    assert lines["first.png"]["matches"][0]["signal_type"] == "pdq"
    assert lines["other.gif"]["decision"] == "allow"


def test_the_sdk_checks_an_animations_first_frame_in_every_orientation(
    server: Served, tmp_path: Path
) -> None:
    frames = _frames(seed=13)
    first = hash_image(_png(frames[0]))  # banked before as an image: its PDQ only
    with Client(server.url, key=server.keys["intake"]) as client:
        banked = client.create_case([[{"type": "pdq", "value": first.pdq.hex, "quality": 100}]])
    assert banked.items[0].status == "accepted"
    indexed_at_least(server.url, 1)
    turned = tmp_path / "turned.gif"  # the animation turned a quarter: its frames differ
    turned.write_bytes(animation([np.ascontiguousarray(np.rot90(f)) for f in frames], "GIF"))
    with Client(server.url, key=server.keys["feed"]) as client:
        found = client.check(hash_video(turned, mirror=True))
        assert found.decision == "block"
        assert found.matches[0].signal_type == "pdq"
        # Without the orientations (not hashed mirrored) the turned first frame is not found.
        assert client.check(hash_video(turned)).decision == "allow"
