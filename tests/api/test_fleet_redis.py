"""The fleet's shared state in Redis, and what happens when Redis is down.

- Up: a case creation retried on another replica is replayed from Redis (one case).
- Down (nothing listens at the Redis URL): as documented (docs/deploy.md, docs/security.md),
  every limiter and the idempotency answers fall back to this process's memory and say so in the
  log. Checks keep working, a retried create is still answered once by the same process, rate
  limits and PIN backoff still hold per process (closed, not open), and nothing answers 500.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hashwall.api.app import create_app
from hashwall.service.context import ServiceContext
from hashwall.settings import Settings
from hashwall.store.repo import Store
from hashwall.store.tables import cases
from live_server import free_port

from app_harness import (
    CLIENT,
    TEST_SETTINGS,
    Api,
    TestClient,
    assert_problem,
    check_json,
    hashes_of,
    item_json,
    jpeg,
    photo,
    running_api,
)
from support import fresh_database_url


def _cases(api: Api) -> int:
    with api.ctx.store.read() as repo:
        return int(repo.conn.execute(select(func.count()).select_from(cases)).scalar_one())


def _body(seed: int) -> dict[str, Any]:
    return {"items": [item_json(hashes_of(jpeg(photo(seed))))]}


def test_a_case_creation_retried_on_another_replica_is_replayed(
    redis_url: tuple[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url, prefix = redis_url
    database = fresh_database_url("sqlite", tmp_path, request)
    shared = {"redis_url": url, "redis_prefix": prefix, "limits_secret": "test-secret"}
    with running_api(database, **shared) as one:
        settings = Settings(database_url=database, **{**TEST_SETTINGS, **shared})
        second = ServiceContext(Store.from_url(database), settings, pins=one.ctx.pins)
        try:
            with TestClient(create_app(ctx=second), client=CLIENT) as two:
                key, body = {"Idempotency-Key": str(uuid.uuid4())}, _body(3)
                first = one.post("/v1/cases", json=body, headers=key)
                assert first.status_code == 201, first.text
                again = two.post("/v1/cases", json=body, headers=key)
                assert again.status_code == 201 and again.content == first.content
                assert again.headers["Idempotent-Replay"] == "true"
                assert _cases(one) == 1
        finally:
            second.store.dispose()


def test_with_redis_down_checks_work_and_limits_hold_per_process(
    tmp_path: Path, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    database = fresh_database_url("sqlite", tmp_path, request)
    down = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    statuses: list[int] = []
    with running_api(database, redis_url=down, pin_free_attempts=2, pin_backoff_base=30.0) as api:

        def post(path: str, key: str | None = None, **kwargs: Any) -> Any:
            response = api.post(path, key, **kwargs)
            statuses.append(response.status_code)
            return response

        # A retried create is answered once (this process's memory keeps the answer).
        key, body = {"Idempotency-Key": str(uuid.uuid4())}, _body(3)
        first = post("/v1/cases", json=body, headers=key)
        assert first.status_code == 201, first.text
        again = post("/v1/cases", json=body, headers=key)
        assert again.content == first.content and _cases(api) == 1
        case = first.json()

        # Checks keep working.
        api.catch_up()
        upload = check_json(hashes_of(jpeg(photo(3))))
        checked = post("/v1/check", "feed", json=upload)
        assert checked.status_code == 200 and checked.json()["decision"] == "review"

        # PIN backoff still holds (per process): closed, not open.
        wrong = {"case_number": case["case_number"], "pin": "0000-0000-0000"}
        for _ in range(2):
            assert_problem(post("/v1/cases/status", json=wrong), 401, "invalid_credentials")
        assert_problem(post("/v1/cases/status", json=wrong), 429, "rate_limited")

        # And a person can still withdraw (from their own address, with their PIN).
        other = post("/v1/cases", json=_body(4), headers={"Idempotency-Key": str(uuid.uuid4())})
        done = post(
            "/v1/cases/withdraw",
            json={"case_number": other.json()["case_number"], "pin": other.json()["pin"]},
        )
        assert done.status_code == 200, done.text
    assert 500 not in statuses
    assert any("Redis" in r.getMessage() for r in caplog.records)
