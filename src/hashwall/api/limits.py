"""Rate limits, PIN-check backoff, and the cap on concurrent argon2 checks.

**Rate limits** (:class:`RateLimiter`) are GCRA, a token bucket kept as one timestamp per
subject: ``rate`` requests per second sustained, ``burst`` at once. Subjects are API keys and
client addresses (see :mod:`hashwall.api.clientaddr`). :class:`InProcessRateLimiter` serves one
process; :class:`RedisRateLimiter` (``HASHWALL_REDIS_URL``) is shared by every replica and is
atomic (one Lua script, Redis's own clock). A denied request gets ``retry_after`` seconds, for a
429 with ``Retry-After``.

**PIN backoff** (:class:`PinBackoff`) slows guessing without ever locking a case. Attempts are
counted per (case number, client address) and per client address; past a few free attempts,
each counter makes the next attempt wait ``base * 2**k`` seconds (at most ``pin_backoff_max``),
and a counter starts over after ``pin_backoff_window`` without attempts. There is no per-case
counter and no lock: a stranger hammering a case number from their address slows only
themselves (their own (case, address) pair and their own address), never the person who owns
the case and withdraws from another address. A guesser spread over many addresses still pays
argon2 per guess (:class:`ConcurrencyCap`) and faces PINs too many to enumerate. Every attempt is
counted when it starts (so parallel guesses cannot slip past the counter) and a correct PIN
gives its count back. Unknown case numbers are counted exactly like known ones: the counters
say nothing about which cases exist.

Limiter keys never hold a raw address or case number: they are keyed BLAKE2b digests
(``Settings.limits_secret``, or a random key per process when it is unset and Redis is not
used). If Redis fails, the Redis backends fall back to per-process limits and log it, so an
outage neither opens the gates nor stops people from withdrawing.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

import redis
import redis.asyncio

from hashwall.errors import Overloaded, RateLimited
from hashwall.settings import Settings

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_US = 1_000_000  # Redis scripts work in integer microseconds
_CLEANUP_EVERY = 1024  # in-process backends sweep expired subjects every this many calls


@dataclass(frozen=True, slots=True)
class Rate:
    """``per_second`` requests sustained, ``burst`` of them at once."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("a rate needs per_second > 0 and burst >= 1")

    @property
    def interval(self) -> float:
        """Seconds one request costs."""
        return 1.0 / self.per_second


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may go ahead; if not, after how many seconds it may."""

    allowed: bool
    retry_after: float = 0.0
    remaining: int = 0

    def raise_if_denied(self, what: str) -> None:
        """Raise :class:`RateLimited` (429, ``Retry-After``) when the request is denied."""
        if not self.allowed:
            wait = max(1, math.ceil(self.retry_after))
            raise RateLimited(f"too many {what}; retry in {wait} s", retry_after=wait)


def key_rate(settings: Settings) -> Rate:
    """The rate limit of one API key."""
    return Rate(settings.rate_limit_key_per_second, settings.rate_limit_key_burst)


def client_rate(settings: Settings) -> Rate:
    """The rate limit of one client address."""
    return Rate(settings.rate_limit_client_per_second, settings.rate_limit_client_burst)


class _Keyer:
    """Turns subjects into opaque limiter keys (no raw address or case number is kept)."""

    def __init__(self, secret: bytes, prefix: str = "") -> None:
        self._secret = secret[:64]
        self._prefix = prefix

    def __call__(self, kind: str, *parts: str) -> str:
        digest = hashlib.blake2b(
            "\x00".join((kind, *parts)).encode(), key=self._secret, digest_size=16
        ).hexdigest()
        return f"{self._prefix}{kind}:{digest}"


def _secret(settings: Settings, *, shared: bool) -> bytes:
    if settings.limits_secret is not None:
        return settings.limits_secret.get_secret_value().encode()
    # Replicas sharing Redis need one key; without a configured secret it is an unkeyed hash.
    return b"" if shared else secrets.token_bytes(32)


# --- rate limits ------------------------------------------------------------------------------


class RateLimiter(Protocol):
    """Counts requests per subject (an API key id, a client address) against a :class:`Rate`."""

    def hit(self, subject: str, rate: Rate, cost: int = 1) -> Decision:
        """Count a request of ``cost`` (if allowed) and say whether it may go ahead."""
        ...

    async def hit_async(self, subject: str, rate: Rate, cost: int = 1) -> Decision:
        """:meth:`hit` for asyncio."""
        ...

    def close(self) -> None:
        """Release connections (sync)."""
        ...

    async def aclose(self) -> None:
        """Release connections, async ones too (call it from the event loop, at shutdown)."""
        ...


class InProcessRateLimiter:
    """GCRA in this process's memory; thread-safe; forgets subjects once they are idle."""

    def __init__(
        self, *, secret: bytes | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._key = _Keyer(secret if secret is not None else secrets.token_bytes(32))
        self._clock = clock
        self._tat: dict[str, float] = {}  # subject -> theoretical arrival time
        self._lock = threading.Lock()
        self._calls = 0

    def hit(self, subject: str, rate: Rate, cost: int = 1) -> Decision:
        """Count a request of ``cost`` (if allowed) and say whether it may go ahead."""
        key = self._key("rate", subject)
        with self._lock:
            now = self._clock()
            self._calls += 1
            if self._calls % _CLEANUP_EVERY == 0:
                self._tat = {k: t for k, t in self._tat.items() if t > now}
            tat = max(self._tat.get(key, now), now)
            new_tat = tat + rate.interval * cost
            allow_at = new_tat - rate.interval * rate.burst
            if allow_at > now:
                return Decision(False, allow_at - now)
            self._tat[key] = new_tat
            # The epsilon absorbs float rounding of large clock values (3.9999999 is 4 tokens).
            return Decision(True, 0.0, int((now - allow_at) / rate.interval + 1e-6))

    async def hit_async(self, subject: str, rate: Rate, cost: int = 1) -> Decision:
        """:meth:`hit` (it never blocks on I/O)."""
        return self.hit(subject, rate, cost)

    def close(self) -> None:
        """Nothing to release."""

    async def aclose(self) -> None:
        """Nothing to release."""

    def __len__(self) -> int:
        with self._lock:
            return len(self._tat)


_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - interval * burst
if allow_at > now then
  return {0, allow_at - now, 0}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
           math.max(1, math.ceil((new_tat - now) / 1000)))
