"""``Idempotency-Key``: a retried check returns the first answer instead of checking again.

A check that answers ``review`` or ``block`` writes match records; a platform that retries after
a timeout must not create a second one. So a check request carrying ``Idempotency-Key`` is
answered once per (API key, route, idempotency key): the first request reserves the slot, runs,
and stores its answer (status and JSON body) for :data:`TTL_SECONDS`; a retry gets that answer
back, byte for byte. A retry that arrives while the first request still runs waits for it (up
to :data:`WAIT_SECONDS`, then ``overloaded``). The same key with a different request body is
``invalid_input`` (a client bug). Errors are not stored: nothing was written, a retry runs again.

Answers live in Redis when ``HASHWALL_REDIS_URL`` is set (shared by replicas; falls back to
this process's memory while Redis is down), else in this process's memory. The stored slot key
and request fingerprint are keyed digests: neither the key id nor the request is readable there.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final, Protocol

import redis
import redis.asyncio

from hashwall.errors import InvalidInput, Overloaded
from hashwall.settings import Settings

log = logging.getLogger(__name__)

HEADER: Final = "Idempotency-Key"
#: How long an answer is kept.
TTL_SECONDS: Final = 24 * 3600
#: How long a retry waits for the first request to finish.
WAIT_SECONDS: Final = 15.0
#: How long a reservation lives if its request dies without releasing it.
PENDING_SECONDS: Final = 60
MAX_KEY_LENGTH: Final = 255
_POLL: Final = 0.05


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """A response kept for retries."""

    status: int
    body: bytes


def valid_key(value: str | None) -> str | None:
    """The idempotency key of a request, or None; a malformed one is ``invalid_input``."""
    if value is None:
        return None
    key = value.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidInput(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters (e.g. a UUID)"
        )
    return key


class IdempotencyStore(Protocol):
    """Reserves, keeps and replays answers per slot."""

    def slot(self, *parts: str) -> str:
        """An opaque slot name for (key id, route, idempotency key)."""
        ...

    def fingerprint(self, body: bytes) -> str:
        """An opaque digest of a request body."""
        ...

    async def begin(self, slot: str, fingerprint: str) -> StoredAnswer | None:
        """Reserve ``slot`` (None: go ahead and :meth:`finish`) or return the stored answer."""
        ...

    async def finish(self, slot: str, fingerprint: str, answer: StoredAnswer) -> None:
        """Store the answer of a reserved slot."""
        ...

    async def release(self, slot: str) -> None:
        """Give up a reservation (the request failed; a retry runs again)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class _Digests:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret[:64]

    def slot(self, *parts: str) -> str:
        return hashlib.blake2b(
            "\x00".join(parts).encode(), key=self._secret, digest_size=20, person=b"hw-idem-slot"
        ).hexdigest()

    def fingerprint(self, body: bytes) -> str:
        return hashlib.blake2b(
            body, key=self._secret, digest_size=20, person=b"hw-idem-body"
        ).hexdigest()


def _conflict() -> InvalidInput:
    return InvalidInput(
        f"this {HEADER} was used with a different request; use a new key for a new request"
    )


def _busy() -> Overloaded:
    return Overloaded(
        f"the first request with this {HEADER} is still running; retry in a moment",
        retry_after=1,
    )


@dataclass(slots=True)
class _Entry:
    fingerprint: str
    expires: float
    answer: StoredAnswer | None = None


class InProcessIdempotency(_Digests):
    """Answers in this process's memory (one process; a restart forgets them)."""

    def __init__(self, *, secret: bytes | None = None, max_entries: int = 100_000) -> None:
        super().__init__(secret if secret is not None else secrets.token_bytes(32))
        self._entries: dict[str, _Entry] = {}
        self._max_entries = max_entries

    def _sweep(self, now: float) -> None:
        if len(self._entries) >= self._max_entries:
            self._entries = {k: e for k, e in self._entries.items() if e.expires > now}
            while len(self._entries) >= self._max_entries:  # still full: drop the oldest
                self._entries.pop(next(iter(self._entries)))

    async def begin(self, slot: str, fingerprint: str) -> StoredAnswer | None:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            now = time.monotonic()
            entry = self._entries.get(slot)
            if entry is None or entry.expires <= now:
                self._sweep(now)
                self._entries[slot] = _Entry(fingerprint, now + PENDING_SECONDS)
                return None
            if entry.fingerprint != fingerprint:
                raise _conflict()
            if entry.answer is not None:
                return entry.answer
            if now >= deadline:
                raise _busy()
            await asyncio.sleep(_POLL)

    async def finish(self, slot: str, fingerprint: str, answer: StoredAnswer) -> None:
        self._entries[slot] = _Entry(fingerprint, time.monotonic() + TTL_SECONDS, answer)

    async def release(self, slot: str) -> None:
        entry = self._entries.get(slot)
        if entry is not None and entry.answer is None:
            del self._entries[slot]

    async def aclose(self) -> None:
        """Nothing to release."""

    def __len__(self) -> int:
        return len(self._entries)


class RedisIdempotency(_Digests):
    """Answers in Redis, shared by every replica; this process's memory while Redis is down."""

    def __init__(self, url: str, *, prefix: str = "hashwall:", secret: bytes = b"") -> None:
        super().__init__(secret)
        self._client = redis.asyncio.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        self._prefix = prefix + "idem:"
        self._fallback = InProcessIdempotency(secret=secret)
        self._last_warning = 0.0

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning > 60:
            self._last_warning = now
            log.warning("Redis unavailable (%s); idempotency is per process until it is back", exc)

    async def begin(self, slot: str, fingerprint: str) -> StoredAnswer | None:
        key = self._prefix + slot
        pending = json.dumps({"f": fingerprint})
        deadline = time.monotonic() + WAIT_SECONDS
        try:
            while True:
                if await self._client.set(key, pending, nx=True, ex=PENDING_SECONDS):
                    return None
                raw = await self._client.get(key)
                if raw is not None:
                    stored: dict[str, Any] = json.loads(raw)
                    if stored.get("f") != fingerprint:
                        raise _conflict()
                    if "s" in stored:
                        return StoredAnswer(int(stored["s"]), str(stored["b"]).encode())
                if time.monotonic() >= deadline:
                    raise _busy()
                await asyncio.sleep(_POLL)
        except redis.RedisError as exc:
            self._warn(exc)
            return await self._fallback.begin(slot, fingerprint)

    async def finish(self, slot: str, fingerprint: str, answer: StoredAnswer) -> None:
        value = json.dumps({"f": fingerprint, "s": answer.status, "b": answer.body.decode()})
        try:
            await self._client.set(self._prefix + slot, value, ex=TTL_SECONDS)
        except redis.RedisError as exc:
            self._warn(exc)
            await self._fallback.finish(slot, fingerprint, answer)

    async def release(self, slot: str) -> None:
        try:
            await self._client.delete(self._prefix + slot)
        except redis.RedisError as exc:
            self._warn(exc)
            await self._fallback.release(slot)

    async def aclose(self) -> None:
        """Close the client (on the event loop that used it)."""
        await self._client.aclose()


def idempotency_store(settings: Settings) -> IdempotencyStore:
    """The configured store: Redis when ``redis_url`` is set, else in process."""
    secret = (
        settings.limits_secret.get_secret_value().encode()
        if settings.limits_secret is not None
        else None
    )
    if settings.redis_url:
        return RedisIdempotency(
            settings.redis_url, prefix=settings.redis_prefix, secret=secret or b""
        )
    return InProcessIdempotency(secret=secret)
