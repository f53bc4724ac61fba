"""``/docs`` in a real browser with no way out: Swagger UI renders from this server alone.

Drives Debian's Chromium (``/usr/bin/chromium``, package ``chromium``) with Playwright's Python
package (no browser download) against a live server. Every request that would leave localhost
is aborted and recorded. Skips when Chromium or Playwright is missing; fails instead under
``CI=true`` (``.ci/run`` installs Chromium).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from PIL import Image

from live_server import Served, prepare_store, served_in_thread

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: Not network requests: inline images and blobs that the page makes itself.
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})


def _require_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (Debian: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install -e '.[dev]')")
    if missing:
        message = "needs Chromium and Playwright: missing " + " and ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or parts.hostname in LOCAL_HOSTS


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    """A live hashwall server on SQLite."""
    url = f"sqlite:///{tmp_path / 'hashwall.db'}"
    with served_in_thread(url, prepare_store(url)) as served:
        yield served


@dataclass
class Browsing:
    """A browser page with no way out: what it requested, what was blocked, console errors."""

    page: Page
    requested: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def left_localhost(self) -> list[str]:
        """Every request that went, or tried to go, elsewhere."""
        return self.blocked + [url for url in self.requested if not _is_local(url)]


@pytest.fixture
def browsing() -> Iterator[Browsing]:
    """Debian's Chromium, headless, every request off localhost aborted and recorded."""
    _require_browser()
    from playwright.sync_api import Route, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            browsing = Browsing(context.new_page())

            def only_local(route: Route) -> None:
                if _is_local(route.request.url):
                    route.continue_()
                else:
                    browsing.blocked.append(route.request.url)
                    route.abort()

            context.route("**/*", only_local)
            browsing.page.on("request", lambda request: browsing.requested.append(request.url))
            browsing.page.on(
                "console", lambda m: browsing.errors.append(m.text) if m.type == "error" else None
            )
            yield browsing
        finally:
            browser.close()


def test_docs_render_offline_and_show_the_check_operation(
    server: Served, browsing: Browsing, tmp_path: Path
) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browsing.page
    page.goto(f"{server.url}/docs", wait_until="load", timeout=30_000)
    check = page.locator('.opblock-summary-path[data-path="/v1/check"]').first
    try:
        check.wait_for(state="visible", timeout=30_000)
    except PlaywrightTimeout:
        pytest.fail(f"/docs shows no /v1/check operation; blocked: {browsing.blocked}")
    assert page.locator(".opblock").count() >= 10
    assert page.locator(".swagger-ui .info .title").first.inner_text().startswith("hashwall")
    screenshot = tmp_path / "docs.png"
    page.screenshot(path=str(screenshot))

    assert browsing.left_localhost() == []
    assert f"{server.url}/static/swagger-ui-bundle.js" in browsing.requested
    assert f"{server.url}/openapi.json" in browsing.requested
    with Image.open(screenshot) as image:
        assert image.size == (1280, 900)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    # A blank or unstyled page has a handful of colours; rendered Swagger UI has many.
    assert colours is None or len(colours) > 50


def test_home_page_is_styled_within_its_policy_and_links_to_the_docs(
    server: Served, browsing: Browsing
) -> None:
    page = browsing.page
    page.goto(f"{server.url}/", wait_until="load", timeout=30_000)
    assert page.locator("h1").inner_text() == "hashwall"
    # The stylesheet applied: the Content-Security-Policy let this server's CSS in.
    assert page.locator("main").evaluate("e => getComputedStyle(e).maxWidth") != "none"
    assert browsing.errors == []
    page.get_by_role("link", name="API documentation").click()
    page.wait_for_url(f"{server.url}/docs", timeout=30_000)
    assert browsing.left_localhost() == []