return {1, 0, math.floor((now - allow_at) / interval)}
"""


class _RedisBackend:
    """A sync and an async client on one URL, and the fallback used while Redis is down."""

    def __init__(self, url: str) -> None:
        self.client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        self._url = url
        self._async: redis.asyncio.Redis | None = None
        self._last_warning = 0.0

    @property
    def async_client(self) -> redis.asyncio.Redis:
        # Created on first use: it belongs to the event loop that first uses it.
        if self._async is None:
            self._async = redis.asyncio.Redis.from_url(
                self._url, socket_timeout=1.0, socket_connect_timeout=1.0
            )
        return self._async

    def warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning > 60:
            self._last_warning = now
            log.warning("Redis unavailable (%s); limits are per process until it is back", exc)

    def close(self) -> None:
        self.client.close()

    async def aclose(self) -> None:
        if self._async is not None:
            client, self._async = self._async, None
            await client.aclose()


class RedisRateLimiter:
    """GCRA in Redis, shared by every replica; one atomic script per request."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "hashwall:",
        secret: bytes = b"",
        fallback: InProcessRateLimiter | None = None,
    ) -> None:
        self._redis = _RedisBackend(url)
        self._key = _Keyer(secret, prefix)
        self._script = self._redis.client.register_script(_GCRA_LUA)
        self._async_script: Any = None
        self._fallback = fallback or InProcessRateLimiter(secret=secret)

    def _args(self, rate: Rate, cost: int) -> list[int]:
        return [max(1, round(rate.interval * _US)), rate.burst, cost]

    @staticmethod
    def _decision(reply: Any) -> Decision:
        allowed, wait_us, remaining = (int(x) for x in reply)
        return Decision(bool(allowed), wait_us / _US, remaining)

    def hit(self, subject: str, rate: Rate, cost: int = 1) -> Decision:
        """Count a request of ``cost`` (if allowed) and say whether it may go ahead."""
        try:
            reply = self._script(keys=[self._key("rate", subject)], args=self._args(rate, cost))
        except redis.RedisError as exc:
            self._redis.warn(exc)
            return self._fallback.hit(subject, rate, cost)
        return self._decision(reply)

    async def hit_async(self, subject: str, rate: Rate, cost: int = 1) -> Decision:
        """:meth:`hit` over the asyncio client."""
        try:
            if self._async_script is None:
                self._async_script = self._redis.async_client.register_script(_GCRA_LUA)
            reply = await self._async_script(
                keys=[self._key("rate", subject)], args=self._args(rate, cost)
            )
        except redis.RedisError as exc:
            self._redis.warn(exc)
            return self._fallback.hit(subject, rate, cost)
        return self._decision(reply)

    def close(self) -> None:
        """Close the sync client."""
        self._redis.close()

    async def aclose(self) -> None:
        """Close both clients (the async one must close on its own event loop)."""
        self._async_script = None
        await self._redis.aclose()
        self._redis.close()


