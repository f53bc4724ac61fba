"""The case routes honour ``Idempotency-Key``: a retried create never makes a second case.

Creating a case, adding items, withdrawing and vouching answer a retry (same key, same body)
with the first answer, ``Idempotent-Replay: true``, for 10 minutes only (a create's answer holds
its PIN), in memory or in Redis as the check answers are.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import func, select

from hashwall.api.defences.idempotency import (
    CASE_TTL_SECONDS,
    MIN_ANONYMOUS_KEY_LENGTH,
    PURGE_SECONDS,
    InProcessIdempotency,
    StoredAnswer,
)
from hashwall.store.tables import cases, items

from app_harness import Api, hashes_of, item_json, jpeg, photo, running_api
from support import fresh_database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """The API over a fresh store on each back end."""
    url = fresh_database_url(str(request.param), tmp_path, request)
    with running_api(url) as served:
        yield served


def _count(api: Api, table: Any) -> int:
    with api.ctx.store.read() as repo:
        return int(repo.conn.execute(select(func.count()).select_from(table)).scalar_one())


def _items(seed: int) -> dict[str, Any]:
    return {"items": [item_json(hashes_of(jpeg(photo(seed))))]}


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


@pytest.mark.parametrize("caller", [None, "intake_a"])
def test_a_retried_case_creation_gets_the_first_answer_and_makes_one_case(
    api: Api, caller: str | None
) -> None:
    key, body = _key(), _items(3)
    first = api.post("/v1/cases", caller, json=body, headers=key)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replay" not in first.headers
    again = api.post("/v1/cases", caller, json=body, headers=key)
    assert again.status_code == 201 and again.content == first.content
    assert again.headers["Idempotent-Replay"] == "true"
    assert again.headers["Cache-Control"] == "no-store"  # it carries the PIN
    assert _count(api, cases) == 1
    # Without a key, or with a new one, it is a new request.
    assert api.post("/v1/cases", caller, json=body).status_code == 201
    assert api.post("/v1/cases", caller, json=body, headers=_key()).status_code == 201
    assert _count(api, cases) == 3


def test_an_idempotency_key_is_kept_per_api_key_and_body(api: Api) -> None:
    key = _key()
    mine = api.post("/v1/cases", "intake_a", json=_items(3), headers=key)
    other_partner = api.post("/v1/cases", "intake_b", json=_items(3), headers=key)
    anonymous = api.post("/v1/cases", None, json=_items(3), headers=key)
    assert {r.status_code for r in (mine, other_partner, anonymous)} == {201}
    assert len({r.json()["case_number"] for r in (mine, other_partner, anonymous)}) == 3
    reused = api.post("/v1/cases", "intake_a", json=_items(4), headers=key)
    assert reused.status_code == 400 and reused.json()["code"] == "invalid_input"
    assert _count(api, cases) == 3


def test_an_anonymous_idempotency_key_must_be_unguessable(api: Api) -> None:
    short = {"Idempotency-Key": "x" * (MIN_ANONYMOUS_KEY_LENGTH - 1)}
    refused = api.post("/v1/cases", None, json=_items(3), headers=short)
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_input"
    assert "Idempotency-Key" in refused.json()["detail"]
    assert _count(api, cases) == 0
    # A partner's slot is its own: any key will do there.
    assert api.post("/v1/cases", "intake_a", json=_items(3), headers=short).status_code == 201


def test_adding_withdrawing_and_vouching_are_done_once_per_key(api: Api) -> None:
    created = api.post("/v1/cases", None, json=_items(3), headers=_key()).json()
    number, pin = created["case_number"], created["pin"]
    add, key = {"case_number": number, "pin": pin, **_items(5)}, _key()
    first = api.post("/v1/cases/items", None, json=add, headers=key)
    assert first.status_code == 200, first.text
    again = api.post("/v1/cases/items", None, json=add, headers=key)
    assert again.content == first.content and again.headers["Idempotent-Replay"] == "true"
    assert _count(api, items) == 2

    vouch, key = {"case_number": number, "pin": pin}, _key()
    first = api.post("/v1/cases/vouch", "intake_a", json=vouch, headers=key)
    assert first.status_code == 200, first.text
    again = api.post("/v1/cases/vouch", "intake_a", json=vouch, headers=key)
    assert again.content == first.content and again.headers["Idempotent-Replay"] == "true"

    withdraw, key = {"case_number": number, "pin": pin}, _key()
    first = api.post("/v1/cases/withdraw", None, json=withdraw, headers=key)
    assert first.status_code == 200, first.text
    again = api.post("/v1/cases/withdraw", None, json=withdraw, headers=key)
    assert again.content == first.content and again.headers["Idempotent-Replay"] == "true"
    # A wrong PIN is an error: never stored, never replayed as a success.
    wrong = {"case_number": number, "pin": "0000-0000-0000"}
    key = _key()
    for _ in range(2):
        response = api.post("/v1/cases/withdraw", None, json=wrong, headers=key)
        assert response.status_code >= 400 and "Idempotent-Replay" not in response.headers


def test_a_case_answer_holding_a_pin_lives_ten_minutes_in_redis(
    redis_url: tuple[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url, prefix = redis_url
    database = fresh_database_url("sqlite", tmp_path, request)
    with running_api(database, redis_url=url, redis_prefix=prefix) as api:
        key, body = _key(), _items(3)
        first = api.post("/v1/cases", None, json=body, headers=key)
        assert first.status_code == 201, first.text
        client = redis.Redis.from_url(url)
        try:
            stored = {k: client.ttl(k) for k in client.scan_iter(match=f"{prefix}idem:*")}
            pins = [k for k in stored if first.json()["pin"].encode() in (client.get(k) or b"")]
            assert len(pins) == 1  # the create's answer, for its retries
            assert 0 < stored[pins[0]] <= CASE_TTL_SECONDS
            again = api.post("/v1/cases", None, json=body, headers=key)
            assert again.content == first.content and _count(api, cases) == 1
        finally:
            client.close()


class FakeClock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_expired_case_answer_leaves_the_process_memory() -> None:
    clock = FakeClock()
    memory = InProcessIdempotency(clock=clock)
    answer = StoredAnswer(201, b'{"case_number": "HW-1", "pin": "AAAA-BBBB-CCCC"}')

    async def run() -> None:
        slot, print_ = memory.slot("anonymous", "cases.create", "k" * 36), memory.fingerprint(b"x")
        assert await memory.begin(slot, print_, pending=CASE_TTL_SECONDS) is None
        await memory.finish(slot, print_, answer, ttl=CASE_TTL_SECONDS)
        assert await memory.begin(slot, print_, pending=CASE_TTL_SECONDS) == answer  # a retry
        clock.now += CASE_TTL_SECONDS - 1
        assert await memory.begin(slot, print_, pending=CASE_TTL_SECONDS) == answer
        clock.now += PURGE_SECONDS + 2  # expired; the next new request sweeps it away
        other = memory.slot("anonymous", "cases.create", "o" * 36)
        assert await memory.begin(other, print_, pending=CASE_TTL_SECONDS) is None
        assert len(memory) == 1  # only the new reservation: no PIN left in memory

    asyncio.run(run())
