"""Animated GIF, PNG and WebP through the API's media path: videos, hashed by their frames in
the decoder sandbox (banked every frame, checked at one frame per second), with the first
frame's PDQ beside them, so that an animation banked as an image before (its first frame's PDQ
only) still matches, and a still of its first frame matches an animation banked now."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashwall import hash_image
from hashwall.api.routes.common import is_video
from hashwall.media.video import is_video_path
from hashwall.sandbox.pool import DecodePool
from hashwall.settings import Settings

from app_harness import assert_problem, running_api
from support import fresh_database_url
from video_samples import animation, encode_clip, panning_frames, tiny_frames_gif

WIDTH, HEIGHT = 128, 96
FRAME_LIMIT = 20_000


def _frames(count: int, seed: int) -> list[np.ndarray]:
    return list(panning_frames(count, WIDTH, HEIGHT, seed, 2))


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _one_frame_apng(pixels: np.ndarray) -> bytes:
    """A PNG whose acTL chunk declares an animation of one frame (still, though flagged)."""
    png = _png(pixels)
    body = struct.pack(">II", 1, 0)
    actl = struct.pack(">I", 8) + b"acTL" + body + struct.pack(">I", zlib.crc32(b"acTL" + body))
    ihdr_end = 8 + 8 + 13 + 4
    return png[:ihdr_end] + actl + png[ihdr_end:]


def _file(name: str, data: bytes) -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, data, "application/octet-stream")}


@pytest.fixture(scope="module")
def pool() -> Iterator[DecodePool]:
    # The pool hands its media limits to its worker: the frames it may decode are lowered
    # from 432,000 so that a test reaches the limit.
    settings = Settings(
        decode_timeout=30.0,
        video_decode_timeout=60.0,
        decode_queue_timeout=30.0,
        video_max_frames=FRAME_LIMIT,
    )
    with DecodePool(settings, workers=1) as decoder:
        yield decoder


@pytest.fixture
def url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return fresh_database_url("sqlite", tmp_path, request)


def test_animations_of_more_than_one_frame_take_the_video_path(tmp_path: Path) -> None:
    frames = _frames(3, seed=1)
    cases = [(animation(frames, fmt), True) for fmt in ("GIF", "PNG", "WEBP")]
    cases += [(animation(frames[:1], fmt), False) for fmt in ("GIF", "PNG", "WEBP")]
    cases += [(_png(frames[0]), False), (_one_frame_apng(frames[0]), False)]
    cases += [(encode_clip(frames, "mp4", 10), True)]
    for n, (data, video) in enumerate(cases):
        assert is_video(data) is video, n  # the media path
        path = tmp_path / f"{n}.bin"
        path.write_bytes(data)
        assert is_video_path(path, Settings()) is video, n  # the CLI


def test_an_animation_banked_as_an_image_before_matches_its_upload_checked_as_a_video(
    url: str, pool: DecodePool
) -> None:
    gif = animation(_frames(50, seed=3), "GIF")
    earlier = hash_image(gif)  # what banking it as an image gave: its first frame's PDQ
    banked = {
        "kind": "image",
        "signals": [{"type": "pdq", "value": earlier.pdq.hex, "quality": 100}],
    }
    with running_api(url, decode_pool=pool) as api:
        created = api.post("/v1/cases", "intake_a", json={"items": [banked]})
        assert created.status_code == 201, created.text
        api.catch_up()
        found = api.post("/v1/check", "feed", files=_file("again.gif", gif))
        assert found.status_code == 200, found.text
        answer = found.json()
        assert answer["decision"] == "block", answer
        assert [m["signal_type"] for m in answer["matches"]] == ["pdq"]
        other = animation(_frames(50, seed=4), "GIF")
        assert api.post("/v1/check", "feed", files=_file("o.gif", other)).json()["decision"] == (
            "allow"
        )


def test_an_animation_banked_now_matches_its_mp4_by_frames_and_its_first_frame_by_pdq(
    url: str, pool: DecodePool
) -> None:
    frames = _frames(50, seed=5)
    with running_api(url, decode_pool=pool) as api:
        created = api.post(
            "/v1/cases", "intake_a", files=_file("anim.gif", animation(frames, "GIF"))
        )
        assert created.status_code == 201, created.text
        assert created.json()["items"][0]["status"] == "accepted"
        api.catch_up()
        live = api.ctx.live
        assert live is not None
        sizes = live.sizes()
        assert sizes["vpdq_frame"] >= 40  # banked densely: every frame, not one a second
        assert sizes["pdq"] == 1  # and the first frame as an image

        mp4 = encode_clip(frames, "mp4", 10)  # the same frames re-encoded at 10 fps
        by_frames = api.post("/v1/check", "feed", files=_file("anim.mp4", mp4)).json()
        assert by_frames["decision"] == "block", by_frames
        assert by_frames["matches"][0]["signal_type"] == "vpdq_frame"
        assert by_frames["matches"][0]["banked_frames_matched_pct"] >= 80

        still = api.post("/v1/check", "feed", files=_file("first.png", _png(frames[0]))).json()
        assert still["decision"] == "block", still
        assert still["matches"][0]["signal_type"] == "pdq"

        mirrored = animation([np.ascontiguousarray(f[:, ::-1]) for f in frames], "WEBP")
        again = api.post("/v1/check", "feed", files=_file("m.webp", mirrored)).json()
        assert again["decision"] == "block", again  # an animated WebP, mirrored

        other = animation(_frames(50, seed=6), "PNG")
        assert api.post("/v1/check", "feed", files=_file("o.png", other)).json()["decision"] == (
            "allow"
        )


def test_a_100000_frame_gif_is_refused_on_the_media_path(url: str, pool: DecodePool) -> None:
    # 100,000 frames of 0.1 s: 10,000 s, past video_max_seconds (2 h): refused, no hang.
    huge = tiny_frames_gif(100_000)
    with running_api(url, decode_pool=pool) as api:
        for path, key in (("/v1/check", "feed"), ("/v1/cases", "intake_a")):
            assert_problem(
                api.post(path, key, files=_file("huge.gif", huge)), 413, "media_too_long"
            )


def test_a_gif_of_more_frames_than_the_limit_is_too_many_frames(url: str, pool: DecodePool) -> None:
    # 30,000 frames of 0.02 s: 600 s is within the duration limit; the frame limit refuses it.
    many = tiny_frames_gif(30_000, delay_cs=2)
    with running_api(url, decode_pool=pool) as api:
        refused = api.post("/v1/check", "feed", files=_file("many.gif", many))
        problem = assert_problem(refused, 413, "too_many_frames")
        assert f"{FRAME_LIMIT}" in problem["detail"]
