"""Fixtures of the reporter pages' browser tests: a live server and Chromium with no way out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from web_browsing import Browsing, RecordingProxy, browsing_in, launched, require_browser

from live_server import Served, prepare_store, served_in_thread

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A live hashwall server on SQLite (keys: admin, feed, chat, intake), one per test module:
    each test opens its own case and reads only that. The demo is set up, as ``make run`` does:
    ``/demo`` plays the platform of the ``feed`` key, which the server holds."""
    require_browser()  # skip before paying for a server
    folder = tmp_path_factory.mktemp("web")
    url = f"sqlite:///{folder / 'hashwall.db'}"
    keys = prepare_store(url)
    demo_keys = folder / "demo-keys.json"
    demo_keys.write_text(json.dumps({"platforms": [{"name": "feed", "key": keys["feed"]}]}))
    with served_in_thread(url, keys, demo_keys_file=str(demo_keys)) as served:
        yield served


@pytest.fixture(scope="module")
def launched_chromium() -> Iterator[tuple[Browser, RecordingProxy]]:
    """One Chromium per test module (each test gets its own contexts). Not per session:
    Playwright's sync API runs an event loop while it lives, and other modules' browser tests
    start their own."""
    with launched() as browser_and_proxy:
        yield browser_and_proxy


@pytest.fixture
def browsing(launched_chromium: tuple[Browser, RecordingProxy]) -> Iterator[Browsing]:
    """A fresh page through the recording proxy, 375 px wide (a small phone)."""
    with browsing_in(*launched_chromium) as browsing:
        yield browsing
