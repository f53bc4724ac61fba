"""Rate limits, PIN backoff and the argon2 cap, in process and in the real local Redis."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from hashwall.api.limits import (
    BackoffPolicy,
    ConcurrencyCap,
    Decision,
    InProcessPinBackoff,
    InProcessRateLimiter,
    Rate,
    RateLimiter,
    RedisPinBackoff,
    RedisRateLimiter,
    pin_backoff,
    rate_limiter,
)
from hashwall.errors import Overloaded, RateLimited
from hashwall.settings import Settings

from support import skip_needing


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
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    if request.param == "in_process":
        return InProcessRateLimiter()
    target: RedisTarget = request.getfixturevalue("redis_target")
    return RedisRateLimiter(target.url, prefix=target.prefix)


# --- rate limits ------------------------------------------------------------------------------


# The Redis limiter runs on the server's clock: rates here are slow enough that no token comes
# back while a busy machine takes its time between two hits (a test passes at any load).
SLOW = 0.01  # one token per 100 s


def test_burst_is_allowed_then_denied_with_retry_after(limiter: RateLimiter) -> None:
    rate = Rate(per_second=SLOW, burst=5)
    decisions = [limiter.hit("key:k1", rate) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert 0 < decisions[5].retry_after <= 100 + 1e-6


def test_requests_come_back_at_the_sustained_rate(limiter: RateLimiter) -> None:
    rate = Rate(per_second=1, burst=1)  # denied unless a second passes between two hits
    assert limiter.hit("ip:192.0.2.1", rate).allowed
    denied = limiter.hit("ip:192.0.2.1", rate)
    assert not denied.allowed
    time.sleep(denied.retry_after + 0.01)
    assert limiter.hit("ip:192.0.2.1", rate).allowed


def test_subjects_are_limited_independently(limiter: RateLimiter) -> None:
    rate = Rate(per_second=SLOW, burst=2)
    assert all(limiter.hit("key:a", rate).allowed for _ in range(2))
    assert not limiter.hit("key:a", rate).allowed
    assert limiter.hit("key:b", rate).allowed


def test_async_hits_count_like_sync_ones(limiter: RateLimiter) -> None:
    rate = Rate(per_second=SLOW, burst=3)

    async def main() -> list[bool]:
        answers = [(await limiter.hit_async("key:async", rate)).allowed for _ in range(4)]
        await limiter.aclose()
        return answers

    assert asyncio.run(main()) == [True, True, True, False]


def test_a_denied_decision_raises_rate_limited_with_whole_seconds() -> None:
    with pytest.raises(RateLimited) as caught:
        Decision(False, 2.3).raise_if_denied("requests for this key")
    assert caught.value.status == 429
    assert caught.value.code == "rate_limited"
    assert caught.value.retry_after == 3
    Decision(True).raise_if_denied("requests")


def test_in_process_limiter_is_exact_under_threads() -> None:
    limiter = InProcessRateLimiter(clock=FakeClock())
    rate = Rate(per_second=1, burst=50)
    allowed: list[bool] = []

    def work() -> None:
        allowed.extend(limiter.hit("key:shared", rate).allowed for _ in range(100))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 50


def test_in_process_limiter_forgets_idle_subjects() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(clock=clock)
    rate = Rate(per_second=100, burst=10)
    for i in range(3000):
        limiter.hit(f"ip:{i}", rate)
        clock.advance(0.01)
    assert len(limiter) < 1100  # only subjects seen since the last sweep


def test_replicas_share_one_redis_limit(redis_target: RedisTarget) -> None:
    one = RedisRateLimiter(redis_target.url, prefix=redis_target.prefix, secret=b"s")
    two = RedisRateLimiter(redis_target.url, prefix=redis_target.prefix, secret=b"s")
    rate = Rate(per_second=SLOW, burst=4)
    answers = [(one if i % 2 else two).hit("key:k", rate).allowed for i in range(6)]
    assert answers == [True] * 4 + [False] * 2


def test_redis_keys_hold_no_raw_address_and_expire(redis_target: RedisTarget) -> None:
    limiter = RedisRateLimiter(redis_target.url, prefix=redis_target.prefix, secret=b"s")
    limiter.hit("ip:203.0.113.77", Rate(per_second=SLOW, burst=5))
    keys = redis_keys(redis_target)
    assert len(keys) == 1
    assert "203.0.113.77" not in keys[0]
    client = redis.Redis.from_url(redis_target.url)
    assert 0 < client.pttl(keys[0]) <= 100_000  # expires once the bucket would be full again
    client.close()


def test_redis_outage_falls_back_to_per_process_limits(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:9/0")  # the discard port: nothing listens
    rate = Rate(per_second=SLOW, burst=2)
    assert [limiter.hit("key:k", rate).allowed for _ in range(3)] == [True, True, False]
    assert "Redis unavailable" in caplog.text


def test_settings_choose_the_backend(redis_target: RedisTarget) -> None:
    assert isinstance(rate_limiter(Settings()), InProcessRateLimiter)
    assert isinstance(pin_backoff(Settings()), InProcessPinBackoff)
    assert isinstance(rate_limiter(Settings(redis_url=redis_target.url)), RedisRateLimiter)
    assert isinstance(pin_backoff(Settings(redis_url=redis_target.url)), RedisPinBackoff)


# --- PIN backoff ------------------------------------------------------------------------------

POLICY = BackoffPolicy(free_attempts=3, client_free_attempts=100, base=1.0, max=8.0, window=3600)


def test_pin_attempts_are_free_then_back_off_exponentially() -> None:
    clock = FakeClock()
    backoff = InProcessPinBackoff(POLICY, clock=clock)
    assert all(backoff.attempt("HW-CASE", "198.51.100.1").allowed for _ in range(3))
    waits = []
    for _ in range(5):
        denied = backoff.attempt("HW-CASE", "198.51.100.1")
        assert not denied.allowed
        waits.append(denied.retry_after)
        clock.advance(denied.retry_after)
        assert backoff.attempt("HW-CASE", "198.51.100.1").allowed
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_stranger_hammering_a_case_slows_only_themselves() -> None:
    backoff = InProcessPinBackoff(POLICY, clock=FakeClock())
    for _ in range(50):
        backoff.attempt("HW-OWNED", "203.0.113.9")  # a stranger guessing
    assert not backoff.attempt("HW-OWNED", "203.0.113.9").allowed
    # The person who owns the case, from their own address, is not slowed at all.
    assert backoff.attempt("HW-OWNED", "198.51.100.20").allowed


def test_one_address_guessing_across_cases_is_slowed() -> None:
    policy = BackoffPolicy(free_attempts=3, client_free_attempts=5, base=1.0, max=8.0)
    backoff = InProcessPinBackoff(policy, clock=FakeClock())
    answers = [backoff.attempt(f"HW-{i}", "203.0.113.9").allowed for i in range(6)]
    assert answers == [True] * 5 + [False]
    assert backoff.attempt("HW-99", "198.51.100.20").allowed  # other addresses are not


def test_right_pin_forgets_the_pairs_attempts_and_returns_the_clients() -> None:
    policy = BackoffPolicy(free_attempts=2, client_free_attempts=3, base=1.0, max=8.0)
    backoff = InProcessPinBackoff(policy, clock=FakeClock())
    assert backoff.attempt("HW-A", "192.0.2.5").allowed
    backoff.succeeded("HW-A", "192.0.2.5")
    assert backoff.attempt("HW-A", "192.0.2.5").allowed
    backoff.succeeded("HW-A", "192.0.2.5")
    # Two right PINs cost nothing: the address still has all of its free attempts.
    assert [backoff.attempt(f"HW-{i}", "192.0.2.5").allowed for i in range(4)] == [
        True,
        True,
        True,
        False,
    ]


def test_pin_counters_start_over_after_the_window() -> None:
    clock = FakeClock()
    backoff = InProcessPinBackoff(POLICY, clock=clock)
    for _ in range(3):
        backoff.attempt("HW-W", "192.0.2.5")
    assert not backoff.attempt("HW-W", "192.0.2.5").allowed
    clock.advance(POLICY.window + 1)
    assert all(backoff.attempt("HW-W", "192.0.2.5").allowed for _ in range(3))


def test_parallel_pin_attempts_are_counted_before_they_run() -> None:
    backoff = InProcessPinBackoff(POLICY, clock=FakeClock())
    results: list[bool] = []
    barrier = threading.Barrier(16)

    def guess() -> None:
        barrier.wait()
        results.append(backoff.attempt("HW-P", "203.0.113.9").allowed)

    threads = [threading.Thread(target=guess) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == POLICY.free_attempts


def test_redis_pin_backoff_is_shared_and_never_locks_out_the_owner(
    redis_target: RedisTarget,
) -> None:
    policy = BackoffPolicy(free_attempts=2, client_free_attempts=100, base=0.2, max=1.0)
    one = RedisPinBackoff(redis_target.url, policy, prefix=redis_target.prefix, secret=b"s")
    two = RedisPinBackoff(redis_target.url, policy, prefix=redis_target.prefix, secret=b"s")
    assert one.attempt("HW-R", "203.0.113.9").allowed
    assert two.attempt("HW-R", "203.0.113.9").allowed
    denied = one.attempt("HW-R", "203.0.113.9")
    assert not denied.allowed
    assert 0 < denied.retry_after <= 0.2
    assert two.attempt("HW-R", "198.51.100.20").allowed  # the owner, elsewhere
    time.sleep(denied.retry_after + 0.02)
    assert two.attempt("HW-R", "203.0.113.9").allowed
    second = one.attempt("HW-R", "203.0.113.9")
    assert 0.2 < second.retry_after <= 0.4  # doubled
    keys = redis_keys(redis_target)
    assert not any("HW-R" in k or "203.0.113.9" in k for k in keys)


def test_redis_right_pin_resets_and_async_twins_agree(redis_target: RedisTarget) -> None:
    policy = BackoffPolicy(free_attempts=1, client_free_attempts=100, base=5.0, max=5.0)
    backoff = RedisPinBackoff(redis_target.url, policy, prefix=redis_target.prefix)

    async def main() -> list[bool]:
        first = await backoff.attempt_async("HW-S", "192.0.2.5")
        second = await backoff.attempt_async("HW-S", "192.0.2.5")
        await backoff.succeeded_async("HW-S", "192.0.2.5")
        third = await backoff.attempt_async("HW-S", "192.0.2.5")
        await backoff.aclose()
        return [first.allowed, second.allowed, third.allowed]

    assert asyncio.run(main()) == [True, False, True]
    assert not backoff.attempt("HW-S", "192.0.2.5").allowed
    backoff.succeeded("HW-S", "192.0.2.5")
    assert backoff.attempt("HW-S", "192.0.2.5").allowed


# --- the argon2 cap ---------------------------------------------------------------------------


def test_cap_runs_at_most_limit_calls_at_once() -> None:
    cap = ConcurrencyCap(limit=2, max_waiting=10)
    running = peak = 0
    lock = threading.Lock()

    def check() -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return 1

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(cap.run(check))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [1] * 6
    assert peak == 2
    assert cap.admitted == 0


def test_cap_refuses_at_once_beyond_its_waiting_room() -> None:
    cap = ConcurrencyCap(limit=1, max_waiting=1)
    release = threading.Event()
    holders = [threading.Thread(target=cap.run, args=(release.wait,)) for _ in range(2)]
    for t in holders:
        t.start()
    deadline = time.monotonic() + 5
    while cap.admitted < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(Overloaded) as caught:
        cap.run(lambda: None)
    assert caught.value.status == 503
    release.set()
    for t in holders:
        t.join()
    assert cap.run(lambda: 7) == 7


def test_cap_async_calls_share_the_slots_and_never_block_the_loop() -> None:
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

    async def main() -> tuple[list[int], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        tick_task = asyncio.create_task(ticker())
        results = await asyncio.gather(*(cap.run_async(check, i) for i in range(6)))
        tick_task.cancel()
        return list(results), ticks

    results, ticks = asyncio.run(main())
    assert results == [0, 2, 4, 6, 8, 10]
    assert peak == 2
    assert ticks >= 10  # the loop kept running while the checks ran
    assert cap.admitted == 0
    cap.close()
