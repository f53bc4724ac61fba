"""Videos through the API: frames as JSON on ``/v1/cases`` and ``/v1/check`` (the contract the
browser and the SDK send), and video files hashed in the decoder sandbox (intake partners bank
every frame; platforms check at one frame per second with the mirrored frames)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hashwall.hashing.vpdq import hash_video
from hashwall.sandbox.pool import DecodePool
from hashwall.settings import Settings

from app_harness import assert_problem, running_api
from support import fresh_database_url
from video_samples import SMALL_FPS, encode_clip, small_panning

FPS = SMALL_FPS


@pytest.fixture(scope="module")
def videos() -> dict[str, bytes]:
    clip, host = small_panning(10, seed=7), small_panning(30, seed=8)
    return {
        "clip": encode_clip(clip, "mp4", FPS),
        "inside": encode_clip(itertools.chain(host[:105], clip, host[105:]), "mkv", FPS),
        "unrelated": encode_clip(small_panning(15, seed=9), "mp4", FPS),
    }


def _frames(data: bytes, *, dense: bool = False) -> list[dict[str, Any]]:
    hashed = hash_video(data, seconds_per_hash=0 if dense else None)
    return [f.to_dict() for f in hashed.frames]


def _mirrored(data: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    hashed = hash_video(data, mirror=True)
    plain = [{k: v for k, v in f.to_dict().items() if k != "mirror"} for f in hashed.frames]
    flipped = [
        {**p, "pdq": f.mirror.hex} for p, f in zip(plain, hashed.frames, strict=True) if f.mirror
    ]
    return plain, flipped


@pytest.fixture
def url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return fresh_database_url("sqlite", tmp_path, request)


def test_a_video_banked_and_checked_by_frames_as_json(url: str, videos: dict[str, bytes]) -> None:
    banked = {"kind": "video", "signals": [], "frames": _frames(videos["clip"], dense=True)}
    with running_api(url) as api:
        created = api.post("/v1/cases", "intake_a", json={"items": [banked]})
        assert created.status_code == 201, created.text
        assert created.json()["items"][0]["status"] == "accepted"
        api.catch_up()

        plain, flipped = _mirrored(videos["inside"])
        body = {"kind": "video", "signals": [], "frames": plain, "mirror_frames": flipped}
        found = api.post("/v1/check", "feed", json=body)  # feed reveals distances
        assert found.status_code == 200, found.text
        answer = found.json()
        assert answer["decision"] == "block" and answer["reason"] == "match"
        match = answer["matches"][0]
        assert match["signal_type"] == "vpdq_frame"
        assert match["banked_frames_matched_pct"] >= 80
        assert match["upload_frames_matched_pct"] < 50
        assert 10 <= match["ranges"]["upload"][0]["start"] <= 12
        assert "distance" not in match

        quiet = api.post("/v1/check", "chat", json=body).json()  # reveals nothing
        assert quiet["decision"] == "block"
        assert set(quiet["matches"][0]) == {"match_ref", "decision", "signal_type"}

        plain, flipped = _mirrored(videos["unrelated"])
        other = {"kind": "video", "signals": [], "frames": plain, "mirror_frames": flipped}
        assert api.post("/v1/check", "feed", json=other).json()["decision"] == "allow"

        batch = api.post("/v1/check/batch", "feed", json={"uploads": [body, other]})
        assert batch.status_code == 200, batch.text
        decisions = [r["result"]["decision"] for r in batch.json()["results"]]
        assert decisions == ["block", "allow"]


def test_bad_frame_lists_get_clear_errors(url: str) -> None:
    good = {
        "frame": 0,
        "pdq": "34ada6b96d18d2491a79f80f07f2c9936fe6083dfb6983d8a4a36db40034df54",
        "quality": 90,
        "timestamp": 0.0,
    }
    with running_api(url, vpdq_max_frames=3) as api:
        late = {**good, "frame": 1, "timestamp": 0.1}
        body = {"kind": "video", "signals": [], "frames": [late, good]}
        assert_problem(api.post("/v1/check", "feed", json=body), 400, "invalid_hash")
        many = [{**good, "frame": i, "timestamp": i / 10} for i in range(4)]
        body = {"kind": "video", "signals": [], "frames": many}
        assert_problem(api.post("/v1/check", "feed", json=body), 413, "too_many_frames")
        # Frames are a video's; and something must be sent.
        not_video = api.post("/v1/check", "feed", json={"signals": [], "frames": [good]})
        assert "kind" in assert_problem(not_video, 422, "invalid_request")["detail"]
        empty = api.post("/v1/check", "feed", json={"signals": []})
        assert "at least one signal" in assert_problem(empty, 422, "invalid_request")["detail"]
        refused = api.post(
            "/v1/cases",
            "intake_a",
            json={"items": [{"kind": "video", "signals": [], "frames": [{**good, "pdq": "00"}]}]},
        )
        problem = assert_problem(refused, 422, "no_items_accepted")
        assert "invalid_hash" in problem["detail"]


@pytest.fixture(scope="module")
def pool() -> Iterator[DecodePool]:
    settings = Settings(decode_timeout=30.0, video_decode_timeout=60.0, decode_queue_timeout=30.0)
    with DecodePool(settings, workers=1) as decoder:
        yield decoder


def test_video_files_are_hashed_in_the_sandbox_banked_densely_and_checked(
    url: str, videos: dict[str, bytes], pool: DecodePool
) -> None:
    with running_api(url, decode_pool=pool) as api:
        files = {"file": ("clip.mp4", videos["clip"], "video/mp4")}
        created = api.post("/v1/cases", "intake_a", files=files)
        assert created.status_code == 201, created.text
        api.catch_up()
        live = api.ctx.live
        assert live is not None
        assert live.sizes()["vpdq_frame"] >= 90  # every frame of 10 s at 10 fps, not 10

        inside = {"file": ("upload.mkv", videos["inside"], "video/x-matroska")}
        found = api.post("/v1/check", "feed", files=inside)
        assert found.status_code == 200, found.text
        assert found.json()["decision"] == "block"
        assert found.json()["matches"][0]["signal_type"] == "vpdq_frame"

        other = {"file": ("other.mp4", videos["unrelated"], "video/mp4")}
        assert api.post("/v1/check", "feed", files=other).json()["decision"] == "allow"

        broken = {"file": ("broken.mp4", videos["clip"][: len(videos["clip"]) // 3], "video/mp4")}
        assert api.post("/v1/check", "feed", files=broken).status_code == 422


def test_the_feed_carries_a_videos_frames_with_their_numbers_and_timestamps(
    url: str, videos: dict[str, bytes]
) -> None:
    frames = _frames(videos["clip"])
    banked = {"kind": "video", "signals": [], "frames": frames}
    with running_api(url) as api:
        assert api.post("/v1/cases", "intake_a", json={"items": [banked]}).status_code == 201
        page = api.get("/v1/feed", "feed")
        assert page.status_code == 200, page.text
        body = page.json()
        held = [s for item in body.get("items", []) for s in item["signals"]]
        held += [s for event in body.get("events", []) for s in event.get("signals", [])]
        shown = [
            (s["value"], s["frame_number"], s["frame_timestamp"])
            for s in held
            if s["type"] == "vpdq_frame"
        ]
        assert shown[: len(frames)] == [(f["pdq"], f["frame"], f["timestamp"]) for f in frames]


def _random_frames(count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` frames of distinct random PDQ hashes (half of the bits set), in order."""
    rng = np.random.default_rng(seed)
    half = np.repeat(np.array([0, 1], dtype=np.uint8), 128)
    return [
        {
            "frame": i,
            "pdq": np.packbits(rng.permutation(half)).tobytes().hex(),
            "quality": 90,
            "timestamp": i / 10,
        }
        for i in range(count)
    ]


