"""The keypoint codes the pages send, computed in the hashing worker from the decoded picture.

Required: for a PNG, the ``keypoints`` signal /report sends with a photo is exactly the server's
``keypoints(decode_image(png).pixels).to_bytes().hex()`` (the same pixels, the same arithmetic:
``web/hashing/keypoints.js``, fed strip by strip), and the case keeps it; /demo's check carries
the upload's ``upload_keypoints`` of its pixels the same way. A picture with no keypoints is
sent without the signal, and a featureless one (low PDQ quality) is, as before, not sent. A
platform's check finds a crop of a photo reported from the browser by its keypoints.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
from web_browsing import Browsing

from hashwall import hash_image
from hashwall.bench.pictures import scene
from hashwall.hashing.keypoints import keypoints, upload_keypoints
from hashwall.media.decode import decode_image
from hashwall.settings import Settings
from hashwall.store.repo import Store
from hashwall.web.render import strings
from live_server import Served, wait_indexed

from support import encode

T = strings()
WAIT_MS = 60_000  # Playwright's waits (a loaded 2-core machine); nothing times the hashing


def png_of_scene(seed: int, size: tuple[int, int]) -> bytes:
    return encode(np.asarray(scene(seed, size)), "PNG")


def stripes(width: int = 512, height: int = 384) -> np.ndarray:
    """Vertical waves: PDQ finds a usable hash (quality 84) and no keypoint survives (every
    extremum of a one-dimensional picture lies on an edge)."""
    x = np.arange(width, dtype=np.float64)
    row = np.round(128 + 100 * np.sin(2 * np.pi * x / 512)).astype(np.uint8)
    return np.repeat(np.repeat(row[None, :, None], height, axis=0), 3, axis=2)


def bank_hex(data: bytes) -> str:
    """The server's keypoints of a banked photo, as the wire carries them."""
    return keypoints(decode_image(data, Settings()).pixels).to_bytes().hex()


def report(page: Any, server: Served, files: dict[str, bytes]) -> str:
    """Pick ``files`` (PNGs) on /report, wait until every one is hashed and send the ready ones;
    the case number shown."""
    page.goto(f"{server.url}/report")
    page.get_by_label(T["attest_adult"]).check()
    page.get_by_role("button", name=T["attest_continue"]).click()
    page.locator("#photos").set_input_files(
        [{"name": n, "mimeType": "image/png", "buffer": d} for n, d in files.items()]
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('#items .item')].every("
        "li => li.getAttribute('aria-busy') === 'false')",
        timeout=WAIT_MS,
    )
    page.get_by_role("button", name=T["send_button"]).click(timeout=WAIT_MS)
    page.locator("#done").wait_for(state="visible", timeout=WAIT_MS)
    return str(page.locator("#case-number").inner_text())


def posted(browsing: Browsing, server: Served, path: str) -> list[dict[str, Any]]:
    """The JSON bodies the page posted to ``path``."""
    return [
        json.loads(s.body) for s in browsing.proxy.posts() if s.url.removeprefix(server.url) == path
    ]


def stored_signals(database_url: str, case_number: str) -> list[dict[str, str]]:
    """Each stored item's signals of the case, ``{type: value}``, in the order sent."""
    store = Store.from_url(database_url)
    try:
        with store.read() as repo:
            case = repo.get_case(case_number)
            assert case is not None, case_number
            return [
                {s.type: s.value for s in repo.list_signals(item.id)}
                for item in sorted(repo.list_items(case.id), key=lambda i: i.id)
            ]
    finally:
        store.dispose()


