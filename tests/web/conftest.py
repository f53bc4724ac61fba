"""Fixtures of the reporter pages' browser tests: a live server and Chromium with no way out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web_browsing import Browsing, chromium, require_browser

from live_server import Served, prepare_store, served_in_thread


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A live hashwall server on SQLite (keys: admin, feed, chat, intake), one per test module:
    each test opens its own case and reads only that."""
    require_browser()  # skip before paying for a server
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'hashwall.db'}"
    with served_in_thread(url, prepare_store(url)) as served:
        yield served


@pytest.fixture
def browsing() -> Iterator[Browsing]:
    """Chromium through a recording proxy; its first page is 375 px wide (a small phone)."""
    with chromium() as browsing:
        yield browsing
