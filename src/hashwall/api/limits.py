"""Rate limits, PIN-check backoff, and the fair cap on concurrent argon2 checks.

**Rate limits** (:class:`RateLimiter`) are GCRA, a token bucket kept as one timestamp per
subject: ``rate`` requests per second sustained, ``burst`` at once. Subjects are API keys and
client addresses (see :mod:`hashwall.api.clientaddr`). :class:`InProcessRateLimiter` serves one
process; :class:`RedisRateLimiter` (``HASHWALL_REDIS_URL``) is shared by every replica and is
atomic (one Lua script, Redis's own clock). A denied request gets ``retry_after`` seconds, for a
429 with ``Retry-After``.

**PIN backoff** (:class:`PinBackoff`) makes guessing a PIN infeasible, with waits and never a
hard lock. Attempts are counted per (case number, client address), per client address and per case
number (all addresses together); past a few free attempts, each counter makes the next attempt
wait ``base * 2**k`` seconds (at most ``pin_backoff_max``, ``pin_case_backoff_max`` for the case),
and a counter starts over after ``pin_backoff_window`` without attempts. The per-case counter is
what bounds a guesser with any number of addresses: one case's PIN is tried at most once per
``pin_case_backoff_max`` seconds once its free attempts are spent (``docs/security.md`` has the
arithmetic). An attempt is counted when it starts (so parallel guesses cannot slip past the
counter); when it ends, a right PIN gives its count back (and forgets the pair's misses), and an
attempt whose PIN was never verified (the cap overloaded, the request gone, text that is not a
PIN) is refunded in full, its wait included: only a verified wrong PIN counts. Unknown case
numbers are counted exactly like known ones: the counters say nothing about which cases exist.

**The argon2 cap** (:class:`ConcurrencyCap`) runs a few PIN checks at once and lets a bounded
number wait, served fairly by client address (the address that asked least lately goes first),
so that a flood of wrong PINs from many addresses delays a person checking their own case by a
few argon2 checks instead of refusing them.

Limiter keys never hold a raw address or case number: they are keyed BLAKE2b digests
(``Settings.limits_secret``, or a random key per process when it is unset and Redis is not
used). If Redis fails, the Redis backends fall back to per-process limits and log it, so an
outage neither opens the gates nor stops people from withdrawing.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import hashlib
import logging
import math
import os
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


#: The limiter subject of the anonymous channel's case creations, all addresses together.
ANONYMOUS_INTAKE = "intake:anonymous"


def anonymous_intake_rate(settings: Settings) -> Rate:
    """The budget of the whole anonymous channel for new cases (one process)."""
    return Rate(settings.anonymous_cases_per_second, settings.anonymous_cases_burst)


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
    """Free attempts per (case, client), per client and per case, then ``base * 2**k`` up to
    ``max`` (``case_max`` for the per-case counter); counters start over after ``window``."""

    free_attempts: int = 5
    client_free_attempts: int = 20
    case_free_attempts: int = 10
    base: float = 1.0
    max: float = 600.0
    case_max: float = 300.0
    window: float = 86_400.0

    @classmethod
    def from_settings(cls, settings: Settings) -> BackoffPolicy:
        """The policy configured in ``settings``."""
        return cls(
            free_attempts=settings.pin_free_attempts,
            client_free_attempts=settings.pin_client_free_attempts,
            case_free_attempts=settings.pin_case_free_attempts,
            base=settings.pin_backoff_base,
            max=settings.pin_backoff_max,
            case_max=settings.pin_case_backoff_max,
            window=settings.pin_backoff_window,
        )

    def delay(self, attempts: int, free: int, longest: float | None = None) -> float:
        """Seconds to wait after the ``attempts``-th attempt (0 while attempts are free)."""
        if attempts < free:
            return 0.0
        return min(
            self.max if longest is None else longest, self.base * 2.0 ** min(attempts - free, 62)
        )

    def limits(self) -> tuple[tuple[int, float], tuple[int, float], tuple[int, float]]:
        """(free attempts, longest delay) of the pair, client and case counters, in that order."""
        return (
            (self.free_attempts, self.max),
            (self.client_free_attempts, self.max),
            (self.case_free_attempts, self.case_max),
        )


class PinBackoff(Protocol):
    """Slows PIN guessing per (case, client), per client and per case; never a hard lock.

    Every attempt is counted when it starts (:meth:`attempt`); when it ends, the caller says
    what became of it: the PIN was right (:meth:`succeeded`), the PIN was never verified
    (:meth:`refund`: overloaded, cancelled, not a PIN, failed before argon2), or nothing (a
    wrong PIN stays counted).
    """

    def attempt(self, case_number: str, client: str) -> Decision:
        """Count a PIN attempt if it may go ahead now; else say when it may."""
        ...

    def succeeded(self, case_number: str, client: str) -> None:
        """The PIN was right: forget this pair's attempts; give the client's and case's back."""
        ...

    def refund(self, case_number: str, client: str) -> None:
        """The attempt was not evaluated: give it back to all three counters."""
        ...

    async def attempt_async(self, case_number: str, client: str) -> Decision:
        """:meth:`attempt` for asyncio."""
        ...

    async def succeeded_async(self, case_number: str, client: str) -> None:
        """:meth:`succeeded` for asyncio."""
        ...

    async def refund_async(self, case_number: str, client: str) -> None:
        """:meth:`refund` for asyncio."""
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

    def _keys(self, case_number: str, client: str) -> tuple[str, str, str]:
        return (
            self._key("pin", case_number, client),
            self._key("pin-client", client),
            self._key("pin-case", case_number),
        )

    def attempt(self, case_number: str, client: str) -> Decision:
        """Count a PIN attempt if it may go ahead now; else say when it may."""
        keys = self._keys(case_number, client)
        policy = self.policy
        with self._lock:
            now = self._clock()
            self._sweep(now)
            counters = [self._counters.get(k) or _Counter() for k in keys]
            for counter in counters:
                if now - counter.last > policy.window:
                    counter.attempts, counter.next_allowed = 0, 0.0
            wait = max(c.next_allowed for c in counters) - now
            if wait > 0:
                return Decision(False, wait)
            for key, counter, (free, longest) in zip(keys, counters, policy.limits(), strict=True):
                counter.attempts += 1
                counter.last = now
                counter.next_allowed = now + policy.delay(counter.attempts, free, longest)
                self._counters[key] = counter
            return Decision(True)

    def _give_back(self, key: str, free: int, longest: float) -> None:
        counter = self._counters.get(key)
        if counter is not None and counter.attempts > 0:
            counter.attempts -= 1
            counter.next_allowed = counter.last + self.policy.delay(counter.attempts, free, longest)

    def succeeded(self, case_number: str, client: str) -> None:
        """The PIN was right: forget this pair's attempts; give the client's and case's back."""
        pair_key, client_key, case_key = self._keys(case_number, client)
        (_, _), (client_free, client_max), (case_free, case_max) = self.policy.limits()
        with self._lock:
            self._counters.pop(pair_key, None)
            self._give_back(client_key, client_free, client_max)
            self._give_back(case_key, case_free, case_max)

    def refund(self, case_number: str, client: str) -> None:
        """The attempt was not evaluated: give it back to all three counters."""
        with self._lock:
            for key, (free, longest) in zip(
                self._keys(case_number, client), self.policy.limits(), strict=True
            ):
                self._give_back(key, free, longest)

    async def attempt_async(self, case_number: str, client: str) -> Decision:
        """:meth:`attempt` (it never blocks on I/O)."""
        return self.attempt(case_number, client)

    async def succeeded_async(self, case_number: str, client: str) -> None:
        """:meth:`succeeded` (it never blocks on I/O)."""
        self.succeeded(case_number, client)

    async def refund_async(self, case_number: str, client: str) -> None:
        """:meth:`refund` (it never blocks on I/O)."""
        self.refund(case_number, client)

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


