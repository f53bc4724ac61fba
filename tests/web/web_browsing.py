"""A Chromium page for the reporter pages' tests, with no way out and a record of every request.

Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright's Python package) browses
through :class:`RecordingProxy` on loopback (each browser context's proxy, loopback not
bypassed): every request the pages and their Web Workers make passes through the proxy, which
records its method, URL and body, forwards it when it goes to this machine and refuses it
otherwise. DNS resolves nothing but loopback either, so nothing could leave around it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
#: Set to a folder (``docs/web`` to refresh the docs' screenshots) to keep the screenshots there.
SCREENSHOTS_ENV = "HASHWALL_WEB_SCREENSHOTS"
#: The widths of the screenshots: a desktop and a small phone.
WIDTHS = {"desktop": 1280, "phone": 375}
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_HOP_BY_HOP = frozenset(
    {"connection", "proxy-connection", "keep-alive", "transfer-encoding", "te", "upgrade"}
)


def require_browser() -> None:
    """Skip (fail under ``CI=true``) when Chromium or Playwright is missing."""
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


@dataclass(frozen=True)
class Seen:
    """One request through the proxy."""

    method: str
    url: str
    body: bytes
    forwarded: bool


@dataclass
class RecordingProxy:
    """An HTTP proxy on loopback that forwards to loopback only and records everything."""

    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    def left_localhost(self) -> list[str]:
        """Every request that tried to go elsewhere (refused by the proxy)."""
        return [s.url for s in self.seen if not s.forwarded]

    def posts(self) -> list[Seen]:
        """Every request with a body."""
        return [s for s in self.seen if s.body]


def _handler(proxy: RecordingProxy, client: httpx.Client) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = self.path
            host = urlsplit(url).hostname if "://" in url else None
            if self.command == "CONNECT" or host not in LOCAL_HOSTS:
                proxy.seen.append(Seen(self.command, url, body, forwarded=False))
                self.send_error(502, "this test lets nothing leave the machine")
                return
            proxy.seen.append(Seen(self.command, url, body, forwarded=True))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            response = client.request(self.command, url, headers=headers, content=body)
            self.send_response(response.status_code)
            for key, value in response.headers.multi_items():
                if key.lower() not in _HOP_BY_HOP | {"content-length", "content-encoding"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.content)))
            self.send_header("Connection", "close")
            self.end_headers()
            # The browser may have given up on this request (the page went away).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(response.content)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_CONNECT = _any  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def recording_proxy() -> Iterator[RecordingProxy]:
    """Run a :class:`RecordingProxy` on a free loopback port."""
    proxy = RecordingProxy()
    with httpx.Client(timeout=60.0) as client:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy, client))
        proxy.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield proxy
        finally:
            server.shutdown()
            server.server_close()


@dataclass
class Browsing:
    """A page, what went through the proxy, and what the page printed."""

    browser: Browser
    page: Page
    proxy: RecordingProxy
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    def new_page(self, width: int = 375, height: int = 800) -> Page:
        """Another page (its own context: fresh history and storage) at ``width`` px."""
        context = self.browser.new_context(
            viewport={"width": width, "height": height},
            accept_downloads=True,
            # The context's own proxy sees what its pages and their workers request; the
            # browser's housekeeping (updates, sign-in) has none, and its DNS resolves nothing.
            proxy={"server": f"http://127.0.0.1:{self.proxy.port}", "bypass": "<-loopback>"},
        )
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        return page


@contextmanager
def launched() -> Iterator[tuple[Browser, RecordingProxy]]:
    """Chromium, headless, and the recording proxy its contexts browse through."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with recording_proxy() as proxy, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-pings",
                "--disable-domain-reliability",
                "--disable-client-side-phishing-detection",
                "--disable-default-apps",
                "--disable-component-extensions-with-background-pages",
                "--disable-features=AutofillServerCommunication,OptimizationHints,"
                "MediaRouter,Translate,SafeBrowsing,InterestFeedContentSuggestions,"
                "CertificateTransparencyComponentUpdater,AccountConsistency",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            ],
        )
        try:
            yield browser, proxy
        finally:
            browser.close()


@contextmanager
def browsing_in(
    browser: Browser, proxy: RecordingProxy, width: int = 375, height: int = 800
) -> Iterator[Browsing]:
    """A fresh page ``width`` px wide (its own context) and a clean record of requests; every
    context opened meanwhile is closed at the end."""
    proxy.seen.clear()
    browsing = Browsing(browser, page=None, proxy=proxy)  # type: ignore[arg-type]
    browsing.page = browsing.new_page(width, height)
    try:
        yield browsing
    finally:
        for context in browsing.contexts:
            context.close()


@contextmanager
def chromium(width: int = 375, height: int = 800) -> Iterator[Browsing]:
    """Chromium through a recording proxy, with a first page ``width`` px wide."""
    with launched() as (browser, proxy), browsing_in(browser, proxy, width, height) as browsing:
        yield browsing


def screenshots(page: Page, folder: Path, name: str) -> list[Path]:
    """Full-page screenshots of ``page`` at each of :data:`WIDTHS` (``name-desktop.png``,
    ``name-phone.png``) in ``$HASHWALL_WEB_SCREENSHOTS`` or else ``folder``, as 256-colour PNGs
    (small enough to commit); the page gets its first width back."""
    from PIL import Image

    out = Path(os.environ.get(SCREENSHOTS_ENV) or folder)
    out.mkdir(parents=True, exist_ok=True)
    first = page.viewport_size
    height = first["height"] if first else 800
    paths = []
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        path = out / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
        with Image.open(path) as shot:
            small = shot.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
        small.save(path, optimize=True)
        paths.append(path)
    if first:
        page.set_viewport_size(first)
    return paths


def choose_files_by_key(page: Page, element_id: str, files: list[Any], key: str = "Space") -> None:
    """Press ``key`` on the focused file input ``#element_id`` and pick ``files`` in the file
    chooser it opens.

    On a loaded machine Chromium now and then drops the chooser of a key press (no
    ``Page.fileChooserOpened`` comes; the control stays focused and nothing else happens), so a
    press whose chooser has not come in 10 s is made again, at most 3 times in all, each time
    only while the input still has the focus. A page whose input does not open the chooser
    fails every try.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    focused = "() => document.activeElement.id"
    for attempt in range(3):
        assert page.evaluate(focused) == element_id, f"#{element_id} lost the focus"
        try:
            with page.expect_file_chooser(timeout=10_000) as chooser:
                page.keyboard.press(key)
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            continue
        chooser.value.set_files(files)
        return
