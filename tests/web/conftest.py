"""Fixtures of the reporter pages' browser tests: a live server and Chromium with no way out."""

from __future__ import annotations

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
    each test opens its own case and reads only that."""
    require_browser()  # skip before paying for a server
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'hashwall.db'}"
    with served_in_thread(url, prepare_store(url)) as served:
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
