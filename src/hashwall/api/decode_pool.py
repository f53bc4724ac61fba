"""Decoders in worker processes, so that a crash or a hang in a decoder costs one worker.

libjpeg, libpng, libheif and friends are C code run on hostile bytes. A
:class:`DecodePool` runs :func:`hashwall.hash_image` in ``N`` worker processes (started afresh,
never forked: the server has threads), each with an address-space limit (``RLIMIT_AS``, so a memory
blow-up is a ``MemoryError`` in the worker, not the OOM killer in the server) and a time limit
per task. A worker that dies (segfault, abort) or overruns its time is killed and replaced in
the background, and the request that met it gets a clean error:

==============================  =====================  ======================================
what happened                   error                  status
==============================  =====================  ======================================
bad bytes (the media layer)     as ``hash_image``      4xx, the same as in process
crash, or out of memory         ``decode_failed``      422 (the same bytes would fail again)
over ``decode_timeout``         ``decode_timeout``     422 (only the worker's own time counts)
no free worker in time          ``overloaded``         503 (``Retry-After``)
==============================  =====================  ======================================

The pool is its own (not ``concurrent.futures.ProcessPoolExecutor``, whose one dead worker
breaks the whole executor). Callers block in their own thread (:meth:`DecodePool.hash_media`)
or await (:meth:`DecodePool.hash_media_async`); both are safe from any number of threads.
An async caller talks to its worker's socket from the event loop itself, and waits on the loop
for a free worker when all are busy: no thread hop (on a server core shared with the decoders,
handing each upload to a thread and back cost more than the exchange itself).
Media bytes go through a socket, never a file, and are never logged; workers cannot dump core.

Frames on the socket are those of :class:`multiprocessing.connection.Connection` (a 4-byte
big-endian length, then the bytes), which the worker uses on its end.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import queue
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import hashwall
from hashwall import errors
from hashwall.api import decode_worker
from hashwall.errors import DecodeFailed, DecodeTimeout, HashwallError, Overloaded
from hashwall.hashing.image import HashMode, ImageHashes, Note
from hashwall.hashing.pdq import PdqHash
from hashwall.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
_Outcome = Literal["ok", "timeout", "died", "malformed"]

# A worker's answer is a few kB of JSON; anything larger is not one of ours.
_MAX_REPLY_BYTES = 1 << 20
_MAX_MESSAGE_CHARS = 500
_STARTUP_TIMEOUT = 120.0
# The frame header of multiprocessing.connection: a signed 4-byte big-endian length.
_FRAME = struct.Struct("!i")
_MAX_FRAME = 0x7FFFFFFF
_RECV_CHUNK = 1 << 16
_SEND_BUFFER = 4 << 20
# The task headers of the hash tasks, encoded once.
_HASH_HEADERS: Final = {
    (fast, orientations): json.dumps(
        {"task": "hash", "fast": fast, "orientations": orientations}
    ).encode()
    for fast in (False, True)
    for orientations in (False, True)
}
_HEX = re.compile(r"[0-9a-f]+")
_PACKAGE_ROOT = str(Path(hashwall.__file__).resolve().parents[1])


class WorkerStartError(RuntimeError):
    """A decoder worker could not start (a configuration problem, reported at startup)."""


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Counters of a pool since it started, for metrics and tests."""

    workers: int
    idle: int
    restarts: int
    crashes: int
    timeouts: int