# --- PIN backoff ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Free attempts per (case, client) and per client, then ``base * 2**k`` up to ``max``."""

    free_attempts: int = 5
    client_free_attempts: int = 20
    base: float = 1.0
    max: float = 600.0
    window: float = 86_400.0

    @classmethod
    def from_settings(cls, settings: Settings) -> BackoffPolicy:
        """The policy configured in ``settings``."""
        return cls(
            free_attempts=settings.pin_free_attempts,
            client_free_attempts=settings.pin_client_free_attempts,
            base=settings.pin_backoff_base,
            max=settings.pin_backoff_max,
            window=settings.pin_backoff_window,
        )

    def delay(self, attempts: int, free: int) -> float:
        """Seconds to wait after the ``attempts``-th attempt (0 while attempts are free)."""
        if attempts < free:
            return 0.0
        return min(self.max, self.base * 2.0 ** min(attempts - free, 62))


class PinBackoff(Protocol):
    """Slows PIN guessing per (case, client) and per client; never locks a case."""

    def attempt(self, case_number: str, client: str) -> Decision:
        """Count a PIN attempt if it may go ahead now; else say when it may."""
        ...

    def succeeded(self, case_number: str, client: str) -> None:
        """The PIN was right: forget this pair's attempts and give the client's back."""
        ...

    async def attempt_async(self, case_number: str, client: str) -> Decision:
        """:meth:`attempt` for asyncio."""
        ...

    async def succeeded_async(self, case_number: str, client: str) -> None:
        """:meth:`succeeded` for asyncio."""
        ...

    def close(self) -> None:
        """Release connections (sync)."""
        ...

    async def aclose(self) -> None:
        """Release connections, async ones too (call it from the event loop, at shutdown)."""
        ...


@dataclass(slots=True)
class _Counter:
    attempts: int = 0
    next_allowed: float = 0.0
    last: float = 0.0