# KEYS: pair, client, case. ARGV: base, window, then (free, max) of pair, client, case.
_PIN_ATTEMPT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local base, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local counts, wait = {}, 0
for i = 1, 3 do
  local v = redis.call('HMGET', KEYS[i], 'n', 'next')
  counts[i] = tonumber(v[1]) or 0
  wait = math.max(wait, (tonumber(v[2]) or 0) - now)
end
if wait > 0 then return {0, wait} end
for i = 1, 3 do
  local n, free, max = counts[i] + 1, tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local delay = 0
  if n >= free then delay = math.min(max, base * 2 ^ math.min(n - free, 62)) end
  redis.call('HSET', KEYS[i], 'n', n, 'next', string.format('%.0f', now + delay),
             'last', string.format('%.0f', now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((window + delay) / 1000))
end
return {1, 0}
"""

# KEYS: pair, client, case. ARGV: base, 1 to forget the pair (a right PIN) or 0 (not evaluated),
# then (free, max) of pair, client, case. A counter given back waits as after its previous count.
_PIN_GIVE_BACK_LUA = """
local base = tonumber(ARGV[1])
local first = 1
if ARGV[2] == '1' then
  redis.call('DEL', KEYS[1])
  first = 2
end
for i = first, 3 do
  local v = redis.call('HMGET', KEYS[i], 'n', 'last')
  local n = tonumber(v[1]) or 0
  if n > 0 then
    n = n - 1
    local free, max = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
    local delay = 0
    if n >= free then delay = math.min(max, base * 2 ^ math.min(n - free, 62)) end
    redis.call('HSET', KEYS[i], 'n', n,
               'next', string.format('%.0f', (tonumber(v[2]) or 0) + delay))
  end
end
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
        self._give_back = self._redis.client.register_script(_PIN_GIVE_BACK_LUA)
        self._async_scripts: tuple[Any, Any] | None = None
        self._fallback = fallback or InProcessPinBackoff(self.policy, secret=secret)

    def _keys(self, case_number: str, client: str) -> list[str]:
        return [
            self._key("pin", case_number, client),
            self._key("pin-client", client),
            self._key("pin-case", case_number),
        ]

    def _limits(self) -> list[int]:
        return [x for free, longest in self.policy.limits() for x in (free, round(longest * _US))]

    def _attempt_args(self) -> list[int]:
        return [round(self.policy.base * _US), round(self.policy.window * _US), *self._limits()]

    def _give_back_args(self, *, right: bool) -> list[int]:
        return [round(self.policy.base * _US), int(right), *self._limits()]

    def _scripts_async(self) -> tuple[Any, Any]:
        if self._async_scripts is None:
            client = self._redis.async_client
            self._async_scripts = (
                client.register_script(_PIN_ATTEMPT_LUA),
                client.register_script(_PIN_GIVE_BACK_LUA),
            )
        return self._async_scripts

    @staticmethod
    def _decision(reply: Any) -> Decision:
        allowed, wait_us = (int(x) for x in reply)
        return Decision(bool(allowed), wait_us / _US)

    def attempt(self, case_number: str, client: str) -> Decision:
        """Count a PIN attempt if it may go ahead now; else say when it may."""
        try:
            reply = self._attempt(keys=self._keys(case_number, client), args=self._attempt_args())
        except redis.RedisError as exc:
            self._redis.warn(exc)
            return self._fallback.attempt(case_number, client)
        return self._decision(reply)

    def _settle(self, case_number: str, client: str, *, right: bool) -> None:
        try:
            self._give_back(
                keys=self._keys(case_number, client), args=self._give_back_args(right=right)
            )
        except redis.RedisError as exc:
            self._redis.warn(exc)
            if right:
                self._fallback.succeeded(case_number, client)
            else:
                self._fallback.refund(case_number, client)

    async def _settle_async(self, case_number: str, client: str, *, right: bool) -> None:
        try:
            _, script = self._scripts_async()
            await script(
                keys=self._keys(case_number, client), args=self._give_back_args(right=right)
            )
        except redis.RedisError as exc:
            self._redis.warn(exc)
            if right:
                self._fallback.succeeded(case_number, client)
            else:
                self._fallback.refund(case_number, client)

    def succeeded(self, case_number: str, client: str) -> None:
        """The PIN was right: forget this pair's attempts; give the client's and case's back."""
        self._settle(case_number, client, right=True)

    def refund(self, case_number: str, client: str) -> None:
        """The attempt was not evaluated: give it back to all three counters."""
        self._settle(case_number, client, right=False)

    async def attempt_async(self, case_number: str, client: str) -> Decision:
        """:meth:`attempt` over the asyncio client."""
        try:
            script, _ = self._scripts_async()
            reply = await script(keys=self._keys(case_number, client), args=self._attempt_args())
        except redis.RedisError as exc:
            self._redis.warn(exc)
            return self._fallback.attempt(case_number, client)
        return self._decision(reply)

    async def succeeded_async(self, case_number: str, client: str) -> None:
        """:meth:`succeeded` over the asyncio client."""
        await self._settle_async(case_number, client, right=True)

    async def refund_async(self, case_number: str, client: str) -> None:
        """:meth:`refund` over the asyncio client."""
        await self._settle_async(case_number, client, right=False)

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

#: Half-life (s) of an address's demand for PIN checks: what it asked a minute ago counts half.
DEMAND_HALF_LIFE = 60.0
_GRANTED, _WAITING, _REFUSED = "granted", "waiting", "refused"


@dataclass(slots=True, eq=False)
class _Waiter:
    flow: str
    seq: int
    wake: Callable[[str], None]  # called with _GRANTED or _REFUSED, from any thread
    state: str = _WAITING


#: How much nicer than the rest of the process argon2 work runs (Linux thread priority).
ARGON2_NICENESS = 10


def _yield_the_cpu() -> None:
    """Make this thread (one of a cap's argon2 threads) give way to the rest of the process:
    on a core shared with the event loop, a check then waits for an argon2 hash a few percent
    of the time instead of half of it. Where threads have no priority of their own, nothing."""
    with contextlib.suppress(AttributeError, OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + ARGON2_NICENESS)


class ConcurrencyCap:
    """At most ``limit`` calls run at once (argon2 PIN checks); ``max_waiting`` more may wait.

    Waiting is fair between *flows* (client addresses): the next slot goes to the waiting call
    whose flow asked least lately (a count of its calls that halves every
    :data:`DEMAND_HALF_LIFE` seconds), oldest first among equals. When the waiting room is full,
    a newcomer takes the place of the waiting call whose flow asked most, if that flow asked
    more than the newcomer's; whichever loses is refused at once with :class:`Overloaded` (503)
    and ran nothing. So a flood from many addresses delays, and cannot refuse, a person who
    asks once: their call waits at most for the calls already running and for waiting calls of
    addresses that asked as little as they did.

    :meth:`run` (this thread) and :meth:`run_async` (this cap's threads) are one flow ``""``;
    :meth:`run_fair_async` names its flow. All share the same slots.
    """

    def __init__(
        self,
        limit: int,
        max_waiting: int = 0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or max_waiting < 0:
            raise ValueError("a concurrency cap needs limit >= 1 and max_waiting >= 0")
        self._limit = limit
        self._max_waiting = max_waiting
        self._clock = clock
        self._lock = threading.Lock()
        self._running = 0
        self._waiters: list[_Waiter] = []
        self._demand: dict[str, tuple[float, float]] = {}  # flow -> (demand, as of when)
        self._seq = 0
        self._threads = ThreadPoolExecutor(
            max_workers=limit, thread_name_prefix="hashwall-cap", initializer=_yield_the_cpu
        )

    @classmethod
    def for_pin_checks(cls, settings: Settings) -> ConcurrencyCap:
        """The cap on argon2 PIN checks configured in ``settings``."""
        return cls(settings.pin_check_concurrency, settings.pin_check_max_waiting)

    @property
    def admitted(self) -> int:
        """Calls running or waiting now."""
        with self._lock:
            return self._running + len(self._waiters)

    @property
    def waiting(self) -> int:
        """Calls waiting for a slot now."""
        with self._lock:
            return len(self._waiters)

    def waiting_for(self, flow: str) -> int:
        """Calls of ``flow`` waiting for a slot now."""
        with self._lock:
            return sum(1 for w in self._waiters if w.flow == flow)

    # -- the waiting room (_demand_of, _asked, _rank and _enter: with the lock held) -------

    def _demand_of(self, flow: str, now: float) -> float:
        value, since = self._demand.get(flow, (0.0, now))
        return value * math.exp2(-(now - since) / DEMAND_HALF_LIFE)

    def _asked(self, flow: str, now: float) -> None:
        self._demand[flow] = (self._demand_of(flow, now) + 1.0, now)
        if self._seq % _CLEANUP_EVERY == 0:
            waiting = {w.flow for w in self._waiters}
            self._demand = {
                f: d
                for f, d in self._demand.items()
                if f in waiting or self._demand_of(f, now) >= 0.01
            }

    def _rank(self, waiter: _Waiter, now: float) -> tuple[float, int]:
        return (self._demand_of(waiter.flow, now), waiter.seq)

    def _enter(self, flow: str, wake: Callable[[str], None]) -> tuple[_Waiter, _Waiter | None]:
        """Admit a call: granted a slot, or waiting; and the waiter it displaced, if any."""
        now = self._clock()
        self._seq += 1
        self._asked(flow, now)
        waiter = _Waiter(flow, self._seq, wake)
        if self._running < self._limit:
            self._running += 1
            waiter.state = _GRANTED
            return waiter, None
        if len(self._waiters) < self._max_waiting:
            self._waiters.append(waiter)
            return waiter, None
        if self._waiters:
            worst = max(self._waiters, key=lambda w: self._rank(w, now))
            if self._rank(waiter, now) < self._rank(worst, now):
                self._waiters.remove(worst)
                worst.state = _REFUSED
                self._waiters.append(waiter)
                return waiter, worst
        waiter.state = _REFUSED
        return waiter, None

    def _leave(self, *_: object) -> None:
        """A call ended: hand its slot to the best waiting call, or free it."""
        with self._lock:
            if not self._waiters:
                self._running -= 1
                return
            now = self._clock()
            best = min(self._waiters, key=lambda w: self._rank(w, now))
            self._waiters.remove(best)
            best.state = _GRANTED
        best.wake(_GRANTED)

    def _withdraw(self, waiter: _Waiter) -> bool:
        """Take a waiting call out of the room (its caller gave up); False if it got a slot."""
        with self._lock:
            if waiter.state == _WAITING:
                self._waiters.remove(waiter)
                waiter.state = _REFUSED
                return True
            return waiter.state == _REFUSED

    @staticmethod
    def _overloaded() -> Overloaded:
        return Overloaded("too many PIN checks at once; retry in a moment", retry_after=1)

    # -- callers ---------------------------------------------------------------------------

    def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``fn`` in this thread once a slot is free."""
        woken = threading.Event()
        with self._lock:
            waiter, displaced = self._enter("", lambda _: woken.set())
        if displaced is not None:
            displaced.wake(_REFUSED)
        if waiter.state == _WAITING:
            woken.wait()
        if waiter.state != _GRANTED:
            raise self._overloaded()
        try:
            return fn(*args, **kwargs)
        finally:
            self._leave()

    async def run_async(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``fn`` on one of the cap's threads once a slot is free; the loop never blocks."""
        return await self.run_fair_async("", fn, *args, **kwargs)

    async def run_fair_async(
        self, flow: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """:meth:`run_async` for ``flow`` (a client address): slots are shared fairly by flow."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[str] = loop.create_future()

        def settle(state: str) -> None:
            if not woken.done():
                woken.set_result(state)

        def wake(state: str) -> None:
            try:
                loop.call_soon_threadsafe(settle, state)
            except RuntimeError:  # the loop is closed: nobody will use the slot
                if state == _GRANTED:
                    self._leave()

        with self._lock:
            waiter, displaced = self._enter(flow, wake)
        if displaced is not None:
            displaced.wake(_REFUSED)
        if waiter.state == _WAITING:
            try:
                await woken
            except asyncio.CancelledError:
                if not self._withdraw(waiter):
                    self._leave()  # a slot was handed over as the caller gave up
                raise
        if waiter.state != _GRANTED:
            raise self._overloaded()
        call = functools.partial(fn, *args, **kwargs)
        try:
            future = self._threads.submit(contextvars.copy_context().run, call)
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
