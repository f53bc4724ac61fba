"""Videos inside bars through the API: a check's ``box_frames`` as JSON, and a barred video
file hashed in the decoder sandbox with its box frames, match the banked clip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from hashwall.client.bodies import upload_body
from hashwall.hashing.vpdq import hash_video
from hashwall.sandbox.pool import DecodePool
from hashwall.settings import Settings

from app_harness import assert_problem, running_api
from support import fresh_database_url
from video_samples import SMALL_FPS, encode_clip, small_panning

FPS = SMALL_FPS


def _letterboxed(frames: list[np.ndarray], share: float) -> Iterator[np.ndarray]:
    for f in frames:
        h, w = f.shape[:2]
        b = round(h * share)
        out = np.zeros_like(f)
        out[b : h - b] = np.asarray(Image.fromarray(f).resize((w, h - 2 * b)))
        yield out


@pytest.fixture(scope="module")
def videos() -> dict[str, bytes]:
    clip = small_panning(10, seed=7)
    return {
        "clip": encode_clip(clip, "mp4", FPS),
        "barred": encode_clip(_letterboxed(clip, 0.1), "mp4", FPS),
        "unrelated": encode_clip(_letterboxed(small_panning(10, seed=9), 0.1), "mp4", FPS),
    }


@pytest.fixture
def url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return fresh_database_url("sqlite", tmp_path, request)


@pytest.fixture(scope="module")
def pool() -> Iterator[DecodePool]:
    settings = Settings(decode_timeout=30.0, video_decode_timeout=60.0, decode_queue_timeout=30.0)
    with DecodePool(settings, workers=1) as decoder:
        yield decoder


def _check_body(data: bytes, *, box: bool = True) -> dict[str, Any]:
    hashed = hash_video(data, mirror=True, box=box)

    def lists(frames: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        plain = [{k: v for k, v in f.to_dict().items() if k != "mirror"} for f in frames]
        flipped = [{**p, "pdq": f.mirror.hex} for p, f in zip(plain, frames, strict=True)]
        return plain, flipped

    body: dict[str, Any] = {"kind": "video", "signals": []}
    body["frames"], body["mirror_frames"] = lists(hashed.frames)
    if hashed.box_frames:
        body["box_frames"], body["box_mirror_frames"] = lists(hashed.box_frames)
    return body


def _bank(api: Any, data: bytes) -> None:
    frames = [f.to_dict() for f in hash_video(data, seconds_per_hash=0).frames]
    created = api.post(
        "/v1/cases",
        "intake_a",
        json={"items": [{"kind": "video", "signals": [], "frames": frames}]},
    )
    assert created.status_code == 201, created.text
    api.catch_up()


def test_a_barred_upload_matches_by_its_box_frames_as_json(
    url: str, videos: dict[str, bytes]
) -> None:
    with running_api(url) as api:
        _bank(api, videos["clip"])
        body = _check_body(videos["barred"])
        assert "box_frames" in body
        found = api.post("/v1/check", "feed", json=body)
        assert found.status_code == 200, found.text
        assert found.json()["decision"] == "block"
        assert found.json()["matches"][0]["upload_frames_matched_pct"] >= 80
        plain = api.post("/v1/check", "feed", json=_check_body(videos["barred"], box=False))
        assert plain.json()["decision"] == "allow"
        other = api.post("/v1/check", "feed", json=_check_body(videos["unrelated"]))
        assert other.json()["decision"] == "allow"
        # Box frames come with a video's frames.
        alone = {"kind": "video", "signals": [{"type": "md5", "value": "0" * 32}]}
        alone["box_frames"] = body["box_frames"]
        assert (
            "box_frames"
            in assert_problem(api.post("/v1/check", "feed", json=alone), 422, "invalid_request")[
                "detail"
            ]
        )


def test_the_sdk_body_of_a_barred_video_carries_its_box_frames(
    url: str, videos: dict[str, bytes]
) -> None:
    body = upload_body(hash_video(videos["barred"], mirror=True, box=True))
    assert len(body["box_frames"]) == len(body["box_mirror_frames"]) > 0
    assert "box_frames" not in upload_body(hash_video(videos["clip"], mirror=True, box=True))
    with running_api(url) as api:
        _bank(api, videos["clip"])
        assert api.post("/v1/check", "feed", json=body).json()["decision"] == "block"


def test_a_barred_video_file_is_hashed_with_its_box_frames_in_the_sandbox(
    url: str, videos: dict[str, bytes], pool: DecodePool
) -> None:
    with running_api(url, decode_pool=pool) as api:
        _bank(api, videos["clip"])
        barred = {"file": ("upload.mp4", videos["barred"], "video/mp4")}
        found = api.post("/v1/check", "feed", files=barred)
        assert found.status_code == 200, found.text
        assert found.json()["decision"] == "block"
        other = {"file": ("other.mp4", videos["unrelated"], "video/mp4")}
        assert api.post("/v1/check", "feed", files=other).json()["decision"] == "allow"
