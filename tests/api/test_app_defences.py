"""The API's defences: PIN backoff, rate limits, body limits, problem+json, unknown case numbers
costing a PIN check, metrics (trusted proxies: test_client_address.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hashwall.service.context import PinHashing

from app_harness import (
    CHEAP_PINS,
    assert_problem,
    check_json,
    hashes_of,
    item_json,
    jpeg,
    photo,
    running_api,
)
from support import fresh_database_url

MD5 = {"signals": [{"type": "md5", "value": "0" * 32}]}


@pytest.fixture
def url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return fresh_database_url("sqlite", tmp_path, request)


def test_wrong_pins_back_off_with_429_and_retry_after(url: str) -> None:
    with running_api(url, pin_free_attempts=3, pin_backoff_base=30.0) as api:
        case = api.post("/v1/cases", json={"items": [MD5]}).json()
        wrong = {"case_number": case["case_number"], "pin": "00000000"}
        for _ in range(3):
            assert_problem(api.post("/v1/cases/status", json=wrong), 401, "invalid_credentials")
        for path in ("/v1/cases/status", "/v1/cases/withdraw", "/v1/cases/items"):
            body: dict[str, Any] = dict(wrong)
            if path.endswith("items"):
                body["items"] = [MD5]
            limited = api.post(path, json=body)
            assert_problem(limited, 429, "rate_limited")
            assert int(limited.headers["Retry-After"]) >= 1
        # Even the right PIN waits from this address (backoff, not a lock: see below).
        right = {"case_number": case["case_number"], "pin": case["pin"]}
        assert_problem(api.post("/v1/cases/status", json=right), 429, "rate_limited")
        # Another address is not slowed by a stranger's guesses.
        with api.client.__class__(api.client.app, client=("198.51.100.9", 1)) as other:
            assert other.post("/v1/cases/status", json=right).status_code == 200


def test_unknown_case_number_costs_one_pin_check_like_a_wrong_pin(url: str) -> None:
    verified: list[str | None] = []

    def spy(pin_hash: str | None, pin: str) -> bool:
        verified.append(pin_hash)
        return CHEAP_PINS.verify(pin_hash, pin)

    with running_api(url) as api:
        api.ctx.pins = PinHashing(hash=CHEAP_PINS.hash, verify=spy)
        case = api.post("/v1/cases", json={"items": [MD5]}).json()
        wrong = api.post(
            "/v1/cases/status", json={"case_number": case["case_number"], "pin": "12345678"}
        )
        unknown = api.post(
            "/v1/cases/status", json={"case_number": "HW-0000-0000-0000", "pin": "12345678"}
        )
        assert wrong.json()["detail"] == unknown.json()["detail"]
        assert_problem(unknown, 401, "invalid_credentials")
        assert len(verified) == 2
        assert verified[0] is not None and verified[1] is None  # the dummy argon2 check ran


def test_client_rate_limit_answers_429_with_retry_after(url: str) -> None:
    with running_api(url, rate_limit_client_per_second=0.001, rate_limit_client_burst=2) as api:
        assert api.post("/v1/cases", json={"items": [MD5]}).status_code == 201
        assert api.post("/v1/cases", json={"items": [MD5]}).status_code == 201
        limited = api.post("/v1/cases", json={"items": [MD5]})
        assert_problem(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) >= 1
        # Keys are limited per key, not per address: a platform behind the same address goes on.
        assert api.post("/v1/check", "feed", json=MD5).status_code == 200
        # A bad key counts against the address.
        assert_problem(
            api.client.post("/v1/check", json=MD5, headers={"Authorization": "Bearer k.x"}),
            429,
            "rate_limited",
        )
        # Health and metrics are never limited.
        assert api.client.get("/healthz").status_code == 200


def test_key_rate_limit_is_per_key(url: str) -> None:
    with running_api(url, rate_limit_key_per_second=0.001, rate_limit_key_burst=2) as api:
        for _ in range(2):
            assert api.post("/v1/check", "feed", json=MD5).status_code == 200
        assert_problem(api.post("/v1/check", "feed", json=MD5), 429, "rate_limited")
        assert api.post("/v1/check", "chat", json=MD5).status_code == 200


def test_bodies_over_their_limit_are_413(url: str) -> None:
    limits = {"max_json_bytes": 4096, "video_max_json_bytes": 8192, "max_input_bytes": 200_000}
    with running_api(url, **limits) as api:
        # Over both the JSON limit and the larger one of the routes that take video frames.
        big_json = b'{"case_number": "' + b"x" * 10_000 + b'"}'
        for path in (
            "/v1/cases/status",
            "/v1/cases",
            "/v1/cases/items",
            "/v1/check",
            "/v1/check/batch",
        ):
            response = api.post(
                path,
                "feed" if "check" in path else None,
                content=big_json,
                headers={"Content-Type": "application/json"},
            )
            assert_problem(response, 413, "payload_too_large")
        media = jpeg(photo(5, 640, 480), 100) + b"\0" * 300_000
        files = {"file": ("x.jpg", media, "image/jpeg")}
        assert_problem(api.post("/v1/check", "feed", files=files), 413, "media_too_large")
        assert_problem(api.post("/v1/cases", "intake_a", files=files), 413, "media_too_large")


def test_errors_are_problem_json_without_tracebacks(url: str) -> None:
    with running_api(url) as api:
        assert_problem(api.client.get("/v1/nowhere"), 404, "not_found")
        assert_problem(api.client.get("/v1/check"), 405, "method_not_allowed")
        bad = api.post(
            "/v1/check", "feed", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        body = assert_problem(bad, 422, "invalid_request")
        assert body["errors"]
        pin = "98765432"
        invalid = api.post("/v1/cases/status", json={"case_number": 5, "pin": pin})
        assert_problem(invalid, 422, "invalid_request")
        assert pin not in invalid.text  # inputs are never echoed
        wrong_type = api.post(
            "/v1/check", "feed", content=b"x", headers={"Content-Type": "text/plain"}
        )
        assert_problem(wrong_type, 415, "unsupported_content_type")
        hashes = api.post(
            "/v1/check", "feed", json={"signals": [{"type": "pdq", "value": "zz", "quality": 90}]}
        )
        assert_problem(hashes, 400, "invalid_hash")
        refused = api.post(
            "/v1/cases",
            json={"items": [{"signals": [{"type": "pdq", "value": "0" * 64, "quality": 10}]}]},
        )
        body = assert_problem(refused, 422, "no_items_accepted")
        assert body["refusals"][0]["code"] == "low_quality"


def test_unexpected_errors_are_a_500_problem_logged_without_details(
    url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "SECRET-IN-EXCEPTION-MESSAGE"

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError(secret)

    with running_api(url) as api:
        monkeypatch.setattr("hashwall.api.routes.check.check_in_memory", boom)
        caplog.set_level("DEBUG")
        response = api.post("/v1/check", "feed", json=MD5)
        assert_problem(response, 500, "internal_error")
        assert secret not in response.text
        assert "RuntimeError" in caplog.text
        assert secret not in caplog.text
        assert api.client.get("/healthz").status_code == 200


def test_media_is_refused_on_the_anonymous_channel(url: str) -> None:
    with running_api(url) as api:
        files = {"file": ("x.jpg", jpeg(photo(3)), "image/jpeg")}
        # A media form needs a key (a browser sends multipart cross-site without asking).
        assert_problem(api.post("/v1/cases", files=files), 415, "unsupported_content_type")


def test_metrics_count_routes_decisions_index_and_feed_lag(url: str) -> None:
    with running_api(url) as api:
        image = jpeg(photo(8))
        api.post("/v1/cases", "intake_a", json={"items": [item_json(hashes_of(image))]})
        api.catch_up()
        assert api.post("/v1/check", "feed", json=check_json(hashes_of(image))).status_code == 200
        api.get("/v1/feed", "feed", params={"limit": 1})
        text = api.get("/metrics", "admin").text
        assert (
            'hashwall_http_request_duration_seconds_bucket{le="0.001",method="POST",route="/v1/check"}'
            in text
        )
        assert 'hashwall_check_decisions_total{decision="block",platform="feed"} 1.0' in text
        assert 'hashwall_index_size{family="pdq"} 1.0' in text
        assert "hashwall_index_lag_seconds{pid=" in text
        assert 'hashwall_feed_lag_events{platform="feed"}' in text
        for secret in api.keys.values():
            assert secret.split(".")[0] not in text


def test_metrics_need_an_admin_key_unless_public(url: str) -> None:
    # Their labels name every platform and count its decisions.
    with running_api(url) as api:
        assert_problem(api.get("/metrics"), 401, "invalid_key")
        assert_problem(api.get("/metrics", "feed"), 403, "forbidden")
        assert_problem(api.get("/metrics", "intake_a"), 403, "forbidden")
        answer = api.get("/metrics", "admin")
        assert answer.status_code == 200 and "hashwall_http_requests_total" in answer.text


def test_public_metrics_need_no_key(url: str) -> None:
    with running_api(url, metrics_public=True) as api:  # scraped on a private interface only
        assert api.get("/metrics").status_code == 200


def test_bodies_a_browser_sends_cross_site_without_asking_are_refused(url: str) -> None:
    """No CORS preflight for text/plain, form-encoded or multipart bodies: another site's page
    could make a visitor's browser create cases. Such bodies are refused everywhere; a media
    form only with a key (a browser sends no Authorization header cross-site unasked)."""
    case = json.dumps({"items": [item_json(hashes_of(jpeg(photo(11))))]}).encode()
    with running_api(url) as api:
        before = api.client.post("/v1/cases/status", json={"case_number": "x", "pin": "y"})
        for headers in (
            {},  # no Content-Type at all
            {"Content-Type": "text/plain"},
            {"Content-Type": "application/x-www-form-urlencoded"},
        ):
            refused = api.client.post("/v1/cases", content=case, headers=headers)
            assert_problem(refused, 415, "unsupported_content_type")
        form = api.client.post("/v1/cases", files={"file": ("a.jpg", b"\xff\xd8", "image/jpeg")})
        assert_problem(form, 415, "unsupported_content_type")
        with api.ctx.store.read() as repo:
            assert repo.list_cases() == []
        # The same body as JSON is taken; a route without a body needs no Content-Type.
        assert api.client.post("/v1/cases", content=case, headers=_JSON).status_code == 201
        assert before.headers["cache-control"] == "no-store"
        assert before.headers["x-content-type-options"] == "nosniff"
        health = api.client.get("/healthz")
        assert health.headers["x-content-type-options"] == "nosniff"
        assert "no-store" not in health.headers.get("cache-control", "")


_JSON = {"Content-Type": "application/json"}
