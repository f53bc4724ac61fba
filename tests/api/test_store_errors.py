"""Database errors as answers: unavailability is 503 store_unavailable, anything else a 500.

A database error's message can quote the statement's parameters: neither answer nor log carries
it. (The outage itself, PostgreSQL stopped under a server, is in tests/faults/test_store_outage.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from app_harness import assert_problem, running_api
from support import fresh_database_url

SECRET = "SECRET-PARAMETER-VALUE"
MD5 = {"signals": [{"type": "md5", "value": "0" * 32}]}


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (OperationalError("SELECT 1", {"p": SECRET}, Exception(SECRET)), 503, "store_unavailable"),
        (IntegrityError("INSERT", {"p": SECRET}, Exception(SECRET)), 500, "internal_error"),
    ],
)
def test_database_errors_are_answers_without_their_message(
    error: Exception,
    status: int,
    code: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    with running_api(fresh_database_url("sqlite", tmp_path, request)) as api:
        monkeypatch.setattr("hashwall.api.routes.check.check_in_memory", fail)
        caplog.set_level("DEBUG")
        response = api.post("/v1/check", "feed", json=MD5)
        assert_problem(response, status, code)
        assert SECRET not in response.text and SECRET not in caplog.text
        assert type(error).__name__ in caplog.text
        if status == 503:
            assert response.headers["Retry-After"] == "1"
        else:
            assert "POST /v1/check" in caplog.text
