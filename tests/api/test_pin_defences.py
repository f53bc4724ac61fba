"""A person can always reach their own case: a flood of wrong PINs from many addresses neither
refuses nor outwaits them, and a PIN check that was not evaluated never counts against them.

The app runs with its lifespan on one event loop, with one ASGI client per address. argon2 is
replaced through the service's PIN hashing seam by a verification that holds wrong PINs until
the test releases them, one at a time: what happens is decided by events, not by timing.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from hashwall.api.app import create_app
from hashwall.api.state import ApiState
from hashwall.service.context import PinHashing, ServiceContext
from hashwall.settings import Settings
from hashwall.store import migrate
from hashwall.store.credentials import pin_key
from hashwall.store.engine import make_engine
from hashwall.store.repo import Store

from support import CHEAP_PINS, TEST_SETTINGS, fresh_database_url

MD5 = {"signals": [{"type": "md5", "value": "0" * 32}]}
REPORTER = "192.0.2.10"
PIN_PATTERN = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){2}")


@dataclass
class SlowArgon2:
    """PIN verification as argon2 does it (cheap parameters), except that a wrong PIN holds its
    thread until :meth:`finish_one` (or :attr:`open`): a slow argon2 under the test's control."""

    started: list[str] = field(default_factory=list)  # PINs in the order verification began
    holding: int = 0  # wrong PINs held now
    tokens: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    open: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verify(self, pin_hash: str | None, pin: str) -> bool:
        with self.lock:
            self.started.append(pin)
        right = CHEAP_PINS.verify(pin_hash, pin)
        if not right and not self.open.is_set():
            with self.lock:
                self.holding += 1
            while not self.open.is_set() and not self.tokens.acquire(timeout=0.05):
                pass
            with self.lock:
                self.holding -= 1
        return right

    def finish_one(self) -> None:
        self.tokens.release()

    @property
    def hashing(self) -> PinHashing:
        return PinHashing(hash=CHEAP_PINS.hash, verify=self.verify)


