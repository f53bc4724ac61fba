"""Fixtures of the reporter pages' browser tests: a live server and Chromium with no way out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web_browsing import Browsing, chromium, require_browser

from live_server import Served, prepare_store, served_in_thread


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    """A live hashwall server on SQLite (keys: admin, feed, chat, intake)."""
    require_browser()  # skip before paying for a server
    url = f"sqlite:///{tmp_path / 'hashwall.db'}"
    with served_in_thread(url, prepare_store(url)) as served:
        yield served


@pytest.fixture
def browsing() -> Iterator[Browsing]:
    """Chromium through a recording proxy; its first page is 375 px wide (a small phone)."""
    with chromium() as browsing:
        yield browsing
