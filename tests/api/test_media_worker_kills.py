"""The media check path under load while decoder workers are killed at random.

Every request gets an answer (a decision, or a clean problem document: never a 500), nothing
hangs, and the pool is full again afterwards.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from app_harness import Api, jpeg, photo, running_api
from support import fresh_database_url

REQUESTS_PER_THREAD = 15
THREADS = 4


def _decoder_workers() -> list[int]:
    """This process's decoder worker processes."""
    me, found = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if ppid == me and b"hashwall.sandbox.worker" in cmdline:
            found.append(int(stat.parent.name))
    return found


def _wait_for(condition: object, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + 60  # a bound on the wait, not on the speed
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_media_checks_get_answers_while_decoders_are_killed(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("reads /proc")
    database = fresh_database_url("sqlite", tmp_path, request)
    media = jpeg(photo(21))
    with running_api(database, decode_workers=2) as api:
        first = api.post("/v1/check", "feed", files={"file": ("a.jpg", media, "image/jpeg")})
        assert first.status_code == 200, first.text  # the pool is up
        answers: list[tuple[int, str]] = []
        lock = threading.Lock()
        done = threading.Event()

        def load(served: Api) -> None:
            for _ in range(REQUESTS_PER_THREAD):
                files = {"file": ("a.jpg", media, "image/jpeg")}
                response = served.post("/v1/check", "feed", files=files)
                body = response.json()
                code = body.get("decision") or body.get("code", "?")
                with lock:
                    answers.append((response.status_code, str(code)))

        def kill() -> None:
            rng = random.Random(4)
            while not done.wait(0.15):
                workers = _decoder_workers()
                if workers:
                    os.kill(rng.choice(workers), signal.SIGKILL)

        killer = threading.Thread(target=kill, daemon=True)
        threads = [threading.Thread(target=load, args=(api,)) for _ in range(THREADS)]
        killer.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        done.set()
        killer.join(timeout=10)
        assert not any(t.is_alive() for t in threads), "a request hung"

        assert len(answers) == THREADS * REQUESTS_PER_THREAD
        print("\nmedia checks under decoder kills:", dict(Counter(answers)))
        statuses = {status for status, _ in answers}
        assert 500 not in statuses, answers
        for status, code in answers:
            assert status == 200 or (400 <= status < 600 and code != "internal_error"), answers
        assert any(status == 200 for status, _ in answers)
        pool = api.state.decode_pool
        assert pool is not None
        _wait_for(lambda: pool.stats().workers == 2 and pool.stats().idle == 2, "a full pool")
        assert pool.stats().crashes > 0  # the killer did hit workers in use or idle
        after = api.post("/v1/check", "feed", files={"file": ("a.jpg", media, "image/jpeg")})
        assert after.status_code == 200, after.text
