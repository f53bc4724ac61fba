"""/demo plays the platform: report a photo, check copies of it, send a verdict, withdraw.

Its screenshots (report -> demo check -> withdraw -> demo check, at desktop and phone widths)
are the docs': ``HASHWALL_WEB_SCREENSHOTS=docs/web pytest tests/web/test_demo_browser.py``
refreshes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_report_flow_browser import AXE_LITE, NO_SIDEWAYS_SCROLL, tab_to
from web_browsing import Browsing, choose_files_by_key, screenshots

from hashwall.web.render import strings
from live_server import Served, wait_indexed

from support import encode, textured_rgb

T = strings()


def report(page: Any, server: Served, photo: bytes) -> tuple[str, str]:
    """Report ``photo`` on /report; its case number and PIN."""
    page.goto(f"{server.url}/report")
    page.get_by_label(T["attest_adult"]).check()
    page.get_by_role("button", name=T["attest_continue"]).click()
    page.locator("#photos").set_input_files(
        [{"name": "a.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    page.get_by_role("button", name=T["send_button"]).click(timeout=30_000)
    page.locator("#done").wait_for(state="visible", timeout=30_000)
    return page.locator("#case-number").inner_text(), page.locator("#pin").inner_text()


def demo_check(page: Any, photo: bytes, name: str = "upload.png") -> str:
    """Check ``photo`` on /demo; the decision shown."""
    page.locator("#demo-result").evaluate("e => e.hidden = true")
    page.locator("#demo-photo").set_input_files(
        [{"name": name, "mimeType": "image/png", "buffer": photo}]
    )
    page.locator("#demo-result").wait_for(state="visible", timeout=30_000)
    decision: str = page.locator("#demo-decision").get_attribute("data-decision")
    return decision


def test_demo_checks_a_reported_photo_takes_a_verdict_and_allows_it_once_withdrawn(
    server: Served, browsing: Browsing, tmp_path: Path
) -> None:
    pixels = textured_rgb(900, 700, seed=31)
    photo = encode(pixels, "JPEG", quality=92)
    case_number, pin = report(browsing.page, server, photo)
    screenshots(browsing.page, tmp_path, "1-report")
    wait_indexed(server.url, 1)

    demo = browsing.new_page(1280, 900)
    demo.goto(f"{server.url}/demo")
    # Another upload of the same picture: re-encoded as PNG and mirrored.
    mirrored = encode(pixels[:, ::-1], "PNG")
    assert demo_check(demo, mirrored) == "review"
    assert "bits apart (flip_y)" in demo.locator("#demo-matches").inner_text()
    screenshots(demo, tmp_path, "2-demo-review")
    demo.get_by_role("button", name=T["demo_verdict_confirmed"]).click()
    demo.locator("#demo-verdict-status").filter(has_text="Verdict recorded").wait_for()
    # Confirmed by this platform's organisation: it now blocks on this organisation's platforms.
    assert demo_check(demo, mirrored) == "block"
    assert demo_check(demo, encode(textured_rgb(900, 700, seed=32), "PNG")) == "allow"

    page = browsing.page
    page.goto(f"{server.url}/case")
    page.get_by_label(T["case_number_input"]).fill(case_number)
    page.get_by_label(T["pin_input"]).fill(pin)
    page.get_by_role("button", name=T["case_show"]).click()
    page.get_by_role("button", name=T["withdraw_button"]).click()
    page.get_by_role("button", name=T["withdraw_yes"]).click()
    page.locator("#withdraw-message").filter(has_text=T["withdraw_done"]).wait_for()
    screenshots(page, tmp_path, "3-case-withdrawn")

    assert demo_check(demo, mirrored) == "allow"
    screenshots(demo, tmp_path, "4-demo-allow")
    assert demo.evaluate(AXE_LITE) == []
    demo.set_viewport_size({"width": 375, "height": 800})
    assert demo.evaluate(NO_SIDEWAYS_SCROLL)
    assert browsing.proxy.left_localhost() == []
    # The page called the demo's own routes; the server added the platform's key.
    calls = [s.url.removeprefix(server.url) for s in browsing.proxy.posts()]
    assert "/demo/check" in calls and not any(c.startswith("/v1/check") for c in calls)
    key = server.keys["feed"]
    assert all(key not in s.url and key.encode() not in s.body for s in browsing.proxy.seen)
    assert key not in demo.content()
    assert browsing.errors == []


def test_the_demo_page_is_driven_by_keyboard_alone(server: Served, browsing: Browsing) -> None:
    page = browsing.page
    page.goto(f"{server.url}/demo")
    assert tab_to(page, "demo-photo")[:2] == ["A", "quick-exit"]
    choose_files_by_key(
        page,
        "demo-photo",
        [
            {
                "name": "u.png",
                "mimeType": "image/png",
                "buffer": encode(textured_rgb(300, 200), "PNG"),
            }
        ],
    )
    page.locator("#demo-result").wait_for(state="visible", timeout=30_000)
    assert page.evaluate("() => document.activeElement.id") == "demo-decision"
    assert page.locator("#demo-decision").get_attribute("data-decision") == "allow"
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    assert browsing.errors == []
