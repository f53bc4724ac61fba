"""A check's regions (``hash_image(regions=True)``) cross the worker protocol intact, and a
worker's malformed regions are refused."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageFilter

from hashwall.hashing.image import hash_image
from hashwall.sandbox import protocol
from hashwall.sandbox.worker import hash_media
from hashwall.settings import Settings


def _padded() -> bytes:
    rng = np.random.default_rng(3)
    coarse = rng.integers(0, 256, size=(16, 21, 3), dtype=np.uint8)
    photo = Image.fromarray(coarse, "RGB").resize((320, 240)).filter(ImageFilter.GaussianBlur(1))
    canvas = Image.new("RGB", (400, 330), (0, 0, 0))
    canvas.paste(photo, (40, 45))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def test_the_job_asks_for_regions_and_the_answer_carries_them() -> None:
    data = _padded()
    header = json.loads(protocol.hash_job(fast=True, orientations=True, regions=True))
    assert header["regions"] is True
    answer = hash_media(header, data, Settings())
    back = protocol.hashes_from_wire(json.loads(json.dumps(answer["ok"])))
    assert back == hash_image(data, fast=True, orientations=True, regions=True)
    assert len(back.regions) == 1
    without = json.loads(protocol.hash_job(fast=True, orientations=True))
    assert protocol.hashes_from_wire(hash_media(without, data, Settings())["ok"]).regions == ()


def test_malformed_regions_are_refused() -> None:
    wire = protocol.hashes_to_wire(hash_image(_padded(), fast=True, regions=True))
    place = wire["regions"][0]
    for bad in ([place[:7]], [place] * 9, "x", [["zz" * 32] * 8]):
        with pytest.raises(TypeError):
            protocol.hashes_from_wire({**wire, "regions": bad})
