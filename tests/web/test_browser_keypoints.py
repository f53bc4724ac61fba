"""The browser's keypoint codes equal the server's: ``web/hashing/keypoints.js`` in Chromium
against :func:`hashwall.hashing.keypoints.keypoints` with the bank settings.

Both sides get the same RGB pixels (raw RGBA bytes go into the page, nothing is decoded
there), so only arithmetic could differ: the module repeats the server's steps in the same
order and precision (float32 where numba computes in float32, Pillow's resampling of a mode
"F" image, the same tie order when keypoints are selected).

Measured: every record (code, place, scale, angle; 16 bytes each) bit for bit identical on
the 8 generated pictures here (enlarged, shrunk, exact size, portrait, a thin strip), on the
21 photos of ``photos/`` compared here and on the 4000 x 3000 picture. The orientation
histograms are computed in float64 on both sides (gradients, ``atan2``, lengths), so that
neither the C library's float32 ``atan2f`` nor V8's rounding can put a gradient in another bin.

Required: every picture's banked keypoints are found by the server's check of a JPEG copy
(``match_inliers`` of the server's upload keypoints against the browser's, at least
:data:`MIN_INLIERS`); on every picture at least 95% of the browser's keypoints lie where the
server has one (within 0.002 of the longer side) whose code is within 4 bits; and at least
90% of the pictures give byte-identical records.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from web_browsing import Browsing

from hashwall.bench.pictures import scene
from hashwall.hashing.keypoints import (
    BANK_BASE,
    BANK_LIMIT,
    MIN_INLIERS,
    Keypoints,
    code_distances,
    keypoints,
    match_inliers,
    upload_keypoints,
)
from live_server import Served

from support import require_shared_data

RGB = npt.NDArray[np.uint8]

#: Keypoints of every picture given (raw RGBA, base64), one by one: with ``settings`` (limit and
#: base), or an upload's (``"upload"``).
KEYPOINTS_IN_PAGE = """async ({ images, settings }) => {
  const { keypoints, UPLOAD } = await import("/web/hashing/keypoints.js");
  const options = settings === "upload" ? UPLOAD : settings;
  return images.map(({ rgba, width, height }) => {
    const bytes = Uint8Array.from(atob(rgba), (c) => c.charCodeAt(0));
    const found = keypoints(bytes, width, height, options);
    return { count: found.count, hex: found.hex, records: found.records.length };
  });
}"""

#: A 4000 x 3000 picture made in the page (integer arithmetic: the same pixels as
#: :func:`_blocks`), its keypoints timed.
TIME_12MP_IN_PAGE = """async ({ width, height }) => {
  const { keypoints } = await import("/web/hashing/keypoints.js");
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const h = (Math.imul(x >> 6, 0x9e3779b1) ^ Math.imul(y >> 6, 0x85ebca77)) >>> 0;
      const p = 4 * (y * width + x);
      rgba[p] = h >>> 24;
      rgba[p + 1] = (h >>> 16) & 255;
      rgba[p + 2] = ((x + 2 * y) >> 4) & 255;
      rgba[p + 3] = 255;
    }
  }
  const t0 = performance.now();
  const found = keypoints(rgba, width, height);
  return { ms: performance.now() - t0, count: found.count, hex: found.hex };
}"""


def photo_like(seed: int, size: tuple[int, int]) -> RGB:
    """A photo-like picture's pixels (:func:`hashwall.bench.pictures.scene`)."""
    return np.asarray(scene(seed, size))


def _blocks(width: int, height: int) -> RGB:
    """The pixels TIME_12MP_IN_PAGE makes: hashed colours of 64-pixel blocks, a blue ramp."""
    y, x = np.mgrid[0:height, 0:width].astype(np.uint32)
    h = ((x >> 6) * np.uint32(0x9E3779B1)) ^ ((y >> 6) * np.uint32(0x85EBCA77))
    rgb = np.stack([h >> 24, (h >> 16) & 255, ((x + 2 * y) >> 4) & 255], axis=-1)
    return rgb.astype(np.uint8)


