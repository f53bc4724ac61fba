"""Rate limits: GCRA, a token bucket kept as one timestamp per subject.

``rate`` requests per second sustained, ``burst`` at once. Subjects are API keys and client
addresses (see :mod:`hashwall.api.clientaddr`). :class:`InProcessRateLimiter` serves one
process; :class:`RedisRateLimiter` (``HASHWALL_REDIS_URL``) is shared by every replica and is
atomic (one Lua script, Redis's own clock). A denied request gets ``retry_after`` seconds, for a
429 with ``Retry-After``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import redis

from hashwall.api.defences.decision import Decision
from hashwall.api.defences.keys import CLEANUP_EVERY, Keyer, limiter_secret
from hashwall.api.defences.redis_link import US, RedisLink
from hashwall.settings import Settings


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


def key_rate(settings: Settings) -> Rate:
    """The rate limit of one API key."""
    return Rate(settings.rate_limit_key_per_second, settings.rate_limit_key_burst)


def client_rate(settings: Settings) -> Rate:
    """The rate limit of one client address."""
    return Rate(settings.rate_limit_client_per_second, settings.rate_limit_client_burst)


#: Nanoseconds in a second: the in-process limiter's unit.
NS: Final = 1_000_000_000

#: The limiter subject of the anonymous channel's case creations, all addresses together.
ANONYMOUS_INTAKE: Final = "intake:anonymous"


def anonymous_intake_rate(settings: Settings) -> Rate:
    """The budget of the whole anonymous channel for new cases (one process)."""
    return Rate(settings.anonymous_cases_per_second, settings.anonymous_cases_burst)


class RateLimiter(Protocol):
    """Counts requests per subject (an API key id, a client address) against a :class:`Rate`."""

    async def hit(self, subject: str, rate: Rate, cost: int = 1) -> Decision:
        """Count a request of ``cost`` (if allowed) and say whether it may go ahead."""
        ...

    async def aclose(self) -> None:
        """Release connections (call it from the event loop, at shutdown)."""
        ...


class InProcessRateLimiter:
    """GCRA in this process's memory; thread-safe; forgets subjects once they are idle."""

    def __init__(
        self, *, secret: bytes | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._key = Keyer(secret if secret is not None else secrets.token_bytes(32))
        self._clock = clock
        self._tat: dict[str, int] = {}  # subject -> theoretical arrival time (ns)
        self._lock = threading.Lock()
        self._calls = 0

    async def hit(self, subject: str, rate: Rate, cost: int = 1) -> Decision:
        """Count a request of ``cost`` (if allowed) and say whether it may go ahead (it never
        waits on I/O)."""
        key = self._key("rate", subject)
        # Whole nanoseconds, as the Redis script counts whole microseconds: in float seconds
        # (now + interval) - interval can come out a hair above now, which denied a first
        # request ("retry in 1 s") at some clock values.
        interval = max(1, round(rate.interval * NS))
        with self._lock:
            now = round(self._clock() * NS)
            self._calls += 1
            if self._calls % CLEANUP_EVERY == 0:
                self._tat = {k: t for k, t in self._tat.items() if t > now}
            tat = max(self._tat.get(key, now), now)
            new_tat = tat + interval * cost
            allow_at = new_tat - interval * rate.burst
            if allow_at > now:
                return Decision(False, (allow_at - now) / NS)
            self._tat[key] = new_tat
            return Decision(True, 0.0, (now - allow_at) // interval)

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
        self._redis = RedisLink(url)
        self._key = Keyer(secret, prefix)
        self._fallback = fallback or InProcessRateLimiter(secret=secret)

    @staticmethod
    def _decision(reply: Any) -> Decision:
        allowed, wait_us, remaining = (int(x) for x in reply)
        return Decision(bool(allowed), wait_us / US, remaining)

    async def hit(self, subject: str, rate: Rate, cost: int = 1) -> Decision:
        """Count a request of ``cost`` (if allowed) and say whether it may go ahead."""
        args = [max(1, round(rate.interval * US)), rate.burst, cost]
        try:
            script = self._redis.script(_GCRA_LUA)
            reply = await script(keys=[self._key("rate", subject)], args=args)
        except redis.RedisError as exc:
            self._redis.warn(exc)
            return await self._fallback.hit(subject, rate, cost)
        return self._decision(reply)

    async def aclose(self) -> None:
        """Close the client (it must close on its own event loop)."""
        await self._redis.aclose()


def rate_limiter(settings: Settings) -> RateLimiter:
    """The configured rate limiter: Redis when ``redis_url`` is set, else in process."""
    if settings.redis_url:
        return RedisRateLimiter(
            settings.redis_url,
            prefix=settings.redis_prefix,
            secret=limiter_secret(settings, shared=True),
        )
    return InProcessRateLimiter(secret=limiter_secret(settings, shared=False))
