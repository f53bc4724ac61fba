"""A real hashwall server for end-to-end tests: uvicorn on a free port, over real HTTP.

- :func:`served_in_thread`: ``create_app`` under ``uvicorn.Server`` in a background thread of
  the test process, with cheap argon2 parameters for PINs (as tests/service and tests/api).
- :func:`served_in_process`: ``python -m hashwall.cli.serve`` (the ``hashwall serve`` command)
  as a separate process, configured by ``HASHWALL_*`` variables only; PINs cost real argon2.

Both serve a store prepared by :func:`prepare_store`: migrated, one organisation with two
platforms (``feed`` reveals distance and orientation, ``chat`` does not), an intake partner,
and a key each (``admin``, ``feed``, ``chat``, ``intake``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from hashwall.api.app import create_app
from hashwall.domain import Actor
from hashwall.service import keys as key_service
from hashwall.service import tenants
from hashwall.service.context import ServiceContext
from hashwall.settings import Settings
from hashwall.store import migrate
from hashwall.store.engine import make_engine
from hashwall.store.repo import Store

from support import CHEAP_PINS, TEST_SETTINGS


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def prepare_store(database_url: str) -> dict[str, str]:
    """Migrate the store and create the tenants; the keys by name."""
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        ctx = ServiceContext(Store(engine), Settings(database_url=database_url))
        op = Actor.operator()
        tenants.add_organisation(ctx, op, "Social Co")
        reveal = tenants.PolicyUpdate(reveal_distance=True, reveal_orientation=True)
        tenants.add_platform(ctx, op, organisation="Social Co", name="feed", policy=reveal)
        tenants.add_platform(ctx, op, organisation="Social Co", name="chat")
        tenants.add_partner(ctx, op, "Helpline")
        return {
            "admin": key_service.create_api_key(ctx, op, role="admin").key,
            "feed": key_service.create_api_key(ctx, op, role="platform", platform="feed").key,
            "chat": key_service.create_api_key(ctx, op, role="platform", platform="chat").key,
            "intake": key_service.create_api_key(ctx, op, role="intake", partner="Helpline").key,
        }
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Served:
    """A running server: its base URL and the keys of its store."""

    url: str
    keys: dict[str, str]


def wait_ready(
    url: str, timeout: float = 180.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``/readyz`` until it answers 200 (the index is built and caught up).

    The limit is a guard against a hung start, not a speed check: a fresh checkout's first server
    may compile the PDQ kernels itself, which took over 60 s at load ~16.
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            response = httpx.get(f"{url}/readyz", timeout=2.0)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout} s: {last}")


def wait_indexed(url: str, size: int, timeout: float = 10.0) -> None:
    """Wait until the server's live index holds ``size`` PDQ hashes (it follows within 200 ms).

    A new item matches once the index has it; a removed one stops matching at once (the store
    is re-read before any non-allow answer), so only additions need this.
    """
    deadline = time.monotonic() + timeout
    while True:
        body = httpx.get(f"{url}/readyz", timeout=2.0).json()
        if body["index_size"] == size:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"index of {url} holds {body['index_size']} hashes, not {size}")
        time.sleep(0.02)


@contextmanager
def served_in_thread(database_url: str, keys: dict[str, str], **settings: Any) -> Iterator[Served]:
    """Serve the app (cheap PINs) in a background thread of this process."""
    engine = make_engine(database_url)
    config = Settings(database_url=database_url, **{**TEST_SETTINGS, **settings})
    ctx = ServiceContext(Store(engine), config, pins=CHEAP_PINS)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ctx=ctx),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            proxy_headers=False,
        )
    )
    thread = threading.Thread(target=server.run, name="hashwall-e2e-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url)
        yield Served(url, keys)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        engine.dispose()


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a server process: the store and generous limits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHWALL_")}
    env["HASHWALL_DATABASE_URL"] = database_url
    for name, value in TEST_SETTINGS.items():
        env[f"HASHWALL_{name.upper()}"] = str(value)
    env.update(extra)
    return env


@contextmanager
def served_in_processes(
    database_url: str, keys: dict[str, str], count: int = 1, **extra_env: str
) -> Iterator[list[Served]]:
    """Run ``count`` ``hashwall serve`` processes (``python -m hashwall.cli.serve``) at once."""
    processes: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for _ in range(count):
            port = free_port()
            argv = [sys.executable, "-m", "hashwall.cli.serve", "--port", str(port)]
            argv += ["--log-level", "warning"]
            process = subprocess.Popen(argv, env=server_env(database_url, **extra_env))
            processes.append((process, f"http://127.0.0.1:{port}"))
        for process, url in processes:
            wait_ready(url, process=process)
        yield [Served(url, keys) for _, url in processes]
    finally:
        for process, _ in processes:
            process.terminate()
        for process, _ in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def served_in_process(
    database_url: str, keys: dict[str, str], **extra_env: str
) -> Iterator[Served]:
    """Run one ``hashwall serve`` process on a free port."""
    with served_in_processes(database_url, keys, 1, **extra_env) as [served]:
        yield served


def indexed_at_least(url: str, at_least: int, timeout: float = 10.0) -> int:
    """The served index's size (``/readyz``) once it holds ``at_least`` hashes, or when
    ``timeout`` seconds have passed (the caller asserts on what it gets): for a video, whose
    hashes are counted by frame, where :func:`wait_indexed` wants an exact size."""
    deadline = time.monotonic() + timeout
    while True:
        size = int(httpx.get(f"{url}/readyz", timeout=2.0).json()["index_size"])
        if size >= at_least or time.monotonic() > deadline:
            return size
        time.sleep(0.02)
