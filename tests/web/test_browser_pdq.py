"""The browser's PDQ agrees with the server's: the /report page's worker against ``hash_image``.

Each image is hashed in Chromium by the page's own worker (``web/hashing/worker.js``: the
browser decodes with ``createImageBitmap``, the ES modules compute PDQ, md5 and sha256) and by
``hashwall.hash_image`` in reference mode (Pillow's decode, the C++ ``pdqhash``). Lossless
formats give the same pixels to both, so only float rounding may differ; JPEGs go through two
decoders (Chromium's and Pillow's libjpeg-turbo builds), which may round some pixels apart.
"""

from __future__ import annotations

import base64
import csv
import io
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

import numpy as np
import pytest
from PIL import Image
from web_browsing import Browsing

from hashwall import hash_image
from hashwall.hashing.pdq import MIN_QUALITY, PdqHash
from live_server import Served

from support import encode, require_shared_data, textured_rgb

#: Hashes every image given (base64) with the page's worker, one after another.
HASH_IN_WORKER = """async (images) => {
  const worker = new Worker("web/hashing/worker.js", { type: "module" });
  const out = [];
  for (const [id, b64] of images.entries()) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    out.push(await new Promise((resolve) => {
      worker.onmessage = (e) => { if (e.data.done) resolve(e.data); };
      worker.postMessage({ id, file: new File([bytes], "photo"), orientations: true });
    }));
  }
  worker.terminate();
  return out;
}"""


@dataclass(frozen=True)
class Agreement:
    """How far the browser's signals of one image are from the server's."""

    name: str
    distance: int  # PDQ, in bits
    orientation_distance: int  # the largest over the 8 orientations
    quality_gap: int
    digests_equal: bool


def browser_hashes(page: Any, images: list[bytes]) -> list[dict[str, Any]]:
    """The worker's answer for each image, in batches (one evaluate call each)."""
    out: list[dict[str, Any]] = []
    batch: list[str] = []
    size = 0
    for data in [*images, None]:
        if data is not None:
            batch.append(base64.b64encode(data).decode())
            size += len(data)
        if batch and (data is None or size > 8_000_000):
            out += page.evaluate(HASH_IN_WORKER, batch)
            batch, size = [], 0
    return out


def compare(page: Any, named: dict[str, bytes]) -> list[Agreement]:
    """Hash every image in the browser and on the server; how far apart each one is."""
    answers = browser_hashes(page, list(named.values()))
    out = []
    for (name, data), answer in zip(named.items(), answers, strict=True):
        assert "error" not in answer, (name, answer)
        got = answer["result"]
        signals = {s["type"]: s for s in got["signals"]}
        want = hash_image(data, orientations=True)
        assert want.orientations is not None
        out.append(
            Agreement(
                name=name,
                distance=PdqHash.from_hex(signals["pdq"]["value"]).distance(want.pdq),
                orientation_distance=max(
                    PdqHash.from_hex(g).distance(w)
                    for g, w in zip(got["orientations"], want.orientations, strict=True)
                ),
                quality_gap=abs(signals["pdq"]["quality"] - want.quality),
                digests_equal=(signals["md5"]["value"], signals["sha256"]["value"])
                == (want.md5, want.sha256),
            )
        )
    return out


def summary(agreements: list[Agreement]) -> str:
    """Max and mean PDQ distance and quality gap, for the test log and docs/web.md."""
    d = [a.distance for a in agreements]
    q = [a.quality_gap for a in agreements]
    return (
        f"{len(agreements)} images: PDQ distance max {max(d)} mean {mean(d):.2f}; "
        f"quality gap max {max(q)} mean {mean(q):.2f}"
    )


def _with_exif_orientation(pixels: np.ndarray, orientation: int) -> bytes:
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=92, exif=exif)
    return buf.getvalue()


