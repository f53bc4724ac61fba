"""Fixtures of the reporter pages' browser tests: a live server and Chromium with no way out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from web_browsing import Browsing, RecordingProxy, browsing_in, launched, require_browser

from hashwall.domain import Actor
from hashwall.service import keys as key_service
from hashwall.service import tenants
from hashwall.service.context import ServiceContext
from hashwall.settings import Settings
from hashwall.store.repo import Store
from live_server import Served, prepare_store, served_in_thread

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def second_organisation(database_url: str) -> dict[str, str]:
    """Another organisation's platform (``other``), whose verdicts count apart from the first's:
    ``not_ncii`` from two organisations quarantines an item. Its key as ``{"other": key}``."""
    ctx = ServiceContext(Store.from_url(database_url), Settings(database_url=database_url))
    try:
        operator = Actor.operator()
        tenants.add_organisation(ctx, operator, "Other Co")
        tenants.add_platform(ctx, operator, organisation="Other Co", name="other")
        key = key_service.create_api_key(ctx, operator, role="platform", platform="other")
        return {"other": key.key}
    finally:
        ctx.store.dispose()


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The SQLite store of the module's :func:`server` (a test may read back what it stored)."""
    return f"sqlite:///{tmp_path_factory.mktemp('web') / 'hashwall.db'}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Served]:
    """A live hashwall server on SQLite (keys: admin, feed, chat, intake, other), one per module:
    each test opens its own case and reads only that. The demo is set up, as ``make run`` does:
    ``/demo`` plays the platform of the ``feed`` key, which the server holds."""
    require_browser()  # skip before paying for a server
    folder = tmp_path_factory.mktemp("web")
    url = database_url
    keys = prepare_store(url) | second_organisation(url)
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
