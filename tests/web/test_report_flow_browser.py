"""The reporter's whole loop in Chromium, by keyboard, on a 375-px-wide screen.

Report photos on /report -> case number and PIN shown once -> a platform's check of one of them
answers ``review`` (anonymous channel) -> a partner vouches -> ``block`` -> /case shows the item
blocking -> withdraw (with its confirmation step) -> the same check answers ``allow``. All the
while: nothing leaves this machine, no request carries the photo or is larger than a few KB, and
the PIN is in no URL, history entry, storage or console message.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from web_browsing import Browsing, choose_files_by_key, screenshots

from hashwall import hash_image
from hashwall.web.render import strings
from live_server import Served, wait_indexed

from support import encode, textured_rgb

T = strings()

#: Every visible control without an accessible name, and every text below WCAG AA contrast.
AXE_LITE = "\n".join(
    line
    for line in (Path(__file__).parent / "axe_lite.js").read_text(encoding="utf-8").splitlines()
    if not line.startswith("//")
)

NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


def check(server: Served, photo: bytes) -> str:
    """A platform's check of an upload (the server hashes nothing: the signals are sent)."""
    signals = [
        {"type": s.type, "value": s.value, "quality": s.quality}
        for s in hash_image(photo).signals()
    ]
    response = httpx.post(
        f"{server.url}/v1/check",
        json={"signals": signals},
        headers={"Authorization": f"Bearer {server.keys['feed']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    decision: str = response.json()["decision"]
    return decision


def tab_to(page: Any, element_id: str, limit: int = 25) -> list[str]:
    """Press Tab until ``element_id`` has focus; the ids (or tags) passed on the way."""
    passed: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        current = page.evaluate("() => document.activeElement.id || document.activeElement.tagName")
        passed.append(current)
        if current == element_id:
            return passed
    raise AssertionError(f"Tab never reached #{element_id}: {passed}")


def describe(page: Any, browsing: Browsing) -> str:
    """What the page shows and did, for a failure message."""
    items = page.locator("#items").inner_text()
    requests = [f"{s.method} {s.url}" for s in browsing.proxy.seen]
    return f"items {items!r}; errors {browsing.errors}; requests {requests}"


def assert_page_is_sound(page: Any, shot: Path) -> None:
    """No sideways scroll at this width, names and contrast in order; a screenshot to look at."""
    assert page.evaluate(NO_SIDEWAYS_SCROLL), f"sideways scroll on {page.url}"
    assert page.evaluate(AXE_LITE) == []
    page.screenshot(path=str(shot), full_page=True)


def test_report_check_vouch_case_withdraw_by_keyboard_leaves_no_trace(
    server: Served, browsing: Browsing, tmp_path: Path
) -> None:
    page = browsing.page
    visited: list[str] = []
    page.on("framenavigated", lambda frame: visited.append(frame.url))
    photo = encode(textured_rgb(800, 600, seed=21), "JPEG", quality=90)
    plain = encode(np.full((400, 300, 3), 200, dtype=np.uint8), "PNG")

    page.goto(f"{server.url}/report")
    assert_page_is_sound(page, tmp_path / "report-375.png")
    # Keyboard only: the quick exit comes first, then the page's own controls in reading order.
    order = tab_to(page, "age-adult")
    assert order[:2] == ["A", "quick-exit"]  # the skip link, then the quick exit
    page.keyboard.press("Space")
    assert tab_to(page, "attest-continue") == ["attest-continue"]
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "pick-h"
    assert tab_to(page, "photos") == ["photos"]
    choose_files_by_key(
        page,
        "photos",
        [
            {"name": "IMG_2041.jpg", "mimeType": "image/jpeg", "buffer": photo},
            {"name": "IMG_2042.png", "mimeType": "image/png", "buffer": plain},
        ],
    )
    try:
        page.wait_for_function("() => !document.getElementById('send').disabled", timeout=30_000)
    except Exception as exc:
        raise AssertionError(f"never ready to send: {describe(page, browsing)}") from exc
    items = page.locator("#items .item")
    assert items.count() == 2
    assert items.nth(0).get_attribute("data-state") == "ready"
    assert items.nth(1).get_attribute("data-state") == "low"
    assert T["status_low_quality"] in items.nth(1).inner_text()
    assert page.locator("#send-summary").inner_text() == T["send_summary"].format(count=1)
    assert page.locator("#announce").inner_text() == T["announce_progress"].format(done=2, total=2)
    assert_page_is_sound(page, tmp_path / "report-photos-375.png")
    screenshots(page, tmp_path, "0-report-photos")  # the docs' first picture
    assert not any(s.body for s in browsing.proxy.seen), "nothing is sent before confirmation"

    tab_to(page, "send")
    page.keyboard.press("Enter")
    page.locator("#done").wait_for(state="visible", timeout=30_000)
    assert page.evaluate("() => document.activeElement.id") == "done-h"
    case_number = page.locator("#case-number").inner_text()
    pin = page.locator("#pin").inner_text()
    assert case_number and pin
    assert page.locator("#done-items").inner_text() == T["done_items"].format(accepted=1, total=1)
    assert T["done_warning"] in page.locator("#done").inner_text()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    tab_to(page, "copy-case")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('copy-status').textContent !== ''")
    assert page.evaluate("() => navigator.clipboard.readText()") == case_number
    with page.expect_download() as download:
        page.locator("#save-text").click()
    assert download.value.suggested_filename == T["save_filename"]
    saved = Path(download.value.path()).read_text(encoding="utf-8")
    assert saved == T["save_contents"].format(case=case_number, pin=pin)
    assert_page_is_sound(page, tmp_path / "report-done-375.png")

    # A platform checks an upload of the photo: review (anonymous), then block once vouched.
    wait_indexed(server.url, 1)
    assert check(server, photo) == "review"
    vouched = httpx.post(
        f"{server.url}/v1/cases/vouch",
        json={"case_number": case_number, "pin": pin},
        headers={"Authorization": f"Bearer {server.keys['intake']}"},
    )
    assert vouched.status_code == 200, vouched.text
    assert check(server, photo) == "block"

    # /case, by keyboard: the number and PIN typed in, the case shown, withdrawn after a "yes".
    tab_to(page, "A")  # the skip link, then on to the navigation
    page.get_by_role("link", name=T["nav_case"]).focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/case")
    tab_to(page, "case-number-input")
    page.keyboard.type(case_number)
    page.keyboard.press("Tab")
    page.keyboard.type(pin)
    page.keyboard.press("Enter")
    page.locator("#case-view").wait_for(state="visible", timeout=30_000)
    assert page.evaluate("() => document.activeElement.id") == "case-h"
    assert page.locator("#case-summary").inner_text() == T["case_status_active"]
    shown = page.locator("#case-items").inner_text()
    assert T["item_state_active_vouched"] in shown
    assert T["item_blocked_uploads"].replace("{n}", "1") in shown  # the one blocked upload
    assert_page_is_sound(page, tmp_path / "case-375.png")
    tab_to(page, "withdraw-start")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "withdraw-q"
    assert check(server, photo) == "block", "nothing is withdrawn before the confirmation"
    tab_to(page, "withdraw-yes")
    page.keyboard.press("Enter")
    page.locator("#withdraw-message").filter(has_text=T["withdraw_done"]).wait_for()
    assert page.locator("#case-summary").inner_text() == T["case_status_withdrawn"]
    assert_page_is_sound(page, tmp_path / "case-withdrawn-375.png")
    assert check(server, photo) == "allow"

    # What the browser sent: only to this server, small, never the photo; the PIN only in bodies.
    seen = browsing.proxy.seen
    assert browsing.proxy.left_localhost() == []
    assert all(s.url.startswith(server.url) for s in seen)
    posts = browsing.proxy.posts()
    assert [s.url.removeprefix(server.url) for s in posts] == [
        "/v1/cases",
        "/v1/cases/status",
        "/v1/cases/withdraw",
        "/v1/cases/status",
    ]
    # One image's signals (PDQ, its 8 orientations, the digests, up to 128 keypoint records of
    # 32 hex digits): well under 8 KB, and far from the photo's own size.
    assert len(posts[0].body) < 8192, "one image's signals and orientations: well under 8 KB"
    middle = photo[len(photo) // 2 : len(photo) // 2 + 48]
    encoded = [base64.b64encode(photo[k:])[64:128] for k in range(3)]
    for s in posts:
        assert middle not in s.body and not any(e in s.body for e in encoded)
    assert all(pin not in s.url and case_number not in s.url for s in seen)
    assert all(pin not in url for url in visited)
    assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("() => document.cookie") == ""
    assert page.evaluate("async () => (await indexedDB.databases()).length") == 0
    assert not any(pin in message or case_number in message for message in browsing.console)
    assert browsing.errors == []


def test_a_person_under_18_is_sent_elsewhere_and_nothing_is_sent(
    server: Served, browsing: Browsing
) -> None:
    page = browsing.page
    page.goto(f"{server.url}/report")
    page.get_by_label(T["attest_minor"]).check()
    page.get_by_role("button", name=T["attest_continue"]).click()
    assert page.locator("#minors").is_visible()
    assert not page.locator("#photos").is_visible()
    links = page.locator("#minors a").evaluate_all("links => links.map(a => a.href)")
    assert "https://takeitdown.ncmec.org/" in links
    # Continue without an answer: a message, not a step forward.
    page.goto(f"{server.url}/report")
    page.get_by_role("button", name=T["attest_continue"]).click()
    assert page.locator("#attest-error").is_visible()
    assert not page.locator("#pick").is_visible()
    assert browsing.proxy.posts() == []
    assert browsing.errors == []


def test_quick_exit_replaces_the_page_and_leaves_it_out_of_history(
    server: Served, browsing: Browsing
) -> None:
    page = browsing.page
    neutral = T["quick_exit_url"]
    # The neutral site (and its favicon), played here: nothing may leave the machine.
    site = neutral.split("/", 3)[:3]
    page.route(
        "/".join(site) + "/**",
        lambda route: route.fulfill(body="<p>weather</p>", content_type="text/html"),
    )
    for path in ("/case", "/report"):
        page.goto(f"{server.url}{path}")
    page.get_by_role("link", name=T["quick_exit"]).click()
    page.wait_for_url(neutral)
    page.go_back()
    # Back lands on /case, the page before: /report is gone from this tab's history.
    assert page.url == f"{server.url}/case"
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    page.wait_for_url(neutral)
    page.go_back()
    assert not page.url.startswith(server.url)
    # Only the neutral site itself was contacted (Chromium preconnects to a link it follows).
    host = site[2]
    assert set(browsing.proxy.left_localhost()) <= {f"{host}:443", f"https://{host}/"}


def test_a_worker_that_cannot_load_fails_its_photo_instead_of_hanging(
    server: Served, browsing: Browsing
) -> None:
    page = browsing.page
    page.route("**/web/hashing/worker.js", lambda route: route.abort())
    page.goto(f"{server.url}/report")
    page.get_by_label(T["attest_adult"]).check()
    page.get_by_role("button", name=T["attest_continue"]).click()
    photo = encode(textured_rgb(300, 200, seed=41), "PNG")
    page.locator("#photos").set_input_files(
        [{"name": f"{n}.png", "mimeType": "image/png", "buffer": photo} for n in range(3)]
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('#items .item')].every("
        "li => li.dataset.state === 'error')",
        timeout=30_000,
    )
    assert page.locator("#items").inner_text().count(T["status_failed"]) == 3
    assert page.locator("#send").is_disabled()
    assert browsing.proxy.posts() == []


def test_sending_again_after_a_lost_answer_shows_the_case_already_opened(
    server: Served, browsing: Browsing
) -> None:
    page = browsing.page
    first: list[dict[str, Any]] = []

    def lose_the_first_answer(route: Any) -> None:
        if first:
            route.continue_()
            return
        # The page's request reaches the server (sent from here), the case is opened...
        request = route.request
        response = httpx.post(
            request.url, content=request.post_data_buffer, headers=request.headers
        )
        first.append(response.json())
        route.abort()  # ...and the answer never reaches the page

    page.route("**/v1/cases", lose_the_first_answer)
    page.goto(f"{server.url}/report")
    page.get_by_label(T["attest_adult"]).check()
    page.get_by_role("button", name=T["attest_continue"]).click()
    photo = encode(textured_rgb(300, 200, seed=51), "PNG")
    page.locator("#photos").set_input_files(
        [{"name": "a.png", "mimeType": "image/png", "buffer": photo}]
    )
    send = page.get_by_role("button", name=T["send_button"])
    send.click(timeout=30_000)
    page.locator("#send-error").wait_for(state="visible")
    assert first and first[0]["case_number"]
    send.click()
    page.locator("#done").wait_for(state="visible", timeout=30_000)
    assert page.locator("#case-number").inner_text() == first[0]["case_number"]
    assert page.locator("#pin").inner_text() == first[0]["pin"]


def platform_check(server: Served, key: str, photo: bytes) -> tuple[str, dict[str, Any]]:
    """A check of ``photo`` (with its 8 orientations) as the platform of ``key``: the decision
    and the first match."""
    hashed = hash_image(photo, orientations=True)
    body = {
        "signals": [
            {"type": s.type, "value": s.value, "quality": s.quality} for s in hashed.signals()
        ],
        "pdq_orientations": [o.hex for o in hashed.orientations or ()],
    }
    headers = {"Authorization": f"Bearer {server.keys[key]}"}
    response = httpx.post(f"{server.url}/v1/check", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    answer = response.json()
    return answer["decision"], (answer["matches"] or [{}])[0]


def test_case_page_says_under_review_when_two_organisations_dispute_an_item(
    server: Served, browsing: Browsing
) -> None:
    pixels = textured_rgb(640, 480, seed=71)
    photo = encode(pixels, "JPEG", quality=92)
    indexed = httpx.get(f"{server.url}/readyz").json()["index_size"]  # other tests' items
    page = browsing.page
    page.goto(f"{server.url}/report")
    page.get_by_label(T["attest_adult"]).check()
    page.get_by_role("button", name=T["attest_continue"]).click()
    page.locator("#photos").set_input_files(
        [{"name": "a.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    page.get_by_role("button", name=T["send_button"]).click(timeout=30_000)
    page.locator("#done").wait_for(state="visible", timeout=30_000)
    case_number = page.locator("#case-number").inner_text()
    pin = page.locator("#pin").inner_text()
    wait_indexed(server.url, indexed + 1)

    # Two organisations each say "not intimate imagery" about a distinct upload of it.
    mirrored = encode(pixels[:, ::-1], "PNG")
    for key, upload in (("feed", photo), ("other", mirrored)):
        decision, match = platform_check(server, key, upload)
        assert decision == "review", (key, decision)
        hashed = hash_image(upload)
        verdict = httpx.post(
            f"{server.url}/v1/matches/{match['match_ref']}/verdict",
            json={"verdict": "not_ncii", "upload_pdq": hashed.pdq.hex},
            headers={"Authorization": f"Bearer {server.keys[key]}"},
        )
        assert verdict.status_code == 200 and verdict.json()["recorded"], verdict.text

    page.goto(f"{server.url}/case")
    page.get_by_label(T["case_number_input"]).fill(case_number)
    page.get_by_label(T["pin_input"]).fill(pin)
    page.get_by_role("button", name=T["case_show"]).click()
    page.locator("#case-view").wait_for(state="visible", timeout=30_000)
    assert T["item_state_quarantined"] in page.locator("#case-items").inner_text()
    assert page.evaluate(AXE_LITE) == []
    assert browsing.errors == []


def test_a_heic_photo_gets_a_clear_message_with_the_way_round_it(
    server: Served, browsing: Browsing
) -> None:
    page = browsing.page
    page.goto(f"{server.url}/report")
    page.get_by_label(T["attest_adult"]).check()
    page.get_by_role("button", name=T["attest_continue"]).click()
    # An iPhone photo's first bytes (ISO-BMFF, brand heic): no browser here decodes it.
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(512)
    page.locator("#photos").set_input_files(
        [{"name": "IMG_0001.HEIC", "mimeType": "image/heic", "buffer": heic}]
    )
    page.wait_for_function(
        "() => document.querySelector('#items .item')?.dataset.state === 'error'",
        timeout=30_000,
    )
    shown = page.locator("#items").inner_text()
    assert T["status_heic"] in shown
    assert "hashwall case create" in shown
    assert page.locator("#send").is_disabled()
    assert browsing.proxy.posts() == []
