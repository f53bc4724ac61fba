"""``hashwall serve`` processes: two replicas sharing PostgreSQL agree at once on withdrawals."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np
import pytest

from hashwall import Client, hash_image
from live_server import prepare_store, served_in_process, served_in_processes, wait_indexed

from support import encode, fresh_database_url, textured_rgb


def test_withdrawal_served_by_one_replica_makes_the_other_answer_allow_at_once(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url("postgresql", tmp_path, request)
    keys = prepare_store(url)
    pixels = textured_rgb(400, 300, seed=8)
    original = hash_image(encode(pixels, "JPEG", quality=92))
    rotated = hash_image(
        encode(np.ascontiguousarray(np.rot90(pixels)), "JPEG", quality=80),
        fast=True,
        orientations=True,
    )
    with ExitStack() as stack:
        a, b = stack.enter_context(served_in_processes(url, keys, 2))
        intake_a = stack.enter_context(Client(a.url, key=keys["intake"]))
        feed_b = stack.enter_context(Client(b.url, key=keys["feed"]))

        case = intake_a.create_case([original])
        wait_indexed(b.url, 1)
        assert feed_b.check(rotated).decision == "block"

        withdrawn = intake_a.withdraw(case.case_number, case.pin)
        assert withdrawn.case_withdrawn
        # B's index may still hold the hash, but B re-reads the store before a non-allow answer.
        assert feed_b.check(rotated).decision == "allow"
        wait_indexed(b.url, 0)
        assert feed_b.check(rotated).decision == "allow"


def test_serve_on_sqlite_publishes_the_docs_and_the_schema(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url("sqlite", tmp_path, request)
    with served_in_process(url, prepare_store(url)) as server:
        schema = httpx.get(f"{server.url}/openapi.json").json()
        assert "/v1/check" in schema["paths"]
        docs = httpx.get(f"{server.url}/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        with Client(server.url) as client:
            assert client.ready().ready