class InProcessPinBackoff:
    """PIN backoff in this process's memory; thread-safe; forgets counters after the window."""

    def __init__(
        self,
        policy: BackoffPolicy | None = None,
        *,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or BackoffPolicy()
        self._key = _Keyer(secret if secret is not None else secrets.token_bytes(32))
        self._clock = clock
        self._counters: dict[str, _Counter] = {}
        self._lock = threading.Lock()
        self._calls = 0

    def _keys(self, case_number: str, client: str) -> tuple[str, str]:
        return self._key("pin", case_number, client), self._key("pin-client", client)

    def attempt(self, case_number: str, client: str) -> Decision:
        """Count a PIN attempt if it may go ahead now; else say when it may."""
        pair_key, client_key = self._keys(case_number, client)
        policy = self.policy
        with self._lock:
            now = self._clock()
            self._sweep(now)
            pair = self._counters.get(pair_key) or _Counter()
            per_client = self._counters.get(client_key) or _Counter()
            for counter in (pair, per_client):
                if now - counter.last > policy.window:
                    counter.attempts, counter.next_allowed = 0, 0.0
            wait = max(pair.next_allowed, per_client.next_allowed) - now
            if wait > 0:
                return Decision(False, wait)
            for counter, free in (
                (pair, policy.free_attempts),
                (per_client, policy.client_free_attempts),
            ):
                counter.attempts += 1
                counter.last = now
                counter.next_allowed = now + policy.delay(counter.attempts, free)
            self._counters[pair_key] = pair
            self._counters[client_key] = per_client
            return Decision(True)

    def succeeded(self, case_number: str, client: str) -> None:
        """The PIN was right: forget this pair's attempts and give the client's back."""
        pair_key, client_key = self._keys(case_number, client)
        with self._lock:
            self._counters.pop(pair_key, None)
            per_client = self._counters.get(client_key)
            if per_client is not None and per_client.attempts > 0:
                per_client.attempts -= 1

    async def attempt_async(self, case_number: str, client: str) -> Decision:
        """:meth:`attempt` (it never blocks on I/O)."""
        return self.attempt(case_number, client)

    async def succeeded_async(self, case_number: str, client: str) -> None:
        """:meth:`succeeded` (it never blocks on I/O)."""
        self.succeeded(case_number, client)

    def _sweep(self, now: float) -> None:
        self._calls += 1
        if self._calls % _CLEANUP_EVERY == 0:
            horizon = self.policy.window
            self._counters = {
                k: c
                for k, c in self._counters.items()
                if now - c.last <= horizon or c.next_allowed > now
            }

    def close(self) -> None:
        """Nothing to release."""

    async def aclose(self) -> None:
        """Nothing to release."""

    def __len__(self) -> int:
        with self._lock:
            return len(self._counters)


_PIN_ATTEMPT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local base, max, window = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local function load(key)
  local v = redis.call('HMGET', key, 'n', 'next')
  return tonumber(v[1]) or 0, tonumber(v[2]) or 0
end
local n1, next1 = load(KEYS[1])
local n2, next2 = load(KEYS[2])
local wait = math.max(next1, next2) - now
if wait > 0 then return {0, wait} end
local function store(key, n, free)
  local delay = 0
  if n >= free then delay = math.min(max, base * 2 ^ math.min(n - free, 62)) end
  redis.call('HSET', key, 'n', n, 'next', string.format('%.0f', now + delay))
  redis.call('PEXPIRE', key, math.ceil((window + delay) / 1000))
end
store(KEYS[1], n1 + 1, tonumber(ARGV[1]))
store(KEYS[2], n2 + 1, tonumber(ARGV[2]))
return {1, 0}
"""

_PIN_SUCCEEDED_LUA = """
redis.call('DEL', KEYS[1])
local n = tonumber(redis.call('HGET', KEYS[2], 'n') or 0)
if n > 0 then redis.call('HSET', KEYS[2], 'n', n - 1) end
return 1
"""


class RedisPinBackoff:
    """PIN backoff in Redis, shared by every replica; each call is one atomic script."""

    def __init__(
        self,
        url: str,
        policy: BackoffPolicy | None = None,
        *,
        prefix: str = "hashwall:",
        secret: bytes = b"",
        fallback: InProcessPinBackoff | None = None,
    ) -> None:
        self.policy = policy or BackoffPolicy()
        self._redis = _RedisBackend(url)
        self._key = _Keyer(secret, prefix)
        self._attempt = self._redis.client.register_script(_PIN_ATTEMPT_LUA)
        self._succeeded = self._redis.client.register_script(_PIN_SUCCEEDED_LUA)
        self._async_scripts: tuple[Any, Any] | None = None
        self._fallback = fallback or InProcessPinBackoff(self.policy, secret=secret)

    def _keys(self, case_number: str, client: str) -> list[str]:
        return [self._key("pin", case_number, client), self._key("pin-client", client)]

    def _args(self) -> list[int]:
        p = self.policy
        return [
            p.free_attempts,
            p.client_free_attempts,
            round(p.base * _US),
            round(p.max * _US),
            round(p.window * _US),
        ]

    def _scripts_async(self) -> tuple[Any, Any]:
        if self._async_scripts is None:
            client = self._redis.async_client
            self._async_scripts = (
                client.register_script(_PIN_ATTEMPT_LUA),
                client.register_script(_PIN_SUCCEEDED_LUA),
            )
        return self._async_scripts

    @staticmethod
    def _decision(reply: Any) -> Decision:
        allowed, wait_us = (int(x) for x in reply)
        return Decision(bool(allowed), wait_us / _US)

    def attempt(self, case_number: str, client: str) -> Decision:
        """Count a PIN attempt if it may go ahead now; else say when it may."""
        try:
            reply = self._attempt(keys=self._keys(case_number, client), args=self._args())
        except redis.RedisError as exc:
            self._redis.warn(exc)
            return self._fallback.attempt(case_number, client)
        return self._decision(reply)

    def succeeded(self, case_number: str, client: str) -> None:
        """The PIN was right: forget this pair's attempts and give the client's back."""
        try:
            self._succeeded(keys=self._keys(case_number, client))
        except redis.RedisError as exc:
            self._redis.warn(exc)
            self._fallback.succeeded(case_number, client)

    async def attempt_async(self, case_number: str, client: str) -> Decision:
        """:meth:`attempt` over the asyncio client."""
        try:
            script, _ = self._scripts_async()
            reply = await script(keys=self._keys(case_number, client), args=self._args())
        except redis.RedisError as exc:
            self._redis.warn(exc)
            return self._fallback.attempt(case_number, client)
        return self._decision(reply)

    async def succeeded_async(self, case_number: str, client: str) -> None:
        """:meth:`succeeded` over the asyncio client."""
        try:
            _, script = self._scripts_async()
            await script(keys=self._keys(case_number, client))
        except redis.RedisError as exc:
            self._redis.warn(exc)
            self._fallback.succeeded(case_number, client)

    def close(self) -> None:
        """Close the sync client."""
        self._redis.close()

    async def aclose(self) -> None:
        """Close both clients (the async one must close on its own event loop)."""
        self._async_scripts = None
        await self._redis.aclose()
        self._redis.close()


# --- construction from settings ---------------------------------------------------------------


def rate_limiter(settings: Settings) -> RateLimiter:
    """The configured rate limiter: Redis when ``redis_url`` is set, else in process."""
    if settings.redis_url:
        return RedisRateLimiter(
            settings.redis_url,
            prefix=settings.redis_prefix,
            secret=_secret(settings, shared=True),
        )
    return InProcessRateLimiter(secret=_secret(settings, shared=False))


def pin_backoff(settings: Settings) -> PinBackoff:
    """The configured PIN backoff: Redis when ``redis_url`` is set, else in process."""
    policy = BackoffPolicy.from_settings(settings)
    if settings.redis_url:
        return RedisPinBackoff(
            settings.redis_url,
            policy,
            prefix=settings.redis_prefix,
            secret=_secret(settings, shared=True),
        )
    return InProcessPinBackoff(policy, secret=_secret(settings, shared=False))


# --- argon2 concurrency -----------------------------------------------------------------------


class ConcurrencyCap:
    """At most ``limit`` calls run at once (argon2 PIN checks); ``max_waiting`` more may queue,
    and any beyond are refused at once with :class:`Overloaded` (503) instead of piling up.

    Sync callers (:meth:`run`) and async callers (:meth:`run_async`, on this cap's own threads)
    share the same slots.
    """

    def __init__(self, limit: int, max_waiting: int = 0) -> None:
        if limit < 1 or max_waiting < 0:
            raise ValueError("a concurrency cap needs limit >= 1 and max_waiting >= 0")
        self._slots = threading.BoundedSemaphore(limit)
        self._capacity = limit + max_waiting
        self._admitted = 0
        self._lock = threading.Lock()
        self._threads = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="hashwall-cap")

    @classmethod
    def for_pin_checks(cls, settings: Settings) -> ConcurrencyCap:
        """The cap on argon2 PIN checks configured in ``settings``."""
        return cls(settings.pin_check_concurrency, settings.pin_check_max_waiting)

    @property
    def admitted(self) -> int:
        """Calls running or waiting now."""
        with self._lock:
            return self._admitted

    def _admit(self) -> None:
        with self._lock:
            if self._admitted >= self._capacity:
                raise Overloaded("too many PIN checks at once; retry in a moment", retry_after=1)
            self._admitted += 1

    def _leave(self, *_: object) -> None:
        with self._lock:
            self._admitted -= 1

    def _call(self, fn: Callable[[], T]) -> T:
        with self._slots:
            return fn()

    def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``fn`` in this thread once a slot is free."""
        self._admit()
        try:
            return self._call(functools.partial(fn, *args, **kwargs))
        finally:
            self._leave()

    async def run_async(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``fn`` on one of the cap's threads once a slot is free; the loop never blocks."""
        self._admit()
        try:
            future = self._threads.submit(self._call, functools.partial(fn, *args, **kwargs))
        except BaseException:
            self._leave()
            raise
        # Released when the call ends (or is cancelled before it starts), not when the awaiting
        # task is cancelled: a running argon2 check keeps its slot until it is done.
        future.add_done_callback(self._leave)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Stop the cap's threads (calls already running finish)."""
        self._threads.shutdown(wait=False, cancel_futures=True)
