"""PIN backoff per case across addresses, refunds of attempts never evaluated, and the argon2
cap shared fairly by address (in process and in the real local Redis)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hashwall.api.defences.argon2_cap import ConcurrencyCap
from hashwall.api.defences.pin_backoff import BackoffPolicy, InProcessPinBackoff, RedisPinBackoff
from hashwall.errors import Overloaded
from hashwall.settings import Settings

# Every defence is called from the event loop, as the API calls it.
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# Generous per-pair and per-address counters: these tests are about the case's own counter.
POLICY = BackoffPolicy(
    free_attempts=100, client_free_attempts=100, case_free_attempts=3, base=1.0, case_max=4.0
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- the case's own counter -------------------------------------------------------------------


async def test_a_case_is_slowed_for_every_address_once_its_free_attempts_are_spent() -> None:
    clock = FakeClock()
    backoff = InProcessPinBackoff(POLICY, clock=clock)
    addresses = (f"198.51.100.{n}" for n in range(1000))  # a fresh address per guess
    assert [(await backoff.attempt("HW-CASE", next(addresses))).allowed for _ in range(2)] == [
        True,
        True,
    ]
    waits = []
    for _ in range(5):
        assert (await backoff.attempt("HW-CASE", next(addresses))).allowed
        denied = await backoff.attempt("HW-CASE", next(addresses))
        assert not denied.allowed
        waits.append(denied.retry_after)
        clock.advance(denied.retry_after)
    assert waits == [1.0, 2.0, 4.0, 4.0, 4.0]  # doubling, up to case_max
    assert (
        await backoff.attempt("HW-OTHER", next(addresses))
    ).allowed  # other cases are not slowed


def test_the_settings_give_the_case_counter_its_own_limits() -> None:
    settings = Settings(pin_case_free_attempts=7, pin_case_backoff_max=120.0)
    policy = BackoffPolicy.from_settings(settings)
    assert (policy.case_free_attempts, policy.case_max) == (7, 120.0)
    assert policy.delay(40, 7, policy.case_max) == 120.0


async def test_an_attempt_never_evaluated_is_refunded_with_its_wait() -> None:
    clock = FakeClock()
    policy = BackoffPolicy(free_attempts=2, client_free_attempts=2, case_free_attempts=2, base=30)
    backoff = InProcessPinBackoff(policy, clock=clock)
    for _ in range(20):  # 503s, cancelled requests, text that is not a PIN: none count
        assert (await backoff.attempt("HW-R", "192.0.2.5")).allowed
        await backoff.refund("HW-R", "192.0.2.5")
    # Still every free attempt, and no wait left behind by the refunded ones.
    assert (await backoff.attempt("HW-R", "192.0.2.5")).allowed
    assert (
        await backoff.attempt("HW-R", "192.0.2.5")
    ).allowed  # the 2nd: counted, now 30 s to wait
    assert not (await backoff.attempt("HW-R", "192.0.2.5")).allowed
    await backoff.refund("HW-R", "192.0.2.5")  # the 2nd was not evaluated after all
    assert (await backoff.attempt("HW-R", "192.0.2.5")).allowed


async def test_a_right_pin_gives_back_its_count_to_the_case_and_the_address() -> None:
    clock = FakeClock()
    policy = BackoffPolicy(free_attempts=5, client_free_attempts=5, case_free_attempts=2)
    backoff = InProcessPinBackoff(policy, clock=clock)
    for _ in range(10):
        assert (await backoff.attempt("HW-S", "192.0.2.5")).allowed
        await backoff.succeeded("HW-S", "192.0.2.5")
    assert (await backoff.attempt("HW-S", "203.0.113.9")).allowed  # a wrong PIN from elsewhere
    assert (await backoff.attempt("HW-S", "203.0.113.9")).allowed
    assert not (await backoff.attempt("HW-S", "192.0.2.5")).allowed  # the case's two are spent


def test_redis_case_counter_and_refunds_are_shared_by_replicas(
    redis_url: tuple[str, str],
) -> None:
    url, prefix = redis_url
    policy = BackoffPolicy(
        free_attempts=100, client_free_attempts=100, case_free_attempts=2, base=30, case_max=60
    )
    one = RedisPinBackoff(url, policy, prefix=prefix, secret=b"s")
    two = RedisPinBackoff(url, policy, prefix=prefix, secret=b"s")

    async def run(backoff: RedisPinBackoff, what: str, address: str) -> bool:
        if what == "attempt":
            return (await backoff.attempt("HW-X", address)).allowed
        if what == "refund":
            await backoff.refund("HW-X", address)
        else:
            await backoff.succeeded("HW-X", address)
        return True

    async def main() -> list[bool]:
        steps = [
            (one, "attempt", "198.51.100.1"),
            (two, "refund", "198.51.100.1"),  # not evaluated: given back on the shared counter
            (two, "attempt", "198.51.100.2"),
            (one, "attempt", "198.51.100.3"),  # 2nd counted: the case now waits 30 s
            (two, "attempt", "198.51.100.4"),  # denied, from any address, on any replica
            (one, "succeeded", "198.51.100.3"),  # it was the right PIN: its count comes back
            (two, "attempt", "198.51.100.5"),
        ]
        answers = [await run(b, what, address) for b, what, address in steps]
        for backoff in (one, two):
            await backoff.aclose()
        return answers

    assert asyncio.run(main()) == [True, True, True, True, False, True, True]


# --- the fair cap -----------------------------------------------------------------------------


class Blocker:
    """Calls that hold their slot until released, and the order in which calls started."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release = threading.Semaphore(0)
        self.lock = threading.Lock()

    def hold(self, name: str) -> str:
        with self.lock:
            self.started.append(name)
        assert self.release.acquire(timeout=30)
        return name

    def quick(self, name: str) -> str:
        with self.lock:
            self.started.append(name)
        return name


