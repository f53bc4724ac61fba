"""The decoder pool: ``N`` worker processes, and the scheduler that lends them to requests.

A worker that dies (segfault, abort) or overruns its time is killed and replaced in the
background, and the request that met it gets a clean error:

==============================  =====================  ======================================
what happened                   error                  status
==============================  =====================  ======================================
bad bytes (the media layer)     as ``hash_image``      4xx, the same as in process
crash, or out of memory         ``decode_failed``      422 (the same bytes would fail again)
over ``decode_timeout``         ``decode_timeout``     422 (only the worker's own time counts;
(``video_decode_timeout``)                             a video's limit for a video)
no free worker in time          ``overloaded``         503 (``Retry-After``)
==============================  =====================  ======================================

The pool is its own (not ``concurrent.futures.ProcessPoolExecutor``, whose one dead worker
breaks the whole executor). Callers await :meth:`DecodePool.hash_media` from any event
loop: a caller talks to its worker's socket from the loop itself, and waits on the loop for a
free worker when all are busy. No thread hop: on a server core shared with the decoders, handing
each upload to a thread and back cost more than the exchange itself.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from hashwall.errors import DecodeFailed, DecodeTimeout, HashwallError, Overloaded
from hashwall.hashing.image import ImageHashes, KeypointRole
from hashwall.hashing.vpdq import VideoHashes
from hashwall.sandbox import protocol
from hashwall.sandbox.process import (
    WORKER_COMMAND,
    AsyncExchange,
    WorkerProcess,
    WorkerStartError,
    worker_settings,
)
from hashwall.settings import Settings

log = logging.getLogger(__name__)

_Outcome = Literal["ok", "timeout", "died", "malformed"]
_T = TypeVar("_T")
_STARTUP_TIMEOUT = 120.0
# How an exchange with a worker can fail (TimeoutError is an OSError: it is tested first).
_EXCHANGE_FAILURES = (TimeoutError, EOFError, OSError, ValueError)


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Counters of a pool since it started, for metrics and tests."""

    workers: int
    idle: int
    restarts: int
    crashes: int
    timeouts: int


def _ignore(reply: Any) -> None:
    """The answer of a job nobody waits for any more: not even parsed."""


