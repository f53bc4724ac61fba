"""PIN backoff: waits that make guessing a PIN infeasible, and never a hard lock.

Attempts are counted per (case number, client address), per client address and per case
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
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import redis

from hashwall.api.defences.decision import Decision
from hashwall.api.defences.keys import CLEANUP_EVERY, Keyer, limiter_secret
from hashwall.api.defences.redis_link import US, RedisLink
from hashwall.settings import Settings


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

    Every attempt is counted when it starts (:meth:`attempt`); when it ends, the caller
    says what became of it: the PIN was right (:meth:`succeeded`), the PIN was never
    verified (:meth:`refund`: overloaded, cancelled, not a PIN, failed before argon2), or
    nothing (a wrong PIN stays counted).
    """

    async def attempt(self, case_number: str, client: str) -> Decision:
        """Count a PIN attempt if it may go ahead now; else say when it may."""
        ...

    async def succeeded(self, case_number: str, client: str) -> None:
        """The PIN was right: forget this pair's attempts; give the client's and case's back."""
        ...

    async def refund(self, case_number: str, client: str) -> None:
        """The attempt was not evaluated: give it back to all three counters."""
        ...

    async def aclose(self) -> None:
        """Release connections (call it from the event loop, at shutdown)."""
        ...


@dataclass(slots=True)
class _Counter:
    attempts: int = 0
    next_allowed: float = 0.0
    last: float = 0.0


class InProcessPinBackoff:
    """PIN backoff in this process's memory; thread-safe; forgets counters after the window.
    No call waits on I/O."""

    def __init__(
        self,
        policy: BackoffPolicy | None = None,
        *,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or BackoffPolicy()
        self._key = Keyer(secret if secret is not None else secrets.token_bytes(32))
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

    async def attempt(self, case_number: str, client: str) -> Decision:
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

    async def succeeded(self, case_number: str, client: str) -> None:
        """The PIN was right: forget this pair's attempts; give the client's and case's back."""
        pair_key, client_key, case_key = self._keys(case_number, client)
        (_, _), (client_free, client_max), (case_free, case_max) = self.policy.limits()
        with self._lock:
            self._counters.pop(pair_key, None)
            self._give_back(client_key, client_free, client_max)
            self._give_back(case_key, case_free, case_max)

    async def refund(self, case_number: str, client: str) -> None:
        """The attempt was not evaluated: give it back to all three counters."""
        with self._lock:
            for key, (free, longest) in zip(
                self._keys(case_number, client), self.policy.limits(), strict=True
            ):
                self._give_back(key, free, longest)

    def _sweep(self, now: float) -> None:
        self._calls += 1
        if self._calls % CLEANUP_EVERY == 0:
            horizon = self.policy.window
            self._counters = {
                k: c
                for k, c in self._counters.items()
                if now - c.last <= horizon or c.next_allowed > now
            }

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
        self._redis = RedisLink(url)
        self._key = Keyer(secret, prefix)
        self._fallback = fallback or InProcessPinBackoff(self.policy, secret=secret)

    def _keys(self, case_number: str, client: str) -> list[str]:
        return [
            self._key("pin", case_number, client),
            self._key("pin-client", client),
            self._key("pin-case", case_number),
        ]

    def _limits(self) -> list[int]:
        return [x for free, longest in self.policy.limits() for x in (free, round(longest * US))]

    async def attempt(self, case_number: str, client: str) -> Decision:
        """Count a PIN attempt if it may go ahead now; else say when it may."""
        args = [round(self.policy.base * US), round(self.policy.window * US), *self._limits()]
        try:
            script = self._redis.script(_PIN_ATTEMPT_LUA)
            reply: Any = await script(keys=self._keys(case_number, client), args=args)
        except redis.RedisError as exc:
            self._redis.warn(exc)
            return await self._fallback.attempt(case_number, client)
        allowed, wait_us = (int(x) for x in reply)
        return Decision(bool(allowed), wait_us / US)

    async def _give_back(self, case_number: str, client: str, *, right: bool) -> None:
        args = [round(self.policy.base * US), int(right), *self._limits()]
        try:
            script = self._redis.script(_PIN_GIVE_BACK_LUA)
            await script(keys=self._keys(case_number, client), args=args)
        except redis.RedisError as exc:
            self._redis.warn(exc)
            if right:
                await self._fallback.succeeded(case_number, client)
            else:
                await self._fallback.refund(case_number, client)

    async def succeeded(self, case_number: str, client: str) -> None:
        """The PIN was right: forget this pair's attempts; give the client's and case's back."""
        await self._give_back(case_number, client, right=True)

    async def refund(self, case_number: str, client: str) -> None:
        """The attempt was not evaluated: give it back to all three counters."""
        await self._give_back(case_number, client, right=False)

    async def aclose(self) -> None:
        """Close the client (it must close on its own event loop)."""
        await self._redis.aclose()


def pin_backoff(settings: Settings) -> PinBackoff:
    """The configured PIN backoff: Redis when ``redis_url`` is set, else in process."""
    policy = BackoffPolicy.from_settings(settings)
    if settings.redis_url:
        return RedisPinBackoff(
            settings.redis_url,
            policy,
            prefix=settings.redis_prefix,
            secret=limiter_secret(settings, shared=True),
        )
    return InProcessPinBackoff(policy, secret=limiter_secret(settings, shared=False))
