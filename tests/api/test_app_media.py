"""Media through the API: hashed in a decoder worker, then gone (sentinel); and decoders that
crash or hang cost one request a clean error, never the service."""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hashwall.sandbox.pool import DecodePool
from hashwall.settings import Settings

from app_harness import (
    assert_problem,
    hashes_of,
    item_json,
    jpeg,
    media_with_sentinel,
    photo,
    running_api,
)
from support import fresh_database_url

# Workers that break when a job's bytes ask them to (see tests/sandbox/faulty_worker.py): the
# fault happens inside a worker process during the pool's real exchange, as a segfault or a
# stuck libjpeg would; the fault code lives in the tests, never in hashwall.
FAULTY_WORKER = (sys.executable, str(Path(__file__).parents[1] / "sandbox" / "faulty_worker.py"))
CRASH = b"FAULT abort\n"
HANG = b"FAULT sleep 60\n"


@pytest.fixture(scope="module")
def pool() -> Iterator[DecodePool]:
    """One decoder worker with a 5 s time limit (a loaded CI machine needs the room)."""
    settings = Settings(decode_timeout=5.0, decode_queue_timeout=20.0)
    with DecodePool(settings, workers=1, worker_command=FAULTY_WORKER) as faulty:
        yield faulty


def _files_with(root: Path, needle: bytes, since: float) -> list[str]:
    found = []
    for dirpath, _, names in os.walk(root, onerror=lambda _: None):
        for name in names:
            path = Path(dirpath) / name
            try:
                stat = path.stat()
                if stat.st_mtime < since or stat.st_size > 200 * 1024 * 1024 or not path.is_file():
                    continue
                if needle in path.read_bytes():
                    found.append(str(path))
            except OSError:
                continue
    return found


def test_media_bytes_leave_no_trace_in_database_logs_or_temp_files(
    pool: DecodePool,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sentinel = b"HWSENTINEL-" + secrets.token_hex(12).encode()
    media = media_with_sentinel(sentinel)
    assert len(media) >= 5 * 1024 * 1024
    started = time.time() - 1
    caplog.set_level("DEBUG")
    url = fresh_database_url("sqlite", tmp_path, request)
    files = {"file": ("private-name.jpg", media, "image/jpeg")}
    with running_api(url, decode_pool=pool) as api:
        enrolled = api.post("/v1/cases", "intake_a", files=files)
        assert enrolled.status_code == 201, enrolled.text
        api.catch_up()
        checked = api.post("/v1/check", "feed", files=files, headers={"Idempotency-Key": "s-1"})
        assert checked.status_code == 200, checked.text
        assert checked.json()["decision"] == "block"
        # Errors on the same bytes carry none of them either.
        cut = {"file": ("x.jpg", media[: len(media) // 2], "image/jpeg")}
        broken = api.post("/v1/check", "feed", files=cut)
        assert 400 <= broken.status_code < 500
        assert sentinel not in broken.content
        assert b"private-name" not in broken.content
        pin = enrolled.json()["pin"]

    database = Path(url.removeprefix("sqlite:///")).parent
    stored = list(database.iterdir())
    assert any(p.name.endswith(".db") for p in stored)
    for path in stored:  # the database, its -wal and -shm
        content = path.read_bytes()
        assert sentinel not in content, path
        assert b"private-name" not in content, path
    assert sentinel.decode() not in caplog.text
    assert pin not in caplog.text
    assert _files_with(Path(tempfile.gettempdir()), sentinel, started) == []


def test_a_crashing_decoder_costs_one_request_not_the_service(
    pool: DecodePool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url("sqlite", tmp_path, request)
    good = jpeg(photo(21))
    with running_api(url, decode_pool=pool) as api:
        crash = api.post("/v1/check", "feed", files={"file": ("a.jpg", CRASH, "image/jpeg")})
        assert_problem(crash, 422, "decode_failed")
        assert api.client.get("/healthz").status_code == 200
        after = api.post("/v1/check", "feed", files={"file": ("b.jpg", good, "image/jpeg")})
        assert after.status_code == 200, after.text
        assert after.json()["decision"] == "allow"
        enrolled = api.post("/v1/cases", "intake_a", files={"file": ("c.jpg", CRASH, "image/jpeg")})
        assert_problem(enrolled, 422, "decode_failed")
    assert pool.stats().crashes >= 2


def test_a_hanging_decoder_times_out_cleanly(
    pool: DecodePool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url("sqlite", tmp_path, request)
    good = jpeg(photo(22))
    with running_api(url, decode_pool=pool) as api:
        hang = api.post("/v1/check", "feed", files={"file": ("a.jpg", HANG, "image/jpeg")})
        assert_problem(hang, 422, "decode_timeout")  # the 5 s limit, not the 60 s task
        assert (
            api.post(
                "/v1/check", "feed", json={"signals": item_json(hashes_of(good))["signals"]}
            ).status_code
            == 200
        )
        after = api.post("/v1/check", "feed", files={"file": ("b.jpg", good, "image/jpeg")})
        assert after.status_code == 200, after.text
    assert pool.stats().timeouts >= 1


def test_undecodable_media_is_a_4xx(
    pool: DecodePool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url("sqlite", tmp_path, request)
    with running_api(url, decode_pool=pool) as api:
        for data in (
            b"",
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            b"\xff\xd8\xff" + b"\0" * 50,
        ):
            response = api.post("/v1/check", "feed", files={"file": ("x", data, "image/jpeg")})
            assert 400 <= response.status_code < 500, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
        missing = api.post("/v1/check", "feed", files={"other": ("x", b"abc", "image/jpeg")})
        assert_problem(missing, 400, "malformed_body")
