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

The case routes (create, add items, withdraw, vouch) honour the header too, through
:func:`answer_once`: a create that timed out at the client and committed later is replayed to
the retry, never made twice. Their answers are kept :data:`CASE_TTL_SECONDS` only (a created
case's answer holds its PIN: docs/security.md, "Idempotency and PINs"), and their reservation
lasts as long (a request held up by a frozen store must not expire while it can still commit).
Without an API key (the anonymous channel) the slot is shared by everyone, so the key must be
long enough to be unguessable (:data:`MIN_ANONYMOUS_KEY_LENGTH`, e.g. a random UUID). The work
runs shielded from the request's cancellation: a client that hangs up does not release a slot
whose work may still commit.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import redis
import redis.asyncio
from starlette.responses import Response

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
#: How long a case route's answer (and reservation) is kept: a created case's answer holds a PIN.
CASE_TTL_SECONDS: Final = 10 * 60
#: The shortest ``Idempotency-Key`` accepted without an API key (22 base64 characters: 128 bits).
MIN_ANONYMOUS_KEY_LENGTH: Final = 22
_POLL: Final = 0.05
#: How often expired answers are dropped from a process's memory (at the next request).
PURGE_SECONDS: Final = 60.0
_JSON: Final = "application/json"


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

    async def begin(
        self, slot: str, fingerprint: str, *, pending: float = PENDING_SECONDS
    ) -> StoredAnswer | None:
        """Reserve ``slot`` for ``pending`` seconds (None: go ahead and :meth:`finish`) or
        return the stored answer."""
        ...

    async def finish(
        self, slot: str, fingerprint: str, answer: StoredAnswer, *, ttl: float = TTL_SECONDS
    ) -> None:
        """Store the answer of a reserved slot for ``ttl`` seconds."""
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
    """Answers in this process's memory (one process; a restart forgets them).

    ``clock``: when answers expire (tests pass a settable one); waits use the real clock.
    """

    def __init__(
        self,
        *,
        secret: bytes | None = None,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(secret if secret is not None else secrets.token_bytes(32))
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._max_entries = max_entries
        self._next_purge = 0.0

    def _sweep(self, now: float) -> None:
        if now >= self._next_purge:  # expired answers (a case's holds a PIN) leave memory soon
            self._entries = {k: e for k, e in self._entries.items() if e.expires > now}
            self._next_purge = now + PURGE_SECONDS
        if len(self._entries) >= self._max_entries:
            self._entries = {k: e for k, e in self._entries.items() if e.expires > now}
            while len(self._entries) >= self._max_entries:  # still full: drop the oldest
                self._entries.pop(next(iter(self._entries)))

    async def begin(
        self, slot: str, fingerprint: str, *, pending: float = PENDING_SECONDS
    ) -> StoredAnswer | None:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            now = self._clock()
            entry = self._entries.get(slot)
            if entry is None or entry.expires <= now:
                self._sweep(now)
                self._entries[slot] = _Entry(fingerprint, now + pending)
                return None
            if entry.fingerprint != fingerprint:
                raise _conflict()
            if entry.answer is not None:
                return entry.answer
            if time.monotonic() >= deadline:
                raise _busy()
            await asyncio.sleep(_POLL)

    async def finish(
        self, slot: str, fingerprint: str, answer: StoredAnswer, *, ttl: float = TTL_SECONDS
    ) -> None:
        self._entries[slot] = _Entry(fingerprint, self._clock() + ttl, answer)

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

    async def begin(
        self, slot: str, fingerprint: str, *, pending: float = PENDING_SECONDS
    ) -> StoredAnswer | None:
        key = self._prefix + slot
        reserved = json.dumps({"f": fingerprint})
        deadline = time.monotonic() + WAIT_SECONDS
        try:
            while True:
                if await self._client.set(key, reserved, nx=True, ex=math.ceil(pending)):
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
            return await self._fallback.begin(slot, fingerprint, pending=pending)

    async def finish(
        self, slot: str, fingerprint: str, answer: StoredAnswer, *, ttl: float = TTL_SECONDS
    ) -> None:
        value = json.dumps({"f": fingerprint, "s": answer.status, "b": answer.body.decode()})
        try:
            await self._client.set(self._prefix + slot, value, ex=math.ceil(ttl))
        except redis.RedisError as exc:
            self._warn(exc)
            await self._fallback.finish(slot, fingerprint, answer, ttl=ttl)

    async def release(self, slot: str) -> None:
        try:
            await self._client.delete(self._prefix + slot)
        except redis.RedisError as exc:
            self._warn(exc)
            await self._fallback.release(slot)

    async def aclose(self) -> None:
        """Close the client (on the event loop that used it)."""
        await self._client.aclose()


def valid_case_key(value: str | None, *, anonymous: bool) -> str | None:
    """:func:`valid_key`, and at least :data:`MIN_ANONYMOUS_KEY_LENGTH` characters without an
    API key (the slot is then shared by every anonymous caller: the key is what keeps it)."""
    key = valid_key(value)
    if key is not None and anonymous and len(key) < MIN_ANONYMOUS_KEY_LENGTH:
        raise InvalidInput(
            f"without an API key, {HEADER} must be at least {MIN_ANONYMOUS_KEY_LENGTH} "
            "characters of a random value (e.g. a UUID)"
        )
    return key


async def answer_once(
    store: IdempotencyStore,
    slot_parts: tuple[str, ...],
    key: str | None,
    fingerprint: bytes,
    run: Callable[[], Awaitable[StoredAnswer]],
    *,
    ttl: float = CASE_TTL_SECONDS,
) -> Response:
    """``run()``'s answer once per (``slot_parts``, idempotency ``key``); the same answer after.

    Without a key, ``run()`` is simply answered. With one, the slot is reserved for ``ttl``
    seconds, ``run()`` runs shielded from the request's cancellation (a client that hangs up
    cannot free a slot whose work may still commit: the answer is stored when it finishes),
    its answer is kept ``ttl`` seconds, and a retry gets it back with ``Idempotent-Replay``.
    An error releases the slot (nothing was written: a retry runs again).
    """
    if key is None:
        answer = await run()
        return Response(answer.body, status_code=answer.status, media_type=_JSON)
    slot = store.slot(*slot_parts, key)
    print_ = store.fingerprint(fingerprint)
    stored = await store.begin(slot, print_, pending=ttl)
    if stored is not None:
        return Response(
            stored.body,
            status_code=stored.status,
            media_type=_JSON,
            headers={"Idempotent-Replay": "true"},
        )

    async def run_and_keep() -> StoredAnswer:
        try:
            answer = await run()
        except BaseException:
            await store.release(slot)
            raise
        await store.finish(slot, print_, answer, ttl=ttl)
        return answer

    answer = await asyncio.shield(asyncio.ensure_future(run_and_keep()))
    return Response(answer.body, status_code=answer.status, media_type=_JSON)


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