class _Worker:
    """One worker process and the parent's end of its socket.

    Started as ``python -m hashwall.api.decode_worker``, not through ``multiprocessing``: a
    spawned child would re-run the parent's ``__main__`` (any script or server that builds a
    pool at import time), and nothing is pickled either way.

    The socket is used by one caller at a time (whoever took the worker from the pool): a
    thread with a timeout (:meth:`exchange`) or the event loop, non-blocking
    (:class:`_AsyncExchange`).
    """

    def __init__(self, memory_limit: int, test_hooks: bool) -> None:
        parent_end, child_end = socket.socketpair()
        command = [
            sys.executable,
            "-m",
            "hashwall.api.decode_worker",
            str(child_end.fileno()),
            str(memory_limit),
            "1" if test_hooks else "0",
        ]
        env = dict(os.environ)
        env.update(decode_worker.THREAD_LIMITS)
        # The worker imports hashwall from where this process did, installed or not.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        try:
            self.process = subprocess.Popen(
                command, pass_fds=(child_end.fileno(),), env=env, stdin=subprocess.DEVNULL
            )
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        # Room for a whole upload in the socket (the kernel caps it at net.core.wmem_max), so
        # that it goes in one call, not in pieces as the worker reads.
        parent_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER)
        self.sock = parent_end

    def wait_ready(self, timeout: float) -> None:
        """Block until the worker has warmed up; :class:`WorkerStartError` if it cannot."""
        try:
            self.sock.settimeout(timeout)
            hello = json.loads(_recv_frame(self.sock))
        except TimeoutError:
            raise WorkerStartError(
                f"a decoder worker did not start within {timeout:.0f} s"
            ) from None
        except (EOFError, OSError, ValueError):
            raise WorkerStartError(
                f"a decoder worker exited while starting ({_describe_exit(self.process)})"
            ) from None
        if not isinstance(hello, dict) or hello.get("ready") is not True:
            message = hello.get("message") if isinstance(hello, dict) else None
            raise WorkerStartError(str(message or "a decoder worker refused to start"))

    def exchange(self, frames: tuple[bytes, ...], timeout: float) -> bytes:
        """Send ``frames``, return the reply (blocking; ``TimeoutError`` past ``timeout``)."""
        self.sock.settimeout(timeout)
        for frame in frames:
            self.sock.sendall(_FRAME.pack(len(frame)))
            self.sock.sendall(frame)
        return _recv_frame(self.sock)

    def healthy(self) -> bool:
        """True if the worker is alive and has nothing unexpected waiting on its socket."""
        try:
            if self.process.poll() is not None:
                return False
            poller = select.poll()  # not select(): a server may hold descriptors past 1024
            poller.register(self.sock, select.POLLIN)
            return not poller.poll(0)  # anything readable is a stray message or end of file
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        """Kill the process (it may be stuck in C code) and release the socket."""
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            log.error("decoder worker %d did not exit after SIGKILL", self.process.pid)
        self.sock.close()


def _header(length: int) -> bytes:
    if length > _MAX_FRAME:
        raise ValueError("a frame of 2 GiB or more")
    return _FRAME.pack(length)


def _parse_frame(buf: bytearray) -> bytes:
    """The payload of the one whole frame in ``buf``; ``ValueError`` for anything else."""
    (size,) = _FRAME.unpack_from(buf)
    if not 0 <= size <= _MAX_REPLY_BYTES or len(buf) != _FRAME.size + size:
        raise ValueError("not one reply frame")
    return bytes(buf[_FRAME.size :])


def _missing(buf: bytearray) -> int:
    """How many bytes the frame begun in ``buf`` still needs (at most one chunk)."""
    if len(buf) < _FRAME.size:
        return _RECV_CHUNK
    size: int = _FRAME.unpack_from(buf)[0]
    if not 0 <= size <= _MAX_REPLY_BYTES:
        raise ValueError("a reply larger than any of ours")
    return min(_FRAME.size + size - len(buf), _RECV_CHUNK)


def _recv_frame(sock: socket.socket) -> bytes:
    """One frame from a blocking socket (``EOFError`` if the worker closed it)."""
    buf = bytearray()
    while (need := _missing(buf)) > 0:
        chunk = sock.recv(need)
        if not chunk:
            raise EOFError("the worker closed its socket")
        buf += chunk
    return _parse_frame(buf)


class _AsyncExchange:
    """:meth:`_Worker.exchange` on a non-blocking socket, from the event loop.

    Keeps how far it got, so that a caller cancelled half-way can hand the rest (reading the
    reply) to a background task instead of killing the worker. A receive in flight is kept too
    (``pending``, awaited through a shield): a cancellation that lands after the loop read a
    chunk off the socket but before the caller resumed would otherwise drop that chunk, and the
    reply could never be completed.
    """

    __slots__ = ("buf", "loop", "pending", "sent", "sock")

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self.loop, self.sock = loop, sock
        self.sent = False
        self.buf = bytearray()
        self.pending: asyncio.Future[bytes] | None = None

    async def run(self, frames: tuple[bytes, ...]) -> bytes:
        """Send ``frames`` (one ``sendmsg``, without copying, almost always), read the reply."""
        parts: list[bytes] = []
        for frame in frames:
            parts += (_header(len(frame)), frame)
        total = sum(len(part) for part in parts)
        try:
            done = self.sock.sendmsg(parts)
        except BlockingIOError:
            done = 0
        if done < total:  # the socket's buffer is full: the rest as the worker reads it
            for part in parts:
                if done < len(part):
                    await self.loop.sock_sendall(self.sock, memoryview(part)[done:])
                done = max(0, done - len(part))
        self.sent = True
        return await self.reply()

    async def reply(self) -> bytes:
        """The reply frame (what is left of it)."""
        while (need := _missing(self.buf)) > 0:
            if self.pending is None:
                self.pending = asyncio.ensure_future(self.loop.sock_recv(self.sock, need))
            chunk = await asyncio.shield(self.pending)
            self.pending = None
            if not chunk:
                raise EOFError("the worker closed its socket")
            self.buf += chunk
        return _parse_frame(self.buf)

    def abandon(self) -> None:
        """Stop a receive in flight (the worker is being replaced: its socket closes)."""
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None


