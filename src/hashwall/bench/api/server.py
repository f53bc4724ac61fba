"""The server of ``bench api``: ``hashwall serve`` in a subprocess, pinned to its cores."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

# --- the server -------------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    """A ``hashwall serve`` process and where it listens."""

    process: subprocess.Popen[bytes]
    port: int
    ready_seconds: float

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its children (workers, decoder pool) so far."""
        import psutil

        try:
            root = psutil.Process(self.process.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for proc in procs:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total


@contextmanager
def running_server(
    url: str,
    cores: Sequence[int],
    workers: int,
    decode_workers: int,
    settings: dict[str, str] | None = None,
) -> Iterator[RunningServer]:
    """Serve ``url`` pinned to ``cores``, key rate limits lifted (``settings``: more
    ``HASHWALL_`` variables); wait for ``/readyz``."""
    import httpx

    port = _free_port()
    argv = [sys.executable, "-m", "hashwall.cli.serve", "--port", str(port)]
    argv += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    if shutil.which("taskset"):
        argv = ["taskset", "-c", ",".join(map(str, cores)), *argv]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHWALL_")}
    env.update(
        HASHWALL_DATABASE_URL=url,
        HASHWALL_RATE_LIMIT_KEY_PER_SECOND="1000000000",
        HASHWALL_RATE_LIMIT_KEY_BURST="1000000000",
        HASHWALL_DECODE_WORKERS=str(decode_workers),
    )
    env.update(settings or {})
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() - started > 1800:
                raise TimeoutError("the server was not ready after 30 minutes")
            time.sleep(0.1)
        yield RunningServer(process, port, time.perf_counter() - started)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