def jpeg_copy(rgb: RGB, quality: int = 90) -> RGB:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    with Image.open(io.BytesIO(buf.getvalue())) as out:
        return np.asarray(out.convert("RGB"))


BANK_SETTINGS = {"limit": BANK_LIMIT, "base": BANK_BASE}


def browser_records(
    page: Any, pictures: list[RGB], settings: dict[str, int] | str = BANK_SETTINGS
) -> list[bytes]:
    """The browser's records of each picture (a banked photo's, or with ``settings``), in
    batches (one evaluate call each)."""
    out: list[bytes] = []
    batch: list[dict[str, Any]] = []
    size = 0
    for rgb in [*pictures, None]:
        if rgb is not None:
            h, w = rgb.shape[:2]
            rgba = np.dstack([rgb, np.full((h, w), 255, np.uint8)])
            batch.append(
                {"rgba": base64.b64encode(rgba.tobytes()).decode(), "width": w, "height": h}
            )
            size += rgba.size
        if batch and (rgb is None or size > 8_000_000):
            answers = page.evaluate(KEYPOINTS_IN_PAGE, {"images": batch, "settings": settings})
            for a in answers:
                assert a["records"] == 16 * a["count"], a
                out.append(bytes.fromhex(a["hex"]))
            batch, size = [], 0
    return out


@dataclass(frozen=True)
class Agreement:
    """How far the browser's keypoints of one picture are from the server's."""

    name: str
    count: int  # the browser's keypoints
    server_count: int
    identical: bool  # the records, byte for byte
    same_code: float  # share of the browser's keypoints at a server's place with its code
    near_code: float  # ... with a code within 4 bits
    inliers: int  # match_inliers(server's upload keypoints of a JPEG copy, browser's)


def agreement(name: str, rgb: RGB, records: bytes) -> Agreement:
    server = keypoints(rgb)
    server_records = server.to_bytes()
    got = Keypoints.from_bytes(records)
    # the server's keypoints as stored, so that both sides carry the same 16-bit rounding
    want = Keypoints.from_bytes(server_records)
    same = near = 0.0
    if len(got) and len(want):
        gap = np.hypot(got.x[:, None] - want.x[None, :], got.y[:, None] - want.y[None, :])
        bits = np.where(gap < 0.002, code_distances(got.codes, want.codes), 65)
        best = bits.min(axis=1)
        same, near = float((best == 0).mean()), float((best <= 4).mean())
    query = upload_keypoints(jpeg_copy(rgb))
    return Agreement(
        name=name,
        count=len(got),
        server_count=len(server),
        identical=records == server_records,
        same_code=same,
        near_code=near,
        inliers=match_inliers(query, got),
    )


def compare(page: Any, pictures: dict[str, RGB]) -> list[Agreement]:
    records = browser_records(page, list(pictures.values()))
    return [
        agreement(name, rgb, rec)
        for (name, rgb), rec in zip(pictures.items(), records, strict=True)
    ]


def summary(results: list[Agreement]) -> str:
    keypoints_total = sum(a.count for a in results)
    return (
        f"{len(results)} pictures, {sum(a.identical for a in results)} with identical records; "
        f"{keypoints_total} browser keypoints: "
        f"{sum(a.same_code * a.count for a in results) / keypoints_total:.4f} at the server's "
        f"place with its code, {sum(a.near_code * a.count for a in results) / keypoints_total:.4f}"
        f" within 4 bits; inliers min {min(a.inliers for a in results)}"
    )


def check(results: list[Agreement]) -> None:
    print(summary(results))
    for a in results:
        assert a.count > 0, a
        assert a.near_code >= 0.95, a
        assert a.inliers >= MIN_INLIERS, a
    assert sum(a.identical for a in results) >= int(0.9 * len(results)), results