def test_new_case_items_and_batches_may_carry_a_videos_frames_beyond_the_json_limit(
    url: str,
) -> None:
    limits = {"max_json_bytes": 16 * 1024, "video_max_json_bytes": 64 * 1024}
    frames = _random_frames(300, seed=3)  # ~33 KB of JSON: over the JSON limit, within video's
    with running_api(url, **limits) as api:
        image = {"signals": [{"type": "md5", "value": "0" * 31 + "1"}]}
        created = api.post("/v1/cases", "intake_a", json={"items": [image]})
        assert created.status_code == 201, created.text
        number = created.json()["case_number"]
        video = {"kind": "video", "signals": [], "frames": frames}
        into_case = {"case_number": number, "items": [video]}
        added = api.post("/v1/cases/items", "intake_a", json=into_case)
        assert added.status_code == 200, added.text
        assert added.json()["items"][0]["status"] == "accepted"
        batch = api.post("/v1/check/batch", "feed", json={"uploads": [video]})
        assert batch.status_code == 200, batch.text
        # Other JSON routes keep the JSON limit; the video routes the video limit.
        padded = {"case_number": number, "pin": None, "padding": "x" * 20_000}
        refused = api.post("/v1/cases/status", "intake_a", json=padded)
        assert_problem(refused, 413, "payload_too_large")
        huge = {"kind": "video", "signals": [], "frames": _random_frames(700, seed=4)}
        into_case = {"case_number": number, "items": [huge]}
        too_big = api.post("/v1/cases/items", "intake_a", json=into_case)
        assert_problem(too_big, 413, "payload_too_large")