def _failure(exc: BaseException) -> _Outcome:
    """What an exchange that raised one of ``_EXCHANGE_FAILURES`` means for the worker: it
    overran its time, it died (or its socket did), or it answered out of step."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, (EOFError, OSError)):
        return "died"
    return "malformed"


def _busy() -> Overloaded:
    return Overloaded("every decoder is busy; retry in a moment", retry_after=1.0)


def _shut_down(waiter: asyncio.Future[WorkerProcess]) -> None:
    if not waiter.done():
        waiter.set_exception(Overloaded("the decoder pool is shut down"))


class DecodePool:
    """``N`` decoder worker processes with memory and time limits, replaced when they die.

    ``worker_command`` is the program that runs a worker (:data:`WORKER_COMMAND`, or one that
    calls :func:`hashwall.sandbox.worker.run` with a handler of its own).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        workers: int | None = None,
        worker_command: Sequence[str] = WORKER_COMMAND,
    ) -> None:
        settings = settings or Settings()
        self._size = workers if workers is not None else settings.decode_workers
        if self._size < 1:
            raise ValueError("a decode pool needs at least one worker")
        self._memory_limit = settings.decode_memory_limit
        self._timeout = settings.decode_timeout
        self._video_timeout = settings.video_decode_timeout
        self._queue_timeout = settings.decode_queue_timeout
        self._command = tuple(worker_command)
        self._worker_settings = worker_settings(settings)
        self._lock = threading.Lock()
        # Under _lock: every worker alive or starting, the idle ones, and the async callers
        # waiting for one (first come, first served).
        self._workers: set[WorkerProcess] = set()
        self._idle: collections.deque[WorkerProcess] = collections.deque()
        self._waiters: collections.deque[
            tuple[asyncio.AbstractEventLoop, asyncio.Future[WorkerProcess]]
        ] = collections.deque()
        self._closed = False
        self._restarts = self._crashes = self._timeouts = 0
        self._background: set[asyncio.Task[None]] = set()
        starting = [self._spawn() for _ in range(self._size)]
        try:
            for worker in starting:
                worker.wait_ready(_STARTUP_TIMEOUT)
        except WorkerStartError:
            self.close()
            raise
        with self._lock:
            self._idle.extend(starting)

    # --- public ---------------------------------------------------------------------------

    async def hash_media(
        self,
        data: bytes,
        *,
        fast: bool,
        orientations: bool,
        regions: bool = False,
        keypoints: KeypointRole | None = None,
    ) -> ImageHashes:
        """Fingerprint media bytes in a worker; see :func:`hashwall.hash_image` (``regions``:
        a check's, the places the photo may be inside the upload; ``keypoints``: whose
        keypoint codes to compute).

        Raises what ``hash_image`` raises for bad bytes, and :class:`DecodeFailed`,
        :class:`DecodeTimeout` or :class:`Overloaded` (see the module docstring). The event
        loop is never blocked.
        """
        job = protocol.hash_job(
            fast=fast, orientations=orientations, regions=regions, keypoints=keypoints
        )
        return await self._run(job, data, self._timeout, protocol.hashes_from_wire)

    async def hash_video(
        self,
        data: bytes,
        *,
        seconds_per_hash: float,
        mirror: bool,
        max_frames: int,
        box: bool = False,
    ) -> VideoHashes:
        """Fingerprint a video in a worker (:func:`hashwall.hashing.vpdq.hash_video`, fast PDQ):
        one frame every ``seconds_per_hash`` (0: every frame), at most ``max_frames`` kept,
        evenly spaced; with ``box``, the frames cropped to the picture inside constant bars too
        (:attr:`VideoHashes.box_frames`). The time limit is ``video_decode_timeout``; the errors as
        :meth:`hash_media`'s."""
        job = protocol.video_job(
            seconds_per_hash=seconds_per_hash, mirror=mirror, max_frames=max_frames, box=box
        )
        return await self._run(job, data, self._video_timeout, protocol.video_from_wire)

    async def _run(self, job: bytes, data: bytes, timeout: float, parse: Callable[[Any], _T]) -> _T:
        deadline = time.monotonic() + self._queue_timeout
        worker = self._acquire_nowait() or await self._acquire(deadline)
        exchange = AsyncExchange(asyncio.get_running_loop(), worker.sock)
        raw = b""
        outcome: _Outcome = "ok"
        try:
            async with asyncio.timeout(timeout):
                raw = await exchange.run((job, data))
        except _EXCHANGE_FAILURES as exc:
            exchange.abandon()
            outcome = _failure(exc)
        except asyncio.CancelledError:
            # The caller went away after the job was sent: let the worker finish it and go
            # back to the pool (a client that disconnects must not cost a worker).
            if exchange.sent:
                self._finish_later(worker, exchange, timeout)
            else:
                self._replace(worker)
            raise
        except BaseException:
            exchange.abandon()
            self._replace(worker)
            raise
        return self._settle(worker, outcome, raw, parse, timeout)

    def stats(self) -> PoolStats:
        """Workers alive or starting, idle workers, and what happened to the others."""
        with self._lock:
            return PoolStats(
                workers=len(self._workers),
                idle=len(self._idle),
                restarts=self._restarts,
                crashes=self._crashes,
                timeouts=self._timeouts,
            )

    def close(self) -> None:
        """Stop every worker. Calls after this raise :class:`Overloaded`."""
        with self._lock:
            self._closed = True
            workers = list(self._workers)
            self._workers.clear()
            self._idle.clear()
            waiters = list(self._waiters)
            self._waiters.clear()
        for worker in workers:
            worker.stop()
        for loop, waiter in waiters:
            with contextlib.suppress(RuntimeError):  # a closed loop has no caller left
                loop.call_soon_threadsafe(_shut_down, waiter)

    def __enter__(self) -> DecodePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the answer -----------------------------------------------------------------------

    def _settle(
        self,
        worker: WorkerProcess,
        outcome: _Outcome,
        raw: bytes,
        parse: Callable[[Any], _T],
        timeout: float,
    ) -> _T:
        """Turn what an exchange with ``worker`` gave into the answer or the error; put the
        worker back in the pool, or replace it when it is dead, stuck or out of step."""
        if outcome == "timeout":
            with self._lock:
                self._timeouts += 1
            log.warning("decoder worker overran %.1f s; killing and replacing it", timeout)
            self._replace(worker)
            raise DecodeTimeout(
                f"decoding took longer than {timeout:g} s and was stopped; "
                "send a smaller or simpler file"
            )
        if outcome == "died":
            how = worker.describe_exit()
            with self._lock:
                self._crashes += 1
            log.warning("decoder worker died (%s); replacing it", how)
            self._replace(worker)
            raise DecodeFailed(
                "the decoder crashed on this input; the file cannot be hashed, "
                "send it in another format"
            )
        try:
            if outcome == "malformed":
                raise ValueError("not one frame")
            reply = json.loads(raw)
            if not isinstance(reply, dict):
                raise TypeError("not an object")
            recycle = reply.get("recycle") is True
            if "error" in reply:
                error = protocol.error_from_wire(reply["error"])
            else:
                result = parse(reply["ok"])
                error = None
        except (KeyError, TypeError, ValueError, HashwallError):
            log.warning("decoder worker sent a malformed answer; replacing it")
            self._replace(worker)
            raise DecodeFailed("the decoder failed on this input") from None

        if recycle:
            self._replace(worker)
        else:
            self._release(worker)
        if error is not None:
            raise error
        return result

    def _finish_later(self, worker: WorkerProcess, exchange: AsyncExchange, timeout: float) -> None:
        """Read the reply of a job whose caller was cancelled, then release the worker."""

        async def finish() -> None:
            try:
                async with asyncio.timeout(timeout):
                    raw = await exchange.reply()
            except asyncio.CancelledError:
                exchange.abandon()
                self._replace(worker)
                raise
            except _EXCHANGE_FAILURES:
                exchange.abandon()
                self._replace(worker)
                return
            # The media layer's error for bytes nobody waits for any more is nobody's business.
            with contextlib.suppress(HashwallError):
                self._settle(worker, "ok", raw, _ignore, timeout)

        task = exchange.loop.create_task(finish())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- lending workers ------------------------------------------------------------------

    def _acquire_nowait(self) -> WorkerProcess | None:
        """An idle, healthy worker if there is one right now (never blocks)."""
        while True:
            with self._lock:
                if self._closed:
                    raise Overloaded("the decoder pool is shut down")
                if not self._idle:
                    return None
                worker = self._idle.popleft()
            if worker.healthy():
                return worker
            self._lost_while_idle(worker)

    async def _acquire(self, deadline: float) -> WorkerProcess:
        """A healthy worker, waiting on the event loop (not in a thread) while every worker is
        busy: a released worker is handed straight to the first waiter."""
        loop = asyncio.get_running_loop()
        while True:
            worker = self._acquire_nowait()
            if worker is not None:
                return worker
            waiter: asyncio.Future[WorkerProcess] = loop.create_future()
            with self._lock:
                if self._idle:  # released in between: take it
                    continue
                self._waiters.append((loop, waiter))
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    worker = await waiter
            except TimeoutError:
                raise _busy() from None
            except asyncio.CancelledError:
                # Handed a worker just as the caller left: it goes straight back.
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._release(waiter.result())
                raise
            if worker.healthy():
                return worker
            self._lost_while_idle(worker)

    def _lost_while_idle(self, worker: WorkerProcess) -> None:
        # Died while idle (the OOM killer, a signal): replace it; the caller looks again.
        log.warning("idle decoder worker died (%s); replacing it", worker.describe_exit())
        with self._lock:
            self._crashes += 1
        self._replace(worker)

    def _release(self, worker: WorkerProcess) -> None:
        """Give ``worker`` to the first caller waiting for one, else back to the pool."""
        with self._lock:
            closed = self._closed
            while not closed and self._waiters:
                loop, waiter = self._waiters.popleft()
                if not waiter.done():
                    break
            else:
                if not closed:
                    self._idle.append(worker)
                    return
        if closed:
            worker.stop()
            return
        if asyncio._get_running_loop() is loop:
            self._deliver(waiter, worker)
            return
        try:
            loop.call_soon_threadsafe(self._deliver, waiter, worker)
        except RuntimeError:  # that loop is closed: its caller is gone
            self._release(worker)

    def _deliver(self, waiter: asyncio.Future[WorkerProcess], worker: WorkerProcess) -> None:
        if waiter.done():  # timed out or cancelled meanwhile
            self._release(worker)
        else:
            waiter.set_result(worker)

    # --- replacing workers ----------------------------------------------------------------

    def _spawn(self) -> WorkerProcess:
        worker = WorkerProcess(self._memory_limit, self._command, self._worker_settings)
        with self._lock:
            self._workers.add(worker)
        return worker

    def _replace(self, worker: WorkerProcess) -> None:
        """Stop ``worker`` and start another in the background (start-up takes ~1-2 s)."""
        worker.stop()
        with self._lock:
            self._workers.discard(worker)
            if self._closed:
                return
            self._restarts += 1
        threading.Thread(
            target=self._start_replacement, name="hashwall-decode-restart", daemon=True
        ).start()

    def _start_replacement(self) -> None:
        delay = 1.0
        while not self._closed:
            worker = self._spawn()
            try:
                worker.wait_ready(_STARTUP_TIMEOUT)
            except WorkerStartError as exc:
                worker.stop()
                with self._lock:
                    self._workers.discard(worker)
                if self._closed:
                    return
                log.error("decoder worker failed to start: %s; retrying in %.0f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            self._release(worker)
            return