async def until(condition: object, what: str) -> None:
    """Wait (on the event loop) until ``condition()`` holds; fail after a generous bound."""
    for _ in range(3000):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def test_a_flood_from_many_addresses_cannot_refuse_or_outwait_one_who_asks_once() -> None:
    cap = ConcurrencyCap(limit=1, max_waiting=3)
    blocker = Blocker()

    async def main() -> tuple[list[str], list[str], str]:
        refused: list[str] = []

        async def flood(n: int) -> None:
            try:
                await cap.run_fair(f"attacker-{n % 10}", blocker.hold, f"a{n}")
            except Overloaded:
                refused.append(f"a{n}")

        running = asyncio.create_task(flood(0))
        await until(lambda: blocker.started == ["a0"], "the first call runs")
        floods = [asyncio.create_task(flood(n)) for n in range(1, 40)]
        await until(lambda: len(refused) == 36, "the waiting room fills, the rest is refused")
        person = asyncio.create_task(cap.run_fair("person", blocker.quick, "person"))
        await until(lambda: cap.waiting_for("person") == 1, "the person waits")
        assert len(refused) == 37 and cap.waiting == 3  # one attacker gave up its place
        blocker.release.release()  # the running call ends: the person's turn, not a flood's
        answer = await person
        for _ in range(3):
            blocker.release.release()
        await asyncio.gather(running, *floods)
        return blocker.started, refused, answer

    started, refused, answer = asyncio.run(main())
    assert answer == "person"
    assert started[:2] == ["a0", "person"]
    assert len(started) == 4 and len(refused) == 37  # a0, the person, the two left waiting
    assert cap.admitted == 0
    cap.close()


def test_a_call_that_gives_up_while_waiting_leaves_its_place_and_no_slot_behind() -> None:
    cap = ConcurrencyCap(limit=1, max_waiting=2)
    blocker = Blocker()

    async def main() -> list[str]:
        first = asyncio.create_task(cap.run_fair("a", blocker.hold, "first"))
        await until(lambda: blocker.started == ["first"], "the first call runs")
        gone = asyncio.create_task(cap.run_fair("b", blocker.quick, "gone"))
        later = asyncio.create_task(cap.run_fair("c", blocker.quick, "later"))
        await until(lambda: cap.waiting == 2, "two wait")
        gone.cancel()
        await until(lambda: cap.waiting == 1, "the cancelled call left")
        blocker.release.release()
        assert await later == "later" and await first == "first"
        return blocker.started

    assert asyncio.run(main()) == ["first", "later"]
    assert cap.admitted == 0
    cap.close()


def test_callers_of_one_flow_queue_in_order() -> None:
    cap = ConcurrencyCap(limit=1, max_waiting=5)
    blocker = Blocker()

    async def main() -> list[str]:
        holder = asyncio.create_task(cap.run_fair("", blocker.hold, "first"))
        await until(lambda: blocker.started == ["first"], "the first call runs")
        calls = [asyncio.create_task(cap.run_fair("", blocker.quick, f"q{n}")) for n in range(3)]
        await until(lambda: cap.waiting == 3, "three wait")
        blocker.release.release()
        assert await holder == "first"
        return list(await asyncio.gather(*calls))

    assert asyncio.run(main()) == ["q0", "q1", "q2"]
    assert blocker.started == ["first", "q0", "q1", "q2"]
    cap.close()