def generated_images() -> dict[str, bytes]:
    """Test images made here: every format the browser decodes, alpha, EXIF, odd sizes."""
    photo = textured_rgb(640, 480, seed=3)
    alpha = np.linspace(0, 255, 480 * 640).reshape(480, 640).astype(np.uint8)
    rgba = np.dstack([textured_rgb(640, 480, seed=4), alpha])
    big = np.kron(textured_rgb(500, 375, seed=5), np.ones((5, 5, 1), dtype=np.uint8))
    return {
        "png": encode(photo, "PNG"),
        "webp-lossless": encode(textured_rgb(512, 700, seed=6), "WEBP", lossless=True),
        "gif": encode(textured_rgb(300, 200, seed=7), "GIF"),
        "png-alpha-on-white": encode(rgba, "PNG"),
        "png-tall-odd": encode(textured_rgb(97, 1203, seed=8), "PNG"),
        "png-5-megapixel": encode(big, "PNG", compress_level=1),
        "jpeg": encode(photo, "JPEG", quality=90),
        "jpeg-exif-rotate90": _with_exif_orientation(textured_rgb(400, 300, seed=10), 6),
        "jpeg-exif-flip": _with_exif_orientation(textured_rgb(400, 300, seed=11), 2),
    }


def test_browser_pdq_equals_the_server_on_generated_images(
    server: Served, browsing: Browsing
) -> None:
    page = browsing.page
    page.goto(f"{server.url}/report")
    results = compare(page, generated_images())
    print(summary(results))
    assert all(a.digests_equal for a in results), results
    for a in results:
        # The same pixels on both sides (lossless formats): float rounding only.
        limit = 8 if a.name.startswith("jpeg") else 2
        assert a.distance <= limit, a
        assert a.orientation_distance <= limit, a
        assert a.quality_gap <= 2, a
    assert browsing.errors == []


def test_the_browser_flags_what_the_server_would_not_fingerprint(
    server: Served, browsing: Browsing
) -> None:
    page = browsing.page
    page.goto(f"{server.url}/report")
    flat = encode(np.full((300, 300, 3), 128, dtype=np.uint8), "PNG")
    tiny = encode(textured_rgb(15, 40, seed=9), "PNG")
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    low, small, not_an_image, heic_file = browser_hashes(
        page, [flat, tiny, b"this is not a picture", heic]
    )
    assert low["result"]["usable"] is False
    assert low["result"]["quality"] == hash_image(flat).quality < MIN_QUALITY
    assert small["error"] == "too_small"
    assert not_an_image["error"] == "undecodable"
    assert heic_file["error"] == "heic"


def _reference_images() -> dict[str, bytes]:
    root: Path = require_shared_data("pdq-reference")
    with (root / "expected.tsv").open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    paths = sorted({r["path"] for r in rows if r["quality"] and int(r["quality"]) >= 80})
    return {p: (root / p).read_bytes() for p in paths}


@pytest.mark.conformance
def test_browser_pdq_is_within_a_few_bits_of_the_server_on_the_pdq_reference_images(
    server: Served, browsing: Browsing
) -> None:
    images = _reference_images()
    page = browsing.page
    page.goto(f"{server.url}/report")
    results = compare(page, images)
    print(summary(results))
    assert len(results) >= 20
    assert all(a.digests_equal for a in results)
    assert max(a.distance for a in results) <= 10, results
    assert sum(a.distance <= 6 for a in results) >= 0.99 * len(results), results
    assert max(a.quality_gap for a in results) <= 5, results


# Not marked slow: CI's conformance step (`-m "conformance and not slow"`) must run it.
@pytest.mark.conformance
def test_browser_pdq_is_within_a_few_bits_of_the_server_on_300_photos(
    server: Served, browsing: Browsing
) -> None:
    root = require_shared_data("photos")
    paths = sorted(p for p in root.rglob("*.jpg"))[:300]
    page = browsing.page
    page.goto(f"{server.url}/report")
    results = compare(page, {str(p.relative_to(root)): p.read_bytes() for p in paths})
    print(summary(results))
    worst = sorted(results, key=lambda a: -a.distance)[:5]
    assert all(a.digests_equal for a in results)
    assert max(a.distance for a in results) <= 10, worst
    assert sum(a.distance <= 6 for a in results) >= 0.99 * len(results), worst


