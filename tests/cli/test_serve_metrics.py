"""``hashwall serve --workers N``: one scrape of ``/metrics`` reports every worker."""

from __future__ import annotations

import re
import secrets
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from live_server import free_port, prepare_store, server_env, wait_ready

from support import fresh_database_url

CHECKS = 60
CONNECTIONS = 6


def _metric(text: str, pattern: str) -> list[tuple[str, float]]:
    """(labels, value) of every sample whose name and labels match ``pattern``."""
    found = []
    for line in text.splitlines():
        match = re.fullmatch(rf"({pattern})(\{{[^}}]*\}})? (\S+)", line)
        if match:
            found.append((match.group(2) or "", float(match.group(3))))
    return found


def _shared_dir(supervisor: int) -> Path | None:
    """The multiprocess directory a worker of ``supervisor`` was given (Linux /proc)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children")
    if not children.exists():
        return None
    for pid in children.read_text().split():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for entry in environ:
            if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
                return Path(entry.split(b"=", 1)[1].decode())
    return None


def _decisions_by_worker(shared: Path, scratch: Path) -> list[float]:
    """The checks each worker counted, read from its own file alone."""
    counts = []
    for file in sorted(shared.glob("counter_*.db")):
        scratch.mkdir(exist_ok=True)
        for old in scratch.iterdir():
            old.unlink()
        shutil.copy(file, scratch / file.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(scratch))
        text = generate_latest(registry).decode()
        counts += [value for _, value in _metric(text, "hashwall_check_decisions_total")]
    return counts


@contextmanager
def two_workers(url: str) -> Iterator[tuple[str, int]]:
    """``hashwall serve --workers 2`` on a free port: its base URL and the supervisor's pid."""
    port = free_port()
    argv = [sys.executable, "-m", "hashwall.cli.serve", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen([*argv, "--log-level", "warning"], env=server_env(url))
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, process=process)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_both_workers(base: str, admin: str) -> None:
    """Until one scrape shows two workers whose index is current (each builds its own)."""
    deadline = time.monotonic() + 60  # a bound on the wait, not on the speed
    while True:
        text = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {admin}"}).text
        current = _metric(text, "hashwall_index_current")
        if len(current) == 2 and all(value == 1.0 for _, value in current):
            return
        assert time.monotonic() < deadline, current
        time.sleep(0.2)


def _check_some(base: str, key: str, count: int) -> None:
    # One connection each: the kernel hands the connections to both workers.
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
        for _ in range(count):
            body = {"signals": [{"type": "md5", "value": secrets.token_hex(16)}]}
            answer = http.post("/v1/check", json=body)
            assert answer.status_code == 200, answer.text


@pytest.mark.slow
def test_one_scrape_counts_the_checks_of_every_worker(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url("sqlite", tmp_path, request)
    keys = prepare_store(url)
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    with two_workers(url) as (base, supervisor):
        shared = _shared_dir(supervisor)
        if shared is not None:  # private to this server
            assert stat.S_IMODE(shared.stat().st_mode) == 0o700
        _wait_for_both_workers(base, keys["admin"])
        sent = 0
        for _ in range(10):  # rounds, until both workers have answered checks
            with ThreadPoolExecutor(CONNECTIONS) as pool:
                share = CHECKS // CONNECTIONS
                list(pool.map(lambda n: _check_some(base, keys["feed"], n), [share] * CONNECTIONS))
            sent += share * CONNECTIONS
            if shared is None:
                break
            per_worker = _decisions_by_worker(shared, tmp_path / "one")
            assert sum(per_worker) == sent, per_worker
            if len(per_worker) == 2:
                break
        text = httpx.get(f"{base}/metrics", headers=admin).text
    if shared is not None:  # where /proc shows the directory: both workers answered checks
        assert len(per_worker) == 2 and all(count > 0 for count in per_worker), per_worker
    decisions = _metric(text, "hashwall_check_decisions_total")
    assert decisions == [('{decision="allow",platform="feed"}', float(sent))], decisions
    answered = _metric(text, "hashwall_http_requests_total")
    checks = [value for labels, value in answered if 'route="/v1/check"' in labels]
    assert checks == [float(sent)], answered
    # Each worker's own gauges: one series per worker.
    assert len(_metric(text, "hashwall_index_last_seq")) == 2
    assert len(_metric(text, "hashwall_index_lag_seconds")) == 2
    assert _metric(text, "hashwall_store_up") == [("", 1.0)]
    if shared is not None:
        assert not shared.exists()  # removed when the server stopped
