"""Rate limits, PIN backoff and the argon2 cap, in process and in the real local Redis."""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import redis

from hashwall.api.defences.argon2_cap import ConcurrencyCap
from hashwall.api.defences.decision import Decision
from hashwall.api.defences.pin_backoff import (
    BackoffPolicy,
    InProcessPinBackoff,
    RedisPinBackoff,
    pin_backoff,
)
from hashwall.api.defences.rate import (
    InProcessRateLimiter,
    Rate,
    RateLimiter,
    RedisRateLimiter,
    rate_limiter,
)
from hashwall.errors import Overloaded, RateLimited
from hashwall.settings import Settings

from support import skip_needing

# Every defence is called from the event loop, as the API calls it.
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class RedisTarget:
    url: str
    prefix: str


@pytest.fixture
def redis_target() -> Iterator[RedisTarget]:
    """The local Redis (DB 15), under a key prefix of this test only; skipped when Redis is
    down, except under CI=true where that fails."""
    url = os.environ.get("HASHWALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url, socket_connect_timeout=1.0)
    try:
        client.ping()
    except redis.RedisError as exc:
        skip_needing("needs Redis", f"unreachable at {url}: {exc}")
    prefix = f"hashwall-test:{uuid.uuid4().hex}:"
    yield RedisTarget(url, prefix)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def redis_keys(target: RedisTarget) -> list[str]:
    client = redis.Redis.from_url(target.url)
    try:
        return [k.decode() for k in client.scan_iter(match=f"{target.prefix}*")]
    finally:
        client.close()


@pytest.fixture(params=["in_process", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    backend: RateLimiter
    if request.param == "in_process":
        backend = InProcessRateLimiter()
    else:
        target: RedisTarget = request.getfixturevalue("redis_target")
        backend = RedisRateLimiter(target.url, prefix=target.prefix)
    yield backend
    await backend.aclose()


# --- rate limits ------------------------------------------------------------------------------


# The Redis limiter runs on the server's clock: rates here are slow enough that no token comes
# back while a busy machine takes its time between two hits (a test passes at any load).
SLOW = 0.01  # one token per 100 s


async def test_burst_is_allowed_then_denied_with_retry_after(limiter: RateLimiter) -> None:
    rate = Rate(per_second=SLOW, burst=5)
    decisions = [await limiter.hit("key:k1", rate) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert 0 < decisions[5].retry_after <= 100 + 1e-6


async def test_requests_come_back_at_the_sustained_rate(limiter: RateLimiter) -> None:
    rate = Rate(per_second=1, burst=1)  # denied unless a second passes between two hits
    assert (await limiter.hit("ip:192.0.2.1", rate)).allowed
    denied = await limiter.hit("ip:192.0.2.1", rate)
    assert not denied.allowed
    await asyncio.sleep(denied.retry_after + 0.01)
    assert (await limiter.hit("ip:192.0.2.1", rate)).allowed


async def test_subjects_are_limited_independently(limiter: RateLimiter) -> None:
    rate = Rate(per_second=SLOW, burst=2)
    assert [(await limiter.hit("key:a", rate)).allowed for _ in range(3)] == [
        True,
        True,
        False,
    ]
    assert (await limiter.hit("key:b", rate)).allowed


def test_a_denied_decision_raises_rate_limited_with_whole_seconds() -> None:
    with pytest.raises(RateLimited) as caught:
        Decision(False, 2.3).raise_if_denied("requests for this key")
    assert caught.value.status == 429
    assert caught.value.code == "rate_limited"
    assert caught.value.retry_after == 3
    Decision(True).raise_if_denied("requests")


async def test_a_first_request_is_never_denied_whatever_the_clock_reads() -> None:
    # In float seconds, (now + 1000) - 1000 > now at some clock values (261680.23671160112 is
    # one): a first request was denied "retry in 1 s" (seen once per few full suite runs).
    clock = FakeClock()
    limiter = InProcessRateLimiter(clock=clock)
    rate = Rate(per_second=0.001, burst=1)
    rng = random.Random(7)
    readings = [261680.23671160112, *(rng.uniform(0, 1e6) for _ in range(3000))]
    for n, reading in enumerate(readings):
        clock.now = reading
        first = await limiter.hit(f"ip:{n}", rate)
        assert first.allowed, (reading, first)
        second = await limiter.hit(f"ip:{n}", rate)
        assert not second.allowed and 999 < second.retry_after <= 1000, (reading, second)


def test_in_process_limiter_is_exact_under_threads() -> None:
    limiter = InProcessRateLimiter(clock=FakeClock())
    rate = Rate(per_second=1, burst=50)
    allowed: list[bool] = []

    async def hits() -> list[bool]:
        return [(await limiter.hit("key:shared", rate)).allowed for _ in range(100)]

    threads = [
        threading.Thread(target=lambda: allowed.extend(asyncio.run(hits()))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 800
    assert sum(allowed) == 50


async def test_in_process_limiter_forgets_idle_subjects() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(clock=clock)
    rate = Rate(per_second=100, burst=10)
    for i in range(3000):
        await limiter.hit(f"ip:{i}", rate)
        clock.advance(0.01)
    assert len(limiter) < 1100  # only subjects seen since the last sweep


async def test_replicas_share_one_redis_limit(redis_target: RedisTarget) -> None:
    one = RedisRateLimiter(redis_target.url, prefix=redis_target.prefix, secret=b"s")
    two = RedisRateLimiter(redis_target.url, prefix=redis_target.prefix, secret=b"s")
    rate = Rate(per_second=SLOW, burst=4)
    answers = [(await (one if i % 2 else two).hit("key:k", rate)).allowed for i in range(6)]
    assert answers == [True] * 4 + [False] * 2
    await one.aclose()
    await two.aclose()


async def test_redis_keys_hold_no_raw_address_and_expire(redis_target: RedisTarget) -> None:
    limiter = RedisRateLimiter(redis_target.url, prefix=redis_target.prefix, secret=b"s")
    await limiter.hit("ip:203.0.113.77", Rate(per_second=SLOW, burst=5))
    await limiter.aclose()
    keys = redis_keys(redis_target)
    assert len(keys) == 1
    assert "203.0.113.77" not in keys[0]
    client = redis.Redis.from_url(redis_target.url)
    assert 0 < client.pttl(keys[0]) <= 100_000  # expires once the bucket would be full again
    client.close()


async def test_redis_outage_falls_back_to_per_process_limits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:9/0")  # the discard port: nothing listens
    rate = Rate(per_second=SLOW, burst=2)
    answers = [(await limiter.hit("key:k", rate)).allowed for _ in range(3)]
    assert answers == [True, True, False]
    assert "Redis unavailable" in caplog.text
    await limiter.aclose()


def test_settings_choose_the_backend(redis_target: RedisTarget) -> None:
    assert isinstance(rate_limiter(Settings()), InProcessRateLimiter)
    assert isinstance(pin_backoff(Settings()), InProcessPinBackoff)
    assert isinstance(rate_limiter(Settings(redis_url=redis_target.url)), RedisRateLimiter)
    assert isinstance(pin_backoff(Settings(redis_url=redis_target.url)), RedisPinBackoff)


# --- PIN backoff ------------------------------------------------------------------------------

POLICY = BackoffPolicy(free_attempts=3, client_free_attempts=100, base=1.0, max=8.0, window=3600)


async def test_pin_attempts_are_free_then_back_off_exponentially() -> None:
    clock = FakeClock()
    backoff = InProcessPinBackoff(POLICY, clock=clock)
    assert [(await backoff.attempt("HW-CASE", "198.51.100.1")).allowed for _ in range(3)] == [
        True
    ] * 3
    waits = []
    for _ in range(5):
        denied = await backoff.attempt("HW-CASE", "198.51.100.1")
        assert not denied.allowed
        waits.append(denied.retry_after)
        clock.advance(denied.retry_after)
        assert (await backoff.attempt("HW-CASE", "198.51.100.1")).allowed
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0]


async def test_stranger_hammering_a_case_slows_only_themselves() -> None:
    backoff = InProcessPinBackoff(POLICY, clock=FakeClock())
    for _ in range(50):
        await backoff.attempt("HW-OWNED", "203.0.113.9")  # a stranger guessing
    assert not (await backoff.attempt("HW-OWNED", "203.0.113.9")).allowed
    # The person who owns the case, from their own address, is not slowed at all.
    assert (await backoff.attempt("HW-OWNED", "198.51.100.20")).allowed


async def test_one_address_guessing_across_cases_is_slowed() -> None:
    policy = BackoffPolicy(free_attempts=3, client_free_attempts=5, base=1.0, max=8.0)
    backoff = InProcessPinBackoff(policy, clock=FakeClock())
    answers = [(await backoff.attempt(f"HW-{i}", "203.0.113.9")).allowed for i in range(6)]
    assert answers == [True] * 5 + [False]
    assert (await backoff.attempt("HW-99", "198.51.100.20")).allowed  # others are not


async def test_right_pin_forgets_the_pairs_attempts_and_returns_the_clients() -> None:
    policy = BackoffPolicy(free_attempts=2, client_free_attempts=3, base=1.0, max=8.0)
    backoff = InProcessPinBackoff(policy, clock=FakeClock())
    for _ in range(2):
        assert (await backoff.attempt("HW-A", "192.0.2.5")).allowed
        await backoff.succeeded("HW-A", "192.0.2.5")
    # Two right PINs cost nothing: the address still has all of its free attempts.
    answers = [(await backoff.attempt(f"HW-{i}", "192.0.2.5")).allowed for i in range(4)]
    assert answers == [True, True, True, False]


async def test_pin_counters_start_over_after_the_window() -> None:
    clock = FakeClock()
    backoff = InProcessPinBackoff(POLICY, clock=clock)
    for _ in range(3):
        await backoff.attempt("HW-W", "192.0.2.5")
    assert not (await backoff.attempt("HW-W", "192.0.2.5")).allowed
    clock.advance(POLICY.window + 1)
    answers = [(await backoff.attempt("HW-W", "192.0.2.5")).allowed for _ in range(3)]
    assert answers == [True] * 3


async def test_parallel_pin_attempts_are_counted_before_they_run() -> None:
    backoff = InProcessPinBackoff(POLICY, clock=FakeClock())
    results = await asyncio.gather(*(backoff.attempt("HW-P", "203.0.113.9") for _ in range(16)))
    assert sum(d.allowed for d in results) == POLICY.free_attempts


async def test_redis_pin_backoff_is_shared_and_never_locks_out_the_owner(
    redis_target: RedisTarget,
) -> None:
    policy = BackoffPolicy(free_attempts=2, client_free_attempts=100, base=0.2, max=1.0)
    one = RedisPinBackoff(redis_target.url, policy, prefix=redis_target.prefix, secret=b"s")
    two = RedisPinBackoff(redis_target.url, policy, prefix=redis_target.prefix, secret=b"s")
    assert (await one.attempt("HW-R", "203.0.113.9")).allowed
    assert (await two.attempt("HW-R", "203.0.113.9")).allowed
    denied = await one.attempt("HW-R", "203.0.113.9")
    assert not denied.allowed
    assert 0 < denied.retry_after <= 0.2
    assert (await two.attempt("HW-R", "198.51.100.20")).allowed  # the owner, elsewhere
    await asyncio.sleep(denied.retry_after + 0.02)
    assert (await two.attempt("HW-R", "203.0.113.9")).allowed
    second = await one.attempt("HW-R", "203.0.113.9")
    assert 0.2 < second.retry_after <= 0.4  # doubled
    await one.aclose()
    await two.aclose()
    keys = redis_keys(redis_target)
    assert not any("HW-R" in k or "203.0.113.9" in k for k in keys)


async def test_redis_right_pin_resets_the_pair(redis_target: RedisTarget) -> None:
    policy = BackoffPolicy(free_attempts=1, client_free_attempts=100, base=5.0, max=5.0)
    backoff = RedisPinBackoff(redis_target.url, policy, prefix=redis_target.prefix)
    first = await backoff.attempt("HW-S", "192.0.2.5")
    second = await backoff.attempt("HW-S", "192.0.2.5")
    await backoff.succeeded("HW-S", "192.0.2.5")
    third = await backoff.attempt("HW-S", "192.0.2.5")
    await backoff.aclose()
    assert [first.allowed, second.allowed, third.allowed] == [True, False, True]


# --- the argon2 cap ---------------------------------------------------------------------------


async def test_cap_runs_at_most_limit_calls_at_once_and_never_blocks_the_loop() -> None:
    cap = ConcurrencyCap(limit=2, max_waiting=10)
    running = peak = 0
    lock = threading.Lock()

    def check(x: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return x * 2

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    tick_task = asyncio.create_task(ticker())
    results = await asyncio.gather(*(cap.run_fair(f"f{i % 2}", check, i) for i in range(6)))
    tick_task.cancel()
    assert results == [0, 2, 4, 6, 8, 10]
    assert peak == 2
    assert ticks >= 10  # the loop kept running while the checks ran
    assert cap.admitted == 0
    cap.close()


async def test_cap_refuses_at_once_beyond_its_waiting_room() -> None:
    cap = ConcurrencyCap(limit=1, max_waiting=1)
    release = threading.Event()
    holders = [asyncio.create_task(cap.run_fair("a", release.wait)) for _ in range(2)]
    for _ in range(500):
        if cap.admitted == 2:
            break
        await asyncio.sleep(0.01)
    assert cap.admitted == 2
    with pytest.raises(Overloaded) as caught:
        await cap.run_fair("a", lambda: None)
    assert caught.value.status == 503
    release.set()
    await asyncio.gather(*holders)
    assert await cap.run_fair("a", lambda: 7) == 7
    cap.close()
