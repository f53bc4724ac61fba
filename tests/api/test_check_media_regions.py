"""A media check hashes the upload with its regions: a banked photo reposted inside a border
is found; another photo in the same border is not; a check by hashes alone keeps working, and
finds it when it carries the regions (``pdq_regions``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hashwall.client.bodies import upload_body
from hashwall.hashing.image import hash_image
from hashwall.sandbox.pool import DecodePool
from hashwall.settings import Settings

from app_harness import hashes_of, item_json, jpeg, photo, running_api
from support import fresh_database_url


@pytest.fixture(scope="module")
def pool() -> Iterator[DecodePool]:
    with DecodePool(Settings(decode_timeout=10.0, decode_queue_timeout=20.0), workers=1) as p:
        yield p


def _bordered(pixels: np.ndarray) -> bytes:
    h, w = pixels.shape[:2]
    canvas = np.full((h + 80, w + 100, 3), 255, np.uint8)
    canvas[40 : 40 + h, 50 : 50 + w] = pixels
    return jpeg(canvas, quality=95)


def test_a_bordered_repost_is_found_by_a_media_check(
    pool: DecodePool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    banked, other = photo(21), photo(22)
    url = fresh_database_url("sqlite", tmp_path, request)
    with running_api(url, decode_pool=pool) as api:
        files = {"file": ("a.jpg", jpeg(banked), "image/jpeg")}
        assert api.post("/v1/cases", "intake_a", files=files).status_code == 201
        api.catch_up()
        repost = _bordered(banked)
        found = api.post("/v1/check", "feed", files={"file": ("r.jpg", repost, "image/jpeg")})
        assert found.status_code == 200, found.text
        assert found.json()["decision"] == "block"
        unrelated = {"file": ("o.jpg", _bordered(other), "image/jpeg")}
        assert api.post("/v1/check", "feed", files=unrelated).json()["decision"] == "allow"
        # A platform that sends only its PDQ (no regions) gets today's answer: not found.
        by_hash = api.post(
            "/v1/check", "feed", json={"signals": item_json(hashes_of(repost))["signals"]}
        )
        assert by_hash.status_code == 200 and by_hash.json()["decision"] == "allow"
        # The SDK's body of an upload hashed with its regions carries them (pdq_regions).
        body = upload_body(hash_image(repost, fast=True, orientations=True, regions=True))
        assert len(body["pdq_regions"]) == 1 and len(body["pdq_regions"][0]) == 8
        assert api.post("/v1/check", "feed", json=body).json()["decision"] == "block"
        short = {**body, "pdq_regions": [body["pdq_regions"][0][:7]]}
        assert api.post("/v1/check", "feed", json=short).status_code == 422