# How an exchange with a worker can fail (TimeoutError is an OSError: it is tested first).
_EXCHANGE_FAILURES = (TimeoutError, EOFError, OSError, ValueError)


def _failure(exc: BaseException) -> _Outcome:
    """What an exchange that raised one of ``_EXCHANGE_FAILURES`` means for the worker: it
    overran its time, it died (or its socket did), or it answered out of step."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, (EOFError, OSError)):
        return "died"
    return "malformed"


def _shut_down(waiter: asyncio.Future[_Worker]) -> None:
    if not waiter.done():
        waiter.set_exception(Overloaded("the decoder pool is shut down"))


def _describe_exit(process: subprocess.Popen[bytes]) -> str:
    try:
        code = process.wait(1)
    except subprocess.TimeoutExpired:
        code = None
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class DecodePool:
    """``N`` decoder worker processes with memory and time limits, replaced when they die.

    ``test_hooks=True`` enables the test-only tasks (``_crash_for_tests`` and its siblings);
    nothing in the media bytes can reach them.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        workers: int | None = None,
        test_hooks: bool = False,
    ) -> None:
        settings = settings or Settings()
        self._size = workers if workers is not None else settings.decode_workers
        if self._size < 1:
            raise ValueError("a decode pool needs at least one worker")
        self._memory_limit = settings.decode_memory_limit
        self._timeout = settings.decode_timeout
        self._queue_timeout = settings.decode_queue_timeout
        self._test_hooks = test_hooks
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._restarts = self._crashes = self._timeouts = 0
        self._background: set[asyncio.Task[None]] = set()
        # Async callers waiting for a worker, first come first served (under _lock).
        self._waiters: collections.deque[
            tuple[asyncio.AbstractEventLoop, asyncio.Future[_Worker]]
        ] = collections.deque()
        starting = [self._spawn() for _ in range(self._size)]
        try:
            for worker in starting:
                worker.wait_ready(_STARTUP_TIMEOUT)
        except WorkerStartError:
            self.close()
            raise
        for worker in starting:
            self._idle.put(worker)

    # --- public ---------------------------------------------------------------------------

    def hash_media(self, data: bytes, *, fast: bool, orientations: bool) -> ImageHashes:
        """Fingerprint media bytes in a worker; see :func:`hashwall.hash_image`.

        Raises what ``hash_image`` raises for bad bytes, and :class:`DecodeFailed`,
        :class:`DecodeTimeout` or :class:`Overloaded` (see the module docstring).
        """
        return self._hash(data, fast, orientations, time.monotonic() + self._queue_timeout)

    async def hash_media_async(self, data: bytes, *, fast: bool, orientations: bool) -> ImageHashes:
        """:meth:`hash_media` for asyncio: the event loop is never blocked."""
        deadline = time.monotonic() + self._queue_timeout
        header = _HASH_HEADERS[bool(fast), bool(orientations)]
        worker = self._acquire_nowait() or await self._acquire_async(deadline)
        exchange = _AsyncExchange(asyncio.get_running_loop(), worker.sock)
        raw = b""
        outcome: _Outcome = "ok"
        try:
            worker.sock.setblocking(False)
            async with asyncio.timeout(self._timeout):
                raw = await exchange.run((header, data))
        except _EXCHANGE_FAILURES as exc:
            exchange.abandon()
            outcome = _failure(exc)
        except asyncio.CancelledError:
            # The caller went away after the task was sent: let the worker finish it and go
            # back to the pool (a client that disconnects must not cost a worker).
            if exchange.sent:
                self._finish_later(worker, exchange)
            else:
                self._replace(worker)
            raise
        except BaseException:
            exchange.abandon()
            self._replace(worker)
            raise
        return self._settle(worker, outcome, raw, _hashes_from_wire)

    def stats(self) -> PoolStats:
        """Workers alive or starting, idle workers, and what happened to the others."""
        with self._lock:
            return PoolStats(
                workers=len(self._workers),
                idle=self._idle.qsize(),
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

    # --- test-only tasks ------------------------------------------------------------------

    def _crash_for_tests(self) -> None:
        """Make one worker call ``os.abort()`` (only with ``test_hooks=True``)."""
        self._run_test_task({"task": "abort"})

    def _sleep_for_tests(self, seconds: float) -> None:
        """Make one worker sleep (only with ``test_hooks=True``)."""
        self._run_test_task({"task": "sleep", "seconds": seconds})

    def _allocate_for_tests(self, nbytes: int) -> None:
        """Make one worker allocate ``nbytes`` (only with ``test_hooks=True``)."""
        self._run_test_task({"task": "allocate", "bytes": nbytes})

    def _run_test_task(self, header: dict[str, Any]) -> None:
        if not self._test_hooks:
            raise RuntimeError("test tasks need DecodePool(test_hooks=True)")
        self._run(header, b"", time.monotonic() + self._queue_timeout, lambda _: None)

    # --- the work -------------------------------------------------------------------------

    def _hash(self, data: bytes, fast: bool, orientations: bool, deadline: float) -> ImageHashes:
        header = _HASH_HEADERS[bool(fast), bool(orientations)]
        return self._run(header, data, deadline, _hashes_from_wire)

    def _run(
        self,
        header: dict[str, Any] | bytes,
        data: bytes,
        deadline: float,
        parse: Callable[[Any], T],
    ) -> T:
        if isinstance(header, dict):
            header = json.dumps(header).encode()
        worker = self._acquire(deadline)
        outcome: _Outcome = "ok"
        raw = b""
        try:
            raw = worker.exchange((header, data), self._timeout)
        except _EXCHANGE_FAILURES as exc:
            outcome = _failure(exc)
        except BaseException:
            # Interrupted half-way (KeyboardInterrupt, a signal): the socket is out of step.
            self._replace(worker)
            raise
        return self._settle(worker, outcome, raw, parse)

    def _settle(
        self, worker: _Worker, outcome: _Outcome, raw: bytes, parse: Callable[[Any], T]
    ) -> T:
        """Turn what an exchange with ``worker`` gave into the answer or the error; put the
        worker back in the pool, or replace it when it is dead, stuck or out of step."""
        if outcome == "timeout":
            with self._lock:
                self._timeouts += 1
            log.warning("decoder worker overran %.1f s; killing and replacing it", self._timeout)
            self._replace(worker)
            raise DecodeTimeout(
                f"decoding took longer than {self._timeout:g} s and was stopped; "
                "send a smaller or simpler file"
            )
        if outcome == "died":
            how = _describe_exit(worker.process)
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
                error = _error_from_wire(reply["error"])
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

    def _finish_later(self, worker: _Worker, exchange: _AsyncExchange) -> None:
        """Read the reply of a task whose caller was cancelled, then release the worker."""

        async def finish() -> None:
            try:
                async with asyncio.timeout(self._timeout):
                    raw = await exchange.reply()
            except asyncio.CancelledError:
                exchange.abandon()
                self._replace(worker)
                raise
            except (TimeoutError, EOFError, OSError, ValueError):
                exchange.abandon()
                self._replace(worker)
                return
            # The media layer's error for bytes nobody waits for any more is nobody's business.
            with contextlib.suppress(HashwallError):
                self._settle(worker, "ok", raw, lambda _: None)

        task = exchange.loop.create_task(finish())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- workers --------------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        worker = _Worker(self._memory_limit, self._test_hooks)
        with self._lock:
            self._workers.add(worker)
        return worker

    def _acquire(self, deadline: float) -> _Worker:
        while True:
            if self._closed:
                raise Overloaded("the decoder pool is shut down")
            try:
                worker = self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise Overloaded(
                    "every decoder is busy; retry in a moment", retry_after=1.0
                ) from None
            if worker.healthy():
                return worker
            self._lost_while_idle(worker)

    def _lost_while_idle(self, worker: _Worker) -> None:
        # Died while idle (the OOM killer, a signal): replace it; the caller looks again.
        log.warning("idle decoder worker died (%s); replacing it", _describe_exit(worker.process))
        with self._lock:
            self._crashes += 1
        self._replace(worker)

    def _acquire_nowait(self) -> _Worker | None:
        """An idle, healthy worker if there is one right now (never blocks)."""
        while True:
            if self._closed:
                raise Overloaded("the decoder pool is shut down")
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                return None
            if worker.healthy():
                return worker
            self._lost_while_idle(worker)

    async def _acquire_async(self, deadline: float) -> _Worker:
        """A healthy worker for an async caller, waiting on the event loop (not in a thread)
        while every worker is busy: a released worker is handed straight to the first waiter."""
        loop = asyncio.get_running_loop()
        while True:
            worker = self._acquire_nowait()
            if worker is not None:
                return worker
            waiter: asyncio.Future[_Worker] = loop.create_future()
            with self._lock:
                if self._idle.qsize():  # released in between: take it
                    continue
                self._waiters.append((loop, waiter))
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    worker = await waiter
            except TimeoutError:
                raise Overloaded(
                    "every decoder is busy; retry in a moment", retry_after=1.0
                ) from None
            except asyncio.CancelledError:
                # Handed a worker just as the caller left: it goes straight back.
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._release(waiter.result())
                raise
            if worker.healthy():
                return worker
            self._lost_while_idle(worker)

    def _release(self, worker: _Worker) -> None:
        """Give ``worker`` to the first async caller waiting for one, else back to the pool."""
        if self._closed:
            worker.stop()
            return
        with self._lock:
            while self._waiters:
                loop, waiter = self._waiters.popleft()
                if not waiter.done():
                    break
            else:
                self._idle.put(worker)
                return
        if asyncio._get_running_loop() is loop:
            self._deliver(waiter, worker)
            return
        try:
            loop.call_soon_threadsafe(self._deliver, waiter, worker)
        except RuntimeError:  # that loop is closed: its caller is gone
            self._release(worker)

    def _deliver(self, waiter: asyncio.Future[_Worker], worker: _Worker) -> None:
        if waiter.done():  # timed out or cancelled meanwhile
            self._release(worker)
        else:
            waiter.set_result(worker)

    def _replace(self, worker: _Worker) -> None:
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


def _error_from_wire(error: Any) -> HashwallError:
    """Rebuild an error a worker reported; anything unknown becomes :class:`DecodeFailed`."""
    if not isinstance(error, dict):
        raise TypeError("error is not an object")
    name, message = error.get("type"), error.get("message")
    if not isinstance(name, str) or not isinstance(message, str):
        raise TypeError("error has no type or message")
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, HashwallError)):
        cls = DecodeFailed
    return cls(message[:_MAX_MESSAGE_CHARS])


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError("expected a non-negative integer")
    return value


