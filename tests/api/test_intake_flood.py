"""A case-creation flood cannot slow the checks: new PINs are hashed in the argon2 slots (never
more at once than ``pin_check_concurrency``), and the anonymous channel as a whole has one
budget of new cases, whatever the number of addresses."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from hashwall.api.app import create_app
from hashwall.domain import Actor
from hashwall.service import keys as key_service
from hashwall.service import tenants
from hashwall.service.context import PinHashing, ServiceContext
from hashwall.settings import Settings
from hashwall.store import migrate
from hashwall.store.engine import make_engine
from hashwall.store.repo import Store

from support import CHEAP_PINS, TEST_SETTINGS, fresh_database_url

MD5 = {"signals": [{"type": "md5", "value": "ab" * 16}]}


class HeldHashing:
    """argon2 hashing of new PINs that waits until the test lets it go."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = 0
        self.lock = threading.Lock()

    def hash(self, pin: str) -> str:
        with self.lock:
            self.started += 1
        assert self.release.wait(60), "never released"
        return CHEAP_PINS.hash(pin)

    @property
    def hashing(self) -> PinHashing:
        return PinHashing(hash=self.hash, verify=CHEAP_PINS.verify)


@asynccontextmanager
async def serving(url: str, pins: PinHashing, **overrides: Any) -> AsyncIterator[Any]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    settings = Settings(database_url=url, **{**TEST_SETTINGS, **overrides})
    ctx = ServiceContext(Store(engine), settings, pins=pins)
    op = Actor.operator()
    tenants.add_organisation(ctx, op, "Org")
    tenants.add_platform(ctx, op, organisation="Org", name="feed")
    tenants.add_partner(ctx, op, "Helpline")
    keys = {
        "platform": key_service.create_api_key(ctx, op, role="platform", platform="feed").key,
        "intake": key_service.create_api_key(ctx, op, role="intake", partner="Helpline").key,
    }
    app = create_app(ctx=ctx)
    try:
        async with app.router.lifespan_context(app):
            yield app, keys
    finally:
        engine.dispose()


@asynccontextmanager
async def client(app: Any, address: str, key: str | None = None) -> AsyncIterator[Any]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://hashwall", headers=headers
    ) as http:
        yield http


async def create(app: Any, address: str, key: str | None = None) -> httpx.Response:
    async with client(app, address, key) as http:
        response: httpx.Response = await http.post("/v1/cases", json={"items": [MD5]})
        return response


async def until(condition: Any, what: str) -> None:
    for _ in range(6000):  # a bound on a hang (60 s), not a measure of speed
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
def url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return fresh_database_url("sqlite", tmp_path, request)


def test_the_anonymous_channel_has_one_budget_for_all_addresses(url: str) -> None:
    async def main() -> None:
        budget = {"anonymous_cases_burst": 3, "anonymous_cases_per_second": 0.001}
        async with serving(url, CHEAP_PINS, **budget) as (app, keys):
            for n in range(3):
                assert (await create(app, f"198.18.0.{n + 1}")).status_code == 201
            refused = await create(app, "198.18.0.99")  # a fresh address: the budget is global
            assert refused.status_code == 429, refused.text
            assert refused.json()["code"] == "rate_limited"
            assert int(refused.headers["retry-after"]) >= 1
            partner = await create(app, "198.18.0.99", keys["intake"])  # partners do not count
            assert partner.status_code == 201, partner.text

    asyncio.run(main())


def test_new_pins_wait_for_the_argon2_slot_while_checks_are_answered(url: str) -> None:
    held = HeldHashing()

    async def main() -> None:
        slots = {"pin_check_concurrency": 1, "pin_check_max_waiting": 2}
        async with serving(url, held.hashing, **slots) as (app, keys):
            flood = [asyncio.create_task(create(app, f"198.18.1.{n + 1}")) for n in range(6)]
            await until(lambda: held.started == 1, "one new PIN is being hashed")
            await until(lambda: sum(t.done() for t in flood) == 3, "the others refused")
            refused = [t.result() for t in flood if t.done()]
            assert [r.json()["code"] for r in refused] == ["overloaded"] * 3
            assert held.started == 1  # never more argon2 at once than the slots

            # The check does not wait for argon2: answered while the PIN is still held.
            async with client(app, "203.0.113.5", keys["platform"]) as http:
                answer = await http.post("/v1/check", json=MD5)
            assert answer.status_code == 200 and answer.json()["decision"] == "allow"
            assert held.started == 1 and not held.release.is_set()

            held.release.set()
            done = await asyncio.gather(*flood)
            assert sorted(r.status_code for r in done) == [201, 201, 201, 503, 503, 503]

    try:
        asyncio.run(main())
    finally:
        held.release.set()


def test_argon2_runs_on_threads_that_give_way_to_the_checks() -> None:
    import os

    from hashwall.api.defences.argon2_cap import ARGON2_NICENESS, ConcurrencyCap

    cap = ConcurrencyCap(limit=1)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    async def main() -> int:
        return await cap.run_fair("", niceness)

    try:
        assert asyncio.run(main()) == min(19, mine + ARGON2_NICENESS)
        assert niceness() == mine  # the caller's own thread is untouched
    finally:
        cap.close()
