"""What one API process holds: the service context, the limiters, the decoder pool, metrics.

Built by :func:`hashwall.api.app.create_app` and kept on ``app.state.hashwall``; routes reach it
through the :func:`api_state` dependency.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Protocol

from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from hashwall.api.defences.argon2_cap import ConcurrencyCap
from hashwall.api.defences.idempotency import IdempotencyStore
from hashwall.api.defences.pin_backoff import PinBackoff
from hashwall.api.defences.rate import RateLimiter
from hashwall.api.metrics import Metrics
from hashwall.errors import StoreUnavailable
from hashwall.hashing.image import ImageHashes, KeypointRole
from hashwall.hashing.vpdq import VideoHashes
from hashwall.service.context import ServiceContext
from hashwall.service.hitlog import HiddenHitLog
from hashwall.service.indexes import LiveIndexes
from hashwall.settings import Settings
from hashwall.store import migrate

log = logging.getLogger("hashwall.api")


class MediaHasher(Protocol):
    """What the API needs of a decoder pool (:class:`~hashwall.sandbox.pool.DecodePool`)."""

    async def hash_media(
        self,
        data: bytes,
        *,
        fast: bool,
        orientations: bool,
        regions: bool = False,
        keypoints: KeypointRole | None = None,
    ) -> ImageHashes:
        """Fingerprint media bytes away from the server process (``regions``: a check's;
        ``keypoints``: whose keypoint codes)."""
        ...

    async def hash_video(
        self,
        data: bytes,
        *,
        seconds_per_hash: float,
        mirror: bool,
        max_frames: int,
        box: bool = False,
    ) -> VideoHashes:
        """Fingerprint a video away from the server process (its frames and digests; ``box``:
        a check's frames cropped to the picture inside bars too)."""
        ...

    def close(self) -> None:
        """Stop the workers."""
        ...


@dataclass(slots=True)
class ApiState:
    """Everything a request may need, built once per process."""

    ctx: ServiceContext
    limiter: RateLimiter
    pin_backoff: PinBackoff
    pin_cap: ConcurrencyCap
    idempotency: IdempotencyStore
    metrics: Metrics
    decode_pool: MediaHasher | None = None
    owns_decode_pool: bool = True
    #: Why the store cannot serve (schema not at head, unreachable); None when it can.
    store_problem: str | None = "the service is starting"
    #: Platform names by row id, for metric labels (names never change).
    platform_names: dict[int, str] = field(default_factory=dict)
    #: Whether this app built the live index (and so follows the log and stops it at shutdown).
    owns_live: bool = False
    #: Whether this app started the hit log (``service/hitlog.py``; closed at shutdown).
    owns_hit_log: bool = False
    _pool_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _open_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def settings(self) -> Settings:
        """The process's settings."""
        return self.ctx.settings

    def require_store(self) -> None:
        """Raise ``store_unavailable`` (503) while the store cannot serve requests."""
        if self.store_problem is not None:
            raise StoreUnavailable(self.store_problem)

    def open_store(self) -> None:
        """Check the schema is at head, then build the live index and follow the log.

        Nothing is migrated here (``hashwall db upgrade`` does that): while the schema is not at
        head, :attr:`store_problem` says so, ``/readyz`` is 503 and ``/v1`` routes answer
        ``store_unavailable``. Called at start and again by ``/readyz`` until it succeeds.
        """
        with self._open_lock:
            if self.store_problem is None:
                return
            engine = self.ctx.store.engine
            try:
                current = migrate.current_revision(engine)
                head = migrate.head_revision()
                if current != head:
                    self.store_problem = (
                        f"the database schema is at revision {current or 'none'}, not {head}: "
                        "run `hashwall db upgrade`"
                    )
                    log.warning("store not ready: %s", self.store_problem)
                    return
                live = self.ctx.live
                if live is None:
                    live = LiveIndexes(self.ctx.store, self.settings)
                    live.start()
                    self.ctx.live = live
                    self.owns_live = True
                elif not live.built:
                    live.build()
                if self.ctx.hit_log is None:
                    self.ctx.hit_log = HiddenHitLog(self.ctx.store)
                    self.owns_hit_log = True
            except SQLAlchemyError as exc:
                self.store_problem = (
                    f"the database cannot be used ({type(exc).__name__}); "
                    "check HASHWALL_DATABASE_URL and that the server is up"
                )
                log.warning("store not ready: %s", self.store_problem)
                return
            self.metrics.live = live
            self.store_problem = None

    async def decoder(self) -> MediaHasher:
        """The decoder pool, started on first use unless it was started with the app."""
        if self.decode_pool is None:
            async with self._pool_lock:
                if self.decode_pool is None:
                    from hashwall.sandbox.pool import DecodePool

                    self.decode_pool = await run_in_threadpool(DecodePool, self.settings)
                    self.owns_decode_pool = True
        return self.decode_pool


async def api_state(request: Request) -> ApiState:
    """Dependency: the process's :class:`ApiState`.

    ``async`` on purpose: FastAPI runs a plain ``def`` dependency in the thread pool, and that
    hop cost more than the whole check of an ``allow`` (a fifth of the server's CPU).
    """
    state: ApiState = request.app.state.hashwall
    return state
