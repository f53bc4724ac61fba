"""Keypoints over HTTP: a case banks them (the SDK's body of a photo hashed for the bank, or
the intake's media, hashed by the server); a check finds a cropped, turned repost by them
(the SDK's body, or the media); a PDQ-only check keeps its answer; values are validated."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashwall.bench.pictures import scene
from hashwall.client.bodies import item_body, upload_body
from hashwall.eval.transforms import SUITE
from hashwall.hashing.image import hash_image
from hashwall.sandbox.pool import DecodePool
from hashwall.settings import Settings

from app_harness import assert_problem, item_json, running_api
from support import fresh_database_url


@pytest.fixture(scope="module")
def pool() -> Iterator[DecodePool]:
    with DecodePool(Settings(decode_timeout=20.0, decode_queue_timeout=30.0), workers=1) as p:
        yield p


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _repost(img: Image.Image, name: str) -> bytes:
    return _jpeg(SUITE[name](img, np.random.default_rng(3)))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_keypoints_bank_and_match_through_the_api(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    photo, other = scene(31), scene(32)
    url = fresh_database_url(backend, tmp_path, request)
    with running_api(url) as api:
        banked = hash_image(_jpeg(photo), orientations=True, keypoints="bank")
        body = {"items": [item_body(banked)]}
        assert any(s["type"] == "keypoints" for s in body["items"][0]["signals"])
        created = api.post("/v1/cases", "intake_a", json=body)
        assert created.status_code == 201, created.text
        api.catch_up()

        repost = _repost(photo, "chain_crop10_pad20_jpeg70")
        plain = hash_image(repost, fast=True, orientations=True)
        # Without keypoints, today's answer: not found.
        assert api.post("/v1/check", "feed", json=upload_body(plain)).json()["decision"] == "allow"
        found = api.post(
            "/v1/check",
            "feed",
            json=upload_body(hash_image(repost, fast=True, orientations=True, keypoints="upload")),
        )
        assert found.status_code == 200, found.text
        (match,) = found.json()["matches"]
        assert found.json()["decision"] == "review" and match["signal_type"] == "keypoints"
        unrelated = hash_image(
            _repost(other, "chain_crop10_pad20_jpeg70"), fast=True, keypoints="upload"
        )
        assert api.post("/v1/check", "feed", json=upload_body(unrelated)).json()["decision"] == (
            "allow"
        )

        # Values are validated: not whole records, or too many.
        value = next(
            s["value"] for s in upload_body(unrelated)["signals"] if s["type"] == "keypoints"
        )
        for bad in (value[:-2], value * 40):
            signals = [{"type": "keypoints", "value": bad}]
            response = api.post("/v1/check", "feed", json={"signals": signals})
            assert response.status_code in (400, 422), response.text


def test_media_routes_compute_keypoints(
    pool: DecodePool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    photo = scene(33)
    url = fresh_database_url("sqlite", tmp_path, request)
    with running_api(url, decode_pool=pool) as api:
        files = {"file": ("a.jpg", _jpeg(photo), "image/jpeg")}
        assert api.post("/v1/cases", "intake_a", files=files).status_code == 201
        api.catch_up()
        assert api.ctx.live is not None and api.ctx.live.sizes()["keypoints"] == 1
        turned = _repost(photo, "rotate_8_crop")
        plain = {"signals": item_json(hash_image(turned, fast=True))["signals"]}
        assert api.post("/v1/check", "feed", json=plain).json()["decision"] == "allow"
        found = api.post("/v1/check", "feed", files={"file": ("r.jpg", turned, "image/jpeg")})
        assert found.status_code == 200, found.text
        assert found.json()["decision"] == "review"
        assert found.json()["matches"][0]["signal_type"] == "keypoints"
        assert_problem(
            api.post("/v1/check", "feed", json={"signals": [{"type": "keypoints", "value": "0"}]}),
            400,
            "invalid_hash",
        )
