"""One decoder worker process as the server sees it: started, talked to, killed.

A worker is started as ``python -m hashwall.sandbox.worker FD MEMORY_LIMIT`` (or another
program that runs :func:`hashwall.sandbox.worker.run`), not through ``multiprocessing``: a
spawned child would re-run the parent's ``__main__`` (any script or server that builds a pool at
import time), and nothing is pickled either way. Started afresh, never forked: the server has
threads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import hashwall
from hashwall.sandbox import protocol
from hashwall.sandbox.worker import THREAD_LIMITS
from hashwall.settings import Settings

log = logging.getLogger(__name__)

#: The program that runs a worker; its arguments follow (the socket's descriptor, the limit).
WORKER_COMMAND: Final = (sys.executable, "-m", "hashwall.sandbox.worker")
_SEND_BUFFER = 4 << 20
_PACKAGE_ROOT = str(Path(hashwall.__file__).resolve().parents[1])


#: The settings a worker decodes and hashes by (its media limits): a pool hands its own to its
#: workers (:func:`worker_settings`), so a pool built with other limits than the environment's
#: has workers that enforce them. Nothing else of the settings (the store's URL, secrets)
#: reaches a worker.
WORKER_SETTINGS: Final = (
    "max_input_bytes",
    "max_pixels",
    "max_frames",
    "min_side",
    "video_max_bytes",
    "video_max_seconds",
    "video_max_pixels",
    "video_max_frames",
    "vpdq_seconds_per_hash",
    "vpdq_max_frames",
    "pdq_min_quality",
)


def worker_settings(settings: Settings) -> dict[str, str]:
    """The environment that gives a worker's ``Settings()`` the media limits of ``settings``."""
    return {f"HASHWALL_{name.upper()}": str(getattr(settings, name)) for name in WORKER_SETTINGS}


class WorkerStartError(RuntimeError):
    """A decoder worker could not start (a configuration problem, reported at startup)."""


class WorkerProcess:
    """One worker process and the server's end of its socket.

    The socket is used by one caller at a time (whoever took the worker from the pool), from
    the event loop, non-blocking (:class:`AsyncExchange`).
    """

    def __init__(
        self,
        memory_limit: int,
        command: Sequence[str] = WORKER_COMMAND,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        parent_end, child_end = socket.socketpair()
        env = dict(os.environ)
        env.update(THREAD_LIMITS)
        env.update(settings or {})  # the pool's own limits, over whatever the environment says
        # The worker imports hashwall from where this process did, installed or not.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        try:
            self.process = subprocess.Popen(
                [*command, str(child_end.fileno()), str(memory_limit)],
                pass_fds=(child_end.fileno(),),
                env=env,
                stdin=subprocess.DEVNULL,
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
            hello = json.loads(protocol.recv_frame(self.sock))
        except TimeoutError:
            raise WorkerStartError(
                f"a decoder worker did not start within {timeout:.0f} s"
            ) from None
        except (EOFError, OSError, ValueError):
            raise WorkerStartError(
                f"a decoder worker exited while starting ({self.describe_exit()})"
            ) from None
        if not isinstance(hello, dict) or hello.get("ready") is not True:
            message = hello.get("message") if isinstance(hello, dict) else None
            raise WorkerStartError(str(message or "a decoder worker refused to start"))
        self.sock.setblocking(False)  # from now on, the event loop talks to it

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

    def describe_exit(self) -> str:
        """How the process ended ("signal SIGABRT", "exit code 1"), or "still running"."""
        try:
            code = self.process.wait(1)
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

    def stop(self) -> None:
        """Kill the process (it may be stuck in C code) and release the socket."""
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            log.error("decoder worker %d did not exit after SIGKILL", self.process.pid)
        self.sock.close()


class AsyncExchange:
    """One job sent to a worker and its reply read, on the non-blocking socket, from the loop.

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
            parts += (protocol.header(len(frame)), frame)
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
        while (need := protocol.missing(self.buf)) > 0:
            if self.pending is None:
                self.pending = asyncio.ensure_future(self.loop.sock_recv(self.sock, need))
            chunk = await asyncio.shield(self.pending)
            self.pending = None
            if not chunk:
                raise EOFError("the worker closed its socket")
            self.buf += chunk
        return protocol.parse_frame(self.buf)

    def abandon(self) -> None:
        """Stop a receive in flight (the worker is being replaced: its socket closes)."""
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None
