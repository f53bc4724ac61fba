"""Still videos through the API's media path (hashed in the decoder sandbox): a video of a
photo, too few scenes for the video rule, is banked and checked by its picture as well, a
``pdq`` signal, so that it matches its re-encode and the photo it shows, both ways."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashwall.sandbox.pool import DecodePool
from hashwall.settings import Settings

from app_harness import running_api
from support import fresh_database_url, require_shared_data
from video_samples import encode_clip

PHOTO, OTHER = "kphotoalbum/kphotoalbum_0002.jpg", "kphotoalbum/kphotoalbum_0003.jpg"


def _jpeg(name: str) -> bytes:
    return require_shared_data("photos", name).read_bytes()


def _still(data: bytes, size: tuple[int, int] | None = None, fps: int = 10) -> bytes:
    """6 s of the photo (resized to ``size``, else cropped to even sides) as H.264."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    if size is not None:
        image = image.resize(size)
    rgb = np.asarray(image)
    h, w = rgb.shape[:2]
    pixels = np.ascontiguousarray(rgb[: h // 2 * 2, : w // 2 * 2])
    return encode_clip([pixels] * 6 * fps, "mp4", fps, options={"crf": "35"})


def _file(name: str, data: bytes) -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, data, "application/octet-stream")}


@pytest.fixture(scope="module")
def pool() -> Iterator[DecodePool]:
    settings = Settings(decode_timeout=30.0, video_decode_timeout=60.0, decode_queue_timeout=30.0)
    with DecodePool(settings, workers=1) as decoder:
        yield decoder


@pytest.fixture
def url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return fresh_database_url("sqlite", tmp_path, request)


def test_a_still_video_banked_by_its_file_matches_its_reencode_and_its_photo(
    url: str, pool: DecodePool
) -> None:
    photo = _jpeg(PHOTO)
    with running_api(url, decode_pool=pool) as api:
        created = api.post("/v1/cases", "intake_a", files=_file("still.mp4", _still(photo)))
        assert created.status_code == 201, created.text
        assert created.json()["items"][0]["status"] == "accepted"
        api.catch_up()
        assert api.ctx.live is not None and api.ctx.live.sizes()["pdq"] == 1

        for name, data in {
            "again.mp4": _still(photo, (320, 240), fps=25),
            "photo.jpg": photo,
        }.items():
            answer = api.post("/v1/check", "feed", files=_file(name, data)).json()
            assert answer["decision"] == "block", (name, answer)
            assert [m["signal_type"] for m in answer["matches"]] == ["pdq"], name
        other = api.post("/v1/check", "feed", files=_file("o.mp4", _still(_jpeg(OTHER)))).json()
        assert other["decision"] == "allow", other


def test_a_banked_photo_matches_a_still_video_of_it_checked_by_its_file(
    url: str, pool: DecodePool
) -> None:
    photo = _jpeg(PHOTO)
    with running_api(url, decode_pool=pool) as api:
        created = api.post("/v1/cases", "intake_a", files=_file("photo.jpg", photo))
        assert created.status_code == 201, created.text
        api.catch_up()
        answer = api.post("/v1/check", "feed", files=_file("s.mp4", _still(photo, (320, 240))))
        assert answer.json()["decision"] == "block", answer.text
        assert [m["signal_type"] for m in answer.json()["matches"]] == ["pdq"]
