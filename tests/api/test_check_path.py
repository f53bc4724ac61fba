"""The check's request path: an ``allow`` found in memory needs no store and no thread pool;
a key revoked anywhere never gets a match."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

from hashwall.domain import Actor
from hashwall.service import keys
from hashwall.service.context import ServiceContext

from app_harness import (
    Api,
    assert_problem,
    check_json,
    hashes_of,
    item_json,
    jpeg,
    photo,
    running_api,
)
from support import BACKENDS, fresh_database_url

#: The live index follower's thread (service/live.py).
FOLLOWER = "hashwall-index"


@pytest.fixture(params=BACKENDS)
def url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return fresh_database_url(str(request.param), tmp_path, request)


class Counts:
    """Store transactions and thread-pool hops made for requests while counting."""

    def __init__(self) -> None:
        self.reads = self.writes = self.hops = 0


@contextmanager
def counting(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counts]:
    """Count the store transactions and the thread-pool hops (``anyio.to_thread.run_sync``,
    under every ``run_in_threadpool`` and FastAPI's sync dependencies) of requests; the live
    index follower's own reads are not the request's."""
    counts = Counts()
    store = api.ctx.store
    real_read, real_write, real_hop = store.read, store.write, anyio.to_thread.run_sync

    def ours() -> bool:
        return threading.current_thread().name != FOLLOWER

    def read() -> Any:
        counts.reads += ours()
        return real_read()

    def write() -> Any:
        counts.writes += ours()
        return real_write()

    async def hop(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        counts.hops += 1
        return await real_hop(func, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(store, "read", read)
        patch.setattr(store, "write", write)
        patch.setattr(anyio.to_thread, "run_sync", hop)
        yield counts


def test_an_allow_found_in_memory_touches_no_store_and_no_thread_pool(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    banked, other = jpeg(photo(21)), jpeg(photo(22))
    with running_api(url) as api:
        api.post("/v1/cases", "intake_a", json={"items": [item_json(hashes_of(banked))]})
        api.catch_up()
        with counting(api, monkeypatch) as first:
            answer = api.post("/v1/check", "feed", json=check_json(hashes_of(other)))
            assert answer.json()["decision"] == "allow"
        assert first.reads == 1 and first.hops == 1  # the key, read once and remembered
        with counting(api, monkeypatch) as then:
            for body in (
                check_json(hashes_of(other)),
                check_json(hashes_of(other), orientations=False),
            ):
                assert api.post("/v1/check", "feed", json=body).json()["decision"] == "allow"
        assert (then.reads, then.writes, then.hops) == (0, 0, 0)
        with counting(api, monkeypatch) as hit:
            answer = api.post("/v1/check", "feed", json=check_json(hashes_of(banked)))
            assert answer.json()["decision"] == "block"
        assert (hit.reads, hit.writes, hit.hops) == (0, 1, 1)  # one write transaction


def test_a_key_revoked_here_or_elsewhere_never_gets_a_match(url: str) -> None:
    banked, other = jpeg(photo(23)), jpeg(photo(24))
    with running_api(url) as api:
        api.post("/v1/cases", "intake_a", json={"items": [item_json(hashes_of(banked))]})
        api.catch_up()
        for name in ("feed", "chat"):  # both keys verified and remembered
            assert api.post("/v1/check", name, json=check_json(hashes_of(other))).status_code == 200

        # Revoked through this process's API: refused at once, whatever the answer would be.
        key_id = api.keys["feed"].partition(".")[0]
        assert (
            api.client.post(
                f"/v1/admin/keys/{key_id}/revoke", headers=api.auth("admin")
            ).status_code
            == 200
        )
        assert_problem(
            api.post("/v1/check", "feed", json=check_json(hashes_of(other))), 401, "invalid_key"
        )

        # Revoked by another process (the operator's CLI on the store): until this process's
        # follower reads the event an allow may still be answered, never a match...
        elsewhere = ServiceContext(api.ctx.store, api.ctx.settings)
        keys.revoke_api_key(elsewhere, Actor.operator(), api.keys["chat"])
        matches_before = api.match_rows()
        answer = api.post("/v1/check", "chat", json=check_json(hashes_of(banked)))
        assert_problem(answer, 401, "invalid_key")
        assert api.match_rows() == matches_before
        # ...and once it has, nothing at all.
        api.catch_up()
        assert_problem(
            api.post("/v1/check", "chat", json=check_json(hashes_of(other))), 401, "invalid_key"
        )