def _big_photos() -> dict[str, tuple[bytes, tuple[int, int]]]:
    """Phone-sized JPEGs and the (width, height) the worker should decode them at."""
    wide = textured_rgb(8000, 6000, seed=1)
    return {
        # 48 MP: 1/8 scale (the server's draft scale keeps the shorter side >= 192).
        "48mp-8000x6000": (encode(wide, "JPEG", quality=85), (1000, 750)),
        # Stored 8000 x 6000 with EXIF orientation 6: upright it is 6000 x 8000.
        "48mp-exif-rotate90": (_with_exif_orientation(wide, 6), (750, 1000)),
        # 12 MP is the budget: not reduced, the exact path of every smaller photo.
        "12mp-4000x3000": (
            encode(textured_rgb(4000, 3000, seed=2), "JPEG", quality=85),
            (4000, 3000),
        ),
    }


# Not marked slow: the "must not crash the tab" is proved in every CI run.
def test_big_photos_are_decoded_reduced_within_6_bits_of_the_server(
    server: Served, browsing: Browsing
) -> None:
    photos = _big_photos()
    page = browsing.page
    page.goto(f"{server.url}/report")
    answers = browser_hashes(page, [data for data, _ in photos.values()])
    for (name, (data, decoded)), answer in zip(photos.items(), answers, strict=True):
        assert "error" not in answer, (name, answer)
        got = answer["result"]
        signals = {s["type"]: s for s in got["signals"]}
        reference = hash_image(data, orientations=True)
        fast = hash_image(data, fast=True, orientations=True)
        pdq = PdqHash.from_hex(signals["pdq"]["value"])
        print(
            f"{name}: decoded {got['decoded']}, bits vs reference {pdq.distance(reference.pdq)},"
            f" vs fast {pdq.distance(fast.pdq)}, quality {signals['pdq']['quality']}"
            f" (reference {reference.quality}, fast {fast.quality})"
        )
        # The full-size picture is never decoded above the budget; the size reported is full.
        assert (got["decoded"]["width"], got["decoded"]["height"]) == decoded, name
        assert (got["width"], got["height"]) == (reference.width, reference.height), name
        assert pdq.distance(reference.pdq) <= 6, name
        assert pdq.distance(fast.pdq) <= 6, name
        assert reference.orientations is not None
        assert all(
            PdqHash.from_hex(g).distance(w) <= 6
            for g, w in zip(got["orientations"], reference.orientations, strict=True)
        ), name
        assert abs(signals["pdq"]["quality"] - reference.quality) <= 5, name
        # The digests are of the file's bytes, whatever the decode.
        assert (signals["md5"]["value"], signals["sha256"]["value"]) == (
            reference.md5,
            reference.sha256,
        ), name
    assert browsing.errors == []


def test_the_reduced_tent_equals_the_servers(server: Served, browsing: Browsing) -> None:
    """pdq.js's tentWeightsReduced is _pdq_kernels.tent_weights_reduced, weight for weight."""
    from hashwall.hashing import _pdq_kernels

    page = browsing.page
    page.goto(f"{server.url}/report")
    axes = [(8000, 1000), (6000, 750), (4001, 501), (3000, 1500), (1203, 97), (5000, 1234)]
    got = page.evaluate(
        """async (axes) => {
          const { tentWeightsReduced } = await import("/web/hashing/pdq.js");
          return axes.map(([n, r]) => {
            const t = tentWeightsReduced(n, r);
            return { start: Array.from(t.start), weights: Array.from(t.weights), span: t.span };
          });
        }""",
        axes,
    )
    for (n_full, n_reduced), js in zip(axes, got, strict=True):
        start, weights = _pdq_kernels.tent_weights_reduced(n_full, n_reduced)
        assert js["start"] == start.tolist(), (n_full, n_reduced)
        assert js["span"] == weights.shape[1], (n_full, n_reduced)
        assert np.allclose(js["weights"], weights.ravel(), rtol=0, atol=1e-12), (n_full, n_reduced)