def _hex(value: Any, length: int) -> str:
    if not isinstance(value, str) or len(value) != length or not _HEX.fullmatch(value):
        raise TypeError(f"expected {length} lowercase hex digits")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str) or len(value) > _MAX_MESSAGE_CHARS:
        raise TypeError("expected a short string")
    return value


def _hashes_from_wire(wire: Any) -> ImageHashes:
    """Rebuild and validate the :class:`ImageHashes` a worker sent as JSON."""
    if not isinstance(wire, dict):
        raise TypeError("hashes are not an object")
    orientations = wire["orientations"]
    if orientations is not None and (not isinstance(orientations, list) or len(orientations) != 8):
        raise TypeError("orientations must be 8 hashes or null")
    notes = wire["notes"]
    if not isinstance(notes, list):
        raise TypeError("notes must be a list")
    return ImageHashes(
        pdq=PdqHash.from_hex(_hex(wire["pdq"], 64)),
        quality=_int(wire["quality"]),
        md5=_hex(wire["md5"], 32),
        sha256=_hex(wire["sha256"], 64),
        width=_int(wire["width"]),
        height=_int(wire["height"]),
        format=_str(wire["format"]),
        mode=HashMode(wire["mode"]),
        frame_count=_int(wire["frame_count"]),
        orientations=(
            None
            if orientations is None
            else tuple(PdqHash.from_hex(_hex(h, 64)) for h in orientations)
        ),
        notes=tuple(Note(_str(code), _str(message)) for code, message in notes),
    )
