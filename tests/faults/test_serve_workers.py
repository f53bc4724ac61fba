"""``hashwall serve --workers N`` dies as one: no orphaned workers, and a restart works at once.

Before, ``kill -9`` of the supervisor left its workers serving, orphaned, and the next start
failed with "Address already in use". Also: a worker killed under the supervisor is replaced,
and the other keeps answering meanwhile.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from live_server import free_port, prepare_store, server_env, wait_ready

from support import fresh_database_url


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _workers(supervisor: int) -> set[int]:
    """The supervisor's worker processes (multiprocessing's spawned children)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if (
            int(fields[1]) == supervisor
            and b"spawn_main" in cmdline
            and _alive(int(stat.parent.name))
        ):
            found.add(int(stat.parent.name))
    return found


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60  # a bound on the wait, not on the speed
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@contextmanager
def _serve(database_url: str, port: int, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    argv = [sys.executable, "-m", "hashwall.cli.serve", "--port", str(port)]
    argv += ["--workers", str(workers), "--log-level", "warning"]
    process = subprocess.Popen(argv, env=server_env(database_url), start_new_session=True)
    seen: set[int] = set()
    try:
        wait_ready(f"http://127.0.0.1:{port}", process=process)
        yield process
    finally:
        seen |= _workers(process.pid)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # its session: the supervisor and workers
        for pid in seen:  # orphans left by a failed test are ours to end
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.mark.slow
def test_workers_die_with_their_supervisor_and_a_restart_binds_at_once(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")
    database = fresh_database_url("sqlite", tmp_path, request)
    prepare_store(database)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with _serve(database, port, workers=2) as supervisor:
        _wait_for(lambda: len(_workers(supervisor.pid)) == 2, "two workers")
        first = _workers(supervisor.pid)

        # A worker killed: the other keeps answering, and it is replaced.
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        with httpx.Client(timeout=10) as http:
            for _ in range(20):
                assert http.get(f"{url}/healthz").status_code == 200
        _wait_for(
            lambda: len(_workers(supervisor.pid)) == 2 and victim not in _workers(supervisor.pid),
            "a replacement worker",
        )
        workers = _workers(supervisor.pid)

        # The supervisor killed: every worker goes, and the port is free at once.
        os.kill(supervisor.pid, signal.SIGKILL)
        supervisor.wait(timeout=30)
        _wait_for(lambda: not any(_alive(pid) for pid in workers), "the orphaned workers to exit")
    with _serve(database, port, workers=1):
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