GENERATED = {
    "smaller 480x360": (1, (480, 360)),
    "enlarged 300x200": (2, (300, 200)),
    "exact 512x384": (3, (512, 384)),
    "larger 1600x1200": (4, (1600, 1200)),
    "portrait 700x1000": (5, (700, 1000)),
    "portrait exact 333x512": (6, (333, 512)),
    "wide 2000x900": (7, (2000, 900)),
    "thin strip 1203x97": (8, (1203, 97)),
    # Taller than twice the width: Pillow 13 resizes vertically first.
    "tall 480x1100": (9, (480, 1100)),
    "screenshot 1080x2340": (10, (1080, 2340)),
    "thin column 97x1203": (11, (97, 1203)),
}


def test_browser_keypoints_equal_the_servers_on_generated_pictures(
    server: Served, browsing: Browsing
) -> None:
    page = browsing.page
    page.goto(f"{server.url}/report")
    pictures = {name: photo_like(seed, size) for name, (seed, size) in GENERATED.items()}
    results = compare(page, pictures)
    check(results)
    # Made here, in every shape the working image takes: every one byte for byte.
    assert [a.name for a in results if not a.identical] == []
    assert browsing.errors == []


def test_browser_upload_keypoints_equal_the_servers(server: Served, browsing: Browsing) -> None:
    """An upload's keypoints (``UPLOAD``: QUERY_BASE, QUERY_MIN_SHORT, QUERY_LIMIT) are the
    server's :func:`upload_keypoints`, byte for byte: a tall screenshot and a wide picture work
    on a longer side past the base (its shorter side kept at 384), a small one enlarged."""
    pictures = {
        "screenshot 1080x2340": photo_like(21, (1080, 2340)),
        "wide 2000x900": photo_like(22, (2000, 900)),
        "small 300x200": photo_like(23, (300, 200)),
        "square 600x600": photo_like(24, (600, 600)),
    }
    page = browsing.page
    page.goto(f"{server.url}/report")
    records = browser_records(page, list(pictures.values()), "upload")
    for (name, rgb), got in zip(pictures.items(), records, strict=True):
        want = upload_keypoints(rgb).to_bytes()
        assert len(got) // 16 > BANK_LIMIT, name  # an upload keeps more than a banked photo
        assert got == want, name
    assert browsing.errors == []


@pytest.mark.conformance
def test_browser_keypoints_equal_the_servers_on_photos(server: Served, browsing: Browsing) -> None:
    root = require_shared_data("photos")
    paths = sorted(root.rglob("*.jpg"))[::60]
    pictures = {}
    for p in paths:
        with Image.open(p) as im:
            pictures[str(p.relative_to(root))] = np.asarray(im.convert("RGB"))
    page = browsing.page
    page.goto(f"{server.url}/report")
    results = compare(page, pictures)
    assert len(results) >= 20
    check(results)
    assert browsing.errors == []


def test_degenerate_pictures_give_no_keypoints_in_the_browser(
    server: Served, browsing: Browsing
) -> None:
    page = browsing.page
    page.goto(f"{server.url}/report")
    pictures = [
        np.zeros((1, 1, 3), np.uint8),
        np.full((1, 1, 3), 200, np.uint8),
        np.full((200, 300, 3), 128, np.uint8),
        np.zeros((7, 300, 3), np.uint8),
    ]
    assert browser_records(page, pictures) == [b"", b"", b"", b""]
    assert all(len(keypoints(p)) == 0 for p in pictures)
    assert browsing.errors == []


def test_a_12_megapixel_picture_in_the_browser(server: Served, browsing: Browsing) -> None:
    """Times keypoints.js on 4000 x 3000 pixels (printed, not asserted) and checks its records
    against the server's of the same pixels."""
    page = browsing.page
    page.goto(f"{server.url}/report")
    answer = page.evaluate(TIME_12MP_IN_PAGE, {"width": 4000, "height": 3000})
    print(f"keypoints.js on 4000 x 3000: {answer['ms']:.0f} ms, {answer['count']} keypoints")
    result = agreement("blocks 4000x3000", _blocks(4000, 3000), bytes.fromhex(answer["hex"]))
    print(result)
    assert result.count > 0
    assert result.near_code >= 0.95, result
    assert browsing.errors == []
