"""The SDK sends one ``Idempotency-Key`` per logical request and retries with it (bounded).

A create that timed out at the client may have committed: the retry must carry the same key so
that the server answers it with the first answer instead of making a second case. Requests
without a key are never retried (a second try could do the thing twice).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest

from hashwall.client import (
    MAX_BACKOFF,
    ApiError,
    AsyncClient,
    Client,
    ConnectionFailed,
    api_error_class,
    retry_wait,
    routes,
)

CREATED = {
    "case_number": "HW-TEST",
    "pin": "AAAA-BBBB-CCCC",
    "channel": "anonymous",
    "items": [{"index": 0, "status": "accepted", "item_ref": "itm_1"}],
}
WITHDRAWN = {"case_number": "HW-TEST", "case_withdrawn": True, "withdrawn_items": ["itm_1"]}
ITEM = [{"type": "sha256", "value": "a" * 64}]


def _problem(status: int, code: str, retry_after: str | None = "0") -> httpx.Response:
    headers = {"Content-Type": "application/problem+json"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    body = {"type": "about:blank", "title": code, "status": status, "code": code, "detail": code}
    return httpx.Response(status, headers=headers, content=json.dumps(body))


class Script:
    """Answers requests in order from a script: a response, or an exception to raise."""

    def __init__(self, *steps: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0)
        return step(request) if callable(step) else step

    @property
    def keys(self) -> list[str | None]:
        return [r.headers.get("Idempotency-Key") for r in self.requests]


def _timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _client(script: Script, retries: int = 3) -> Client:
    return Client(
        "http://hashwall.test", transport=httpx.MockTransport(script), retries=retries, backoff=0
    )


def test_a_timed_out_create_is_retried_with_the_same_key() -> None:
    script = Script(
        _timeout,
        _problem(503, "store_unavailable"),
        _refused,
        httpx.Response(201, json=CREATED),
    )
    with _client(script) as client:
        created = client.create_case([ITEM])
    assert created.case_number == "HW-TEST"
    assert len(script.requests) == 4
    assert len(set(script.keys)) == 1 and script.keys[0] is not None
    assert len(script.keys[0]) >= 22  # long enough for the anonymous channel


def test_each_logical_request_has_its_own_key() -> None:
    script = Script(*(httpx.Response(201, json=CREATED) for _ in range(2)))
    with _client(script) as client:
        client.create_case([ITEM])
        client.create_case([ITEM], idempotency_key="my-own-key-0123456789-abcdef")
    assert script.keys[0] != script.keys[1] == "my-own-key-0123456789-abcdef"


def test_add_items_withdraw_and_vouch_carry_a_key_and_retry() -> None:
    script = Script(
        _timeout,
        httpx.Response(200, json={"case_number": "HW-TEST", "items": []}),
        _problem(503, "overloaded"),
        httpx.Response(200, json=WITHDRAWN),
        _timeout,
        httpx.Response(200, json={"case_number": "HW-TEST", "vouched_items": []}),
    )
    with _client(script) as client:
        client.add_items("HW-TEST", [ITEM], pin="AAAA-BBBB-CCCC")
        client.withdraw("HW-TEST", "AAAA-BBBB-CCCC")
        client.vouch("HW-TEST", "AAAA-BBBB-CCCC")
    paths = [r.url.path for r in script.requests]
    assert paths == ["/v1/cases/items"] * 2 + ["/v1/cases/withdraw"] * 2 + ["/v1/cases/vouch"] * 2
    keys = script.keys
    assert None not in keys and keys[0] == keys[1] and keys[2] == keys[3] and keys[4] == keys[5]
    assert len({keys[0], keys[2], keys[4]}) == 3


def test_retries_are_bounded() -> None:
    script = Script(*([_timeout] * 3))
    with _client(script, retries=2) as client, pytest.raises(ConnectionFailed):
        client.create_case([ITEM])
    assert len(script.requests) == 3


def test_answers_a_retry_cannot_change_are_not_retried() -> None:
    script = Script(_problem(400, "invalid_input", None), _problem(429, "rate_limited"))
    with _client(script) as client:
        with pytest.raises(ApiError) as caught:
            client.create_case([ITEM])
        assert caught.value.code == "invalid_input"
        with pytest.raises(ApiError) as caught:
            client.create_case([ITEM])
        assert caught.value.code == "rate_limited"
    assert len(script.requests) == 2


def test_a_request_without_a_key_is_never_retried() -> None:
    script = Script(_timeout)
    with _client(script) as client, pytest.raises(ConnectionFailed):
        client.case_status("HW-TEST", "AAAA-BBBB-CCCC")
    assert script.keys == [None]


def test_the_wait_doubles_follows_retry_after_and_is_capped() -> None:
    call = routes.create_case([ITEM], None, "upload", "k" * 36)
    down = ConnectionFailed("down")
    assert [retry_wait(call, n, 5, 0.5, down) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert retry_wait(call, 5, 5, 0.5, down) is None
    overloaded = api_error_class("overloaded", 503)
    assert retry_wait(call, 0, 5, 0.5, overloaded("busy", retry_after=7)) == 7
    assert retry_wait(call, 0, 5, 0.5, overloaded("busy", retry_after=600)) == MAX_BACKOFF
    unkeyed = routes.case_status("HW-TEST", "AAAA-BBBB-CCCC")
    assert retry_wait(unkeyed, 0, 5, 0.5, down) is None


def test_the_async_twin_retries_with_the_same_key() -> None:
    script = Script(_timeout, _problem(503, "store_unavailable"), httpx.Response(201, json=CREATED))

    async def main() -> str:
        transport = httpx.MockTransport(script)
        async with AsyncClient("http://hashwall.test", transport=transport, backoff=0) as client:
            return (await client.create_case([ITEM])).case_number

    assert asyncio.run(main()) == "HW-TEST"
    assert len(script.requests) == 3 and len(set(script.keys)) == 1