def test_report_sends_each_photos_keypoints_as_the_server_computes_them_and_the_case_keeps_them(
    server: Served, browsing: Browsing, database_url: str
) -> None:
    half_clear = np.linspace(0, 255, 480 * 640, dtype=np.float64).astype(np.uint8)
    photos = {
        # shrunk to the working size; enlarged to it; a portrait of several 256-row strips
        # (Pillow resizes it vertically first); see-through pixels, put on white on both sides
        "wide.png": png_of_scene(11, (900, 600)),
        "small.png": png_of_scene(12, (300, 220)),
        "tall.png": png_of_scene(13, (480, 1100)),
        "alpha.png": encode(
            np.dstack([np.asarray(scene(14, (640, 480))), half_clear.reshape(480, 640)]), "PNG"
        ),
    }
    want = {name: bank_hex(data) for name, data in photos.items()}
    assert all(want.values())
    case_number = report(browsing.page, server, photos)

    (body,) = posted(browsing, server, "/v1/cases")
    assert len(body["items"]) == len(photos)
    for (name, expected), item in zip(want.items(), body["items"], strict=True):
        by_type = {s["type"]: s for s in item["signals"]}
        assert set(by_type) == {"pdq", "keypoints", "md5", "sha256"}, name
        assert by_type["keypoints"] == {"type": "keypoints", "value": expected, "quality": None}
        assert len(expected) % 32 == 0 and len(expected) // 32 <= 128, name
    # Only the signals left the page: never the picture.
    sent = json.dumps(body).encode()
    assert not any(data[len(data) // 2 : len(data) // 2 + 48] in sent for data in photos.values())

    stored = stored_signals(database_url, case_number)
    assert [s.get("keypoints") for s in stored] == list(want.values())
    assert browsing.errors == []


def platform_check(server: Served, upload: bytes) -> dict[str, Any]:
    """A platform's check of ``upload``, its signals (with its keypoints) hashed here."""
    hashed = hash_image(upload, keypoints="upload")
    signals = [{"type": s.type, "value": s.value, "quality": s.quality} for s in hashed.signals()]
    assert "keypoints" in {s["type"] for s in signals}
    response = httpx.post(
        f"{server.url}/v1/check",
        json={"signals": signals},
        headers={"Authorization": f"Bearer {server.keys['feed']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_a_crop_of_a_photo_reported_in_the_browser_is_found_by_its_keypoints(
    server: Served, browsing: Browsing
) -> None:
    pixels = np.asarray(scene(41, (900, 600)))
    indexed = httpx.get(f"{server.url}/readyz").json()["index_size"]  # other tests' items
    report(browsing.page, server, {"photo.png": encode(pixels, "PNG")})
    wait_indexed(server.url, indexed + 1)
    # A tenth cut off each side and saved as JPEG: PDQ no longer finds it, the keypoints do.
    crop = encode(np.ascontiguousarray(pixels[60:540, 90:810]), "JPEG", quality=85)
    answer = platform_check(server, crop)
    assert answer["decision"] == "review", answer
    assert {m["signal_type"] for m in answer["matches"]} == {"keypoints"}, answer
    unrelated = encode(np.asarray(scene(42, (900, 600))), "JPEG", quality=85)
    assert platform_check(server, unrelated)["decision"] == "allow"
    assert browsing.errors == []


def test_a_picture_without_keypoints_goes_without_them_and_a_featureless_one_not_at_all(
    server: Served, browsing: Browsing, database_url: str
) -> None:
    waves = stripes()
    flat = np.full((300, 400, 3), 200, dtype=np.uint8)
    assert len(keypoints(waves)) == 0 and len(keypoints(flat)) == 0
    files = {"waves.png": encode(waves, "PNG"), "flat.png": encode(flat, "PNG")}
    case_number = report(browsing.page, server, files)

    states = browsing.page.locator("#items .item").evaluate_all(
        "items => items.map(li => li.dataset.state)"
    )
    assert states == ["ready", "low"]  # the flat picture: too featureless for PDQ, not sent
    (body,) = posted(browsing, server, "/v1/cases")
    (item,) = body["items"]
    assert [s["type"] for s in item["signals"]] == ["pdq", "md5", "sha256"]
    assert [set(s) for s in stored_signals(database_url, case_number)] == [{"pdq", "md5", "sha256"}]
    assert browsing.errors == []


def test_demo_checks_an_upload_with_its_upload_keypoints(
    server: Served, browsing: Browsing
) -> None:
    # A tall screenshot-like picture: an upload's working picture keeps its shorter side at
    # 384 pixels or more, so its longer side goes past the bank's 512.
    upload = png_of_scene(21, (400, 860))
    want = upload_keypoints(decode_image(upload, Settings()).pixels).to_bytes().hex()
    assert len(want) // 32 > 128  # more than a banked photo may have
    page: Any = browsing.page
    page.goto(f"{server.url}/demo")
    page.locator("#demo-photo").set_input_files(
        [{"name": "upload.png", "mimeType": "image/png", "buffer": upload}]
    )
    page.locator("#demo-result").wait_for(state="visible", timeout=WAIT_MS)
    assert page.locator("#demo-decision").get_attribute("data-decision") == "allow"

    (body,) = posted(browsing, server, "/demo/check")
    by_type = {s["type"]: s for s in body["signals"]}
    assert set(by_type) == {"pdq", "keypoints", "md5", "sha256"}
    assert by_type["keypoints"] == {"type": "keypoints", "value": want, "quality": None}
    assert browsing.errors == []