@dataclass
class Served:
    app: Any
    state: ApiState

    @asynccontextmanager
    async def client(self, address: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://hashwall") as http:
            yield http


@asynccontextmanager
async def serving(url: str, argon2: SlowArgon2, **overrides: Any) -> AsyncIterator[Served]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    settings = Settings(database_url=url, **{**TEST_SETTINGS, **overrides})
    app = create_app(ctx=ServiceContext(Store(engine), settings, pins=argon2.hashing))
    try:
        async with app.router.lifespan_context(app):
            yield Served(app, app.state.hashwall)
    finally:
        argon2.open.set()
        engine.dispose()


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait on the event loop until ``condition()`` holds; fail after a generous bound."""
    deadline = time.monotonic() + 60  # a bound on a hang, not a measure of speed
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.01)


async def open_case(served: Served) -> dict[str, Any]:
    async with served.client(REPORTER) as http:
        created = await http.post("/v1/cases", json={"items": [MD5]})
    assert created.status_code == 201, created.text
    case: dict[str, Any] = created.json()
    return case


@pytest.fixture
def url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return fresh_database_url("sqlite", tmp_path, request)


def test_a_wrong_pin_flood_from_100_addresses_cannot_stop_a_withdrawal_with_the_right_pin(
    url: str,
) -> None:
    argon2 = SlowArgon2()

    async def main() -> None:
        async with serving(url, argon2, pin_check_concurrency=2, pin_check_max_waiting=8) as api:
            case = await open_case(api)
            stop = asyncio.Event()
            asked = [0] * 100
            answers: list[int] = []

            async def attacker(n: int) -> None:
                async with api.client(f"198.18.{n // 250}.{n % 250 + 1}") as http:
                    while not stop.is_set():
                        unknown = f"HW-{secrets.token_hex(2).upper()}-0000-0000"
                        body = {"case_number": unknown, "pin": "0000-0000-0000"}
                        asked[n] += 1
                        answer = await http.post("/v1/cases/status", json=body)
                        answers.append(answer.status_code)
                        if answer.status_code == 503:
                            await asyncio.sleep(0.01)  # retry soon, as a flood does

            # The flood has gone on for a while: every address has had wrong PINs checked.
            argon2.open.set()
            attackers = [asyncio.create_task(attacker(n)) for n in range(100)]
            await until(lambda: min(asked) >= 3, "every address asked three times")
            # Now argon2 is slow: two wrong PINs hold both slots and the waiting room fills.
            argon2.open.clear()
            cap = api.state.pin_cap
            await until(
                lambda: argon2.holding == 2 and cap.waiting == 8,
                "two wrong PINs in argon2 and eight waiting",
            )
            before = len(argon2.started)
            async with api.client(REPORTER) as http:
                body = {"case_number": case["case_number"], "pin": case["pin"]}
                withdrawal = asyncio.create_task(http.post("/v1/cases/withdraw", json=body))
                await until(lambda: cap.waiting_for(REPORTER) == 1, "the withdrawal waits")
                argon2.finish_one()  # one check ends: the next to start is the reporter's
                answer = await withdrawal
            assert answer.status_code == 200, answer.text
            assert answer.json()["case_withdrawn"] is True
            assert argon2.started[before] == pin_key(case["pin"])
            assert 503 in answers  # the flood was refused, not the reporter
            stop.set()
            argon2.open.set()
            await asyncio.gather(*attackers)

    asyncio.run(main())


def test_pin_checks_that_were_not_evaluated_never_count(url: str) -> None:
    argon2 = SlowArgon2()
    limits = {
        "pin_free_attempts": 2,
        "pin_client_free_attempts": 2,
        "pin_case_free_attempts": 2,
        "pin_backoff_base": 60.0,
        "pin_check_concurrency": 1,
        "pin_check_max_waiting": 0,
    }

    async def main() -> None:
        async with serving(url, argon2, **limits) as api:
            case = await open_case(api)
            right = {"case_number": case["case_number"], "pin": case["pin"]}
            async with api.client("203.0.113.50") as stranger, api.client(REPORTER) as http:
                # A stranger's wrong PIN on another case holds the only argon2 slot.
                other = {"case_number": "HW-0000-0000-0000", "pin": "0000-0000-0000"}
                held = asyncio.create_task(stranger.post("/v1/cases/status", json=other))
                await until(lambda: len(argon2.started) == 1, "the slot is taken")
                for path in ("/v1/cases/status", "/v1/cases/withdraw") * 5:
                    busy = await http.post(path, json=right)
                    assert busy.status_code == 503, busy.text
                    assert busy.json()["code"] == "overloaded"
                argon2.open.set()
                assert (await held).status_code == 401
                for text in ("1234", "not a PIN!", "K7QM-4XRT-9HWU") * 3:
                    refused = await http.post("/v1/cases/status", json={**right, "pin": text})
                    assert refused.status_code == 401 and "not a PIN" in refused.json()["detail"]
                # Neither the 503s nor the texts that are not PINs counted: the right PIN works.
                status = await http.post("/v1/cases/status", json=right)
                assert status.status_code == 200, status.text
                # Verified wrong PINs do count (2 free, then a wait).
                wrong = {**right, "pin": "0000-0000-0000"}
                codes = [
                    (await http.post("/v1/cases/status", json=wrong)).status_code for _ in "abc"
                ]
                assert codes == [401, 401, 429]

    asyncio.run(main())


def test_pins_are_new_format_and_read_as_typed_through_the_api(url: str) -> None:
    argon2 = SlowArgon2()
    argon2.open.set()

    async def main() -> None:
        async with serving(url, argon2) as api:
            case = await open_case(api)
            assert PIN_PATTERN.fullmatch(case["pin"])
            typed = case["pin"].replace("-", " ").lower()
            async with api.client(REPORTER) as http:
                status = await http.post(
                    "/v1/cases/status", json={"case_number": case["case_number"], "pin": typed}
                )
            assert status.status_code == 200, status.text

    asyncio.run(main())


def test_a_request_that_hangs_up_before_its_turn_leaves_the_queue_and_is_not_counted(
    url: str,
) -> None:
    argon2 = SlowArgon2()
    limits = {
        "pin_free_attempts": 2,
        "pin_case_free_attempts": 2,
        "pin_backoff_base": 60.0,
        "pin_check_concurrency": 1,
        "pin_check_max_waiting": 4,
    }

    async def main() -> None:
        async with serving(url, argon2, **limits) as api:
            case = await open_case(api)
            wrong = {"case_number": case["case_number"], "pin": "0000-0000-0000"}
            cap = api.state.pin_cap
            async with api.client("203.0.113.50") as stranger, api.client(REPORTER) as http:
                other = {"case_number": "HW-0000-0000-0000", "pin": "0000-0000-0000"}
                held = asyncio.create_task(stranger.post("/v1/cases/status", json=other))
                await until(lambda: argon2.holding == 1, "the slot is taken")
                for _ in range(5):  # more than the free attempts of the case
                    gone = asyncio.create_task(http.post("/v1/cases/status", json=wrong))
                    await until(lambda: cap.waiting_for(REPORTER) == 1, "the check waits")
                    gone.cancel()
                    await until(lambda: cap.waiting == 0, "the check left the queue")
                argon2.open.set()
                assert (await held).status_code == 401
                assert argon2.started.count("000000000000") == 1  # only the stranger's ran
                # None of the five counted: the case still has both of its free attempts.
                codes = [
                    (await http.post("/v1/cases/status", json=wrong)).status_code for _ in "abc"
                ]
                assert codes == [401, 401, 429]

    asyncio.run(main())
