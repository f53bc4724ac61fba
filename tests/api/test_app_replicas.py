"""Two replicas (two apps over one store) sharing Redis: idempotency and limits hold across
them, and a withdrawal served by one is final for the other."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashwall.api.app import create_app
from hashwall.service.context import ServiceContext
from hashwall.settings import Settings
from hashwall.store.repo import Store

from app_harness import (
    CLIENT,
    TEST_SETTINGS,
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


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_replicas_share_idempotency_limits_and_withdrawals(
    backend: str, redis_url: tuple[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url, prefix = redis_url
    database = fresh_database_url(backend, tmp_path, request)
    shared = {"redis_url": url, "redis_prefix": prefix, "limits_secret": "test-secret"}
    image = jpeg(photo(31))
    with running_api(database, **shared, pin_free_attempts=2, pin_backoff_base=30.0) as one:
        settings = Settings(database_url=database, **{**TEST_SETTINGS, **shared})
        second_ctx = ServiceContext(
            Store.from_url(database), settings.model_copy(update={"pin_free_attempts": 2})
        )
        second_ctx.pins = one.ctx.pins
        with TestClient(create_app(ctx=second_ctx), client=CLIENT) as two:
            case = one.post("/v1/cases", json={"items": [item_json(hashes_of(image))]}).json()
            one.catch_up()
            assert second_ctx.live is not None
            second_ctx.live.catch_up()
            headers = {**one.auth("feed"), "Idempotency-Key": "replica-1"}
            body = check_json(hashes_of(image))
            first = one.client.post("/v1/check", json=body, headers=headers)
            again = two.post("/v1/check", json=body, headers=headers)
            assert first.json()["decision"] == "review"
            assert again.json() == first.json()
            assert one.match_rows() == 1

            wrong = {"case_number": case["case_number"], "pin": "00000000"}
            for _ in range(2):
                assert_problem(one.post("/v1/cases/status", json=wrong), 401, "invalid_credentials")
            assert_problem(two.post("/v1/cases/status", json=wrong), 429, "rate_limited")

            # A third replica, reached from another address (the guesser's backoff is not ours).
            third_ctx = ServiceContext(Store.from_url(database), settings, pins=one.ctx.pins)
            with TestClient(create_app(ctx=third_ctx), client=("198.51.100.20", 1)) as three:
                done = three.post(
                    "/v1/cases/withdraw",
                    json={"case_number": case["case_number"], "pin": case["pin"]},
                )
                assert done.status_code == 200, done.text
            third_ctx.store.dispose()
            fresh = one.client.post("/v1/check", json=body, headers=one.auth("feed"))
            assert fresh.json()["decision"] == "allow"
        second_ctx.store.dispose()
