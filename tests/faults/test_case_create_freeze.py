"""A case creation that times out while PostgreSQL is frozen, retried, leaves one case.

The fault as it was seen: the store froze (every PostgreSQL process stopped), a create timed out
at the client, committed when the store came back, and the retry made a second case (the person
holds the PIN of one; withdrawing it leaves the image banked through the other). With the same
``Idempotency-Key`` on the retry, the server answers it with the first answer.

A PostgreSQL cluster of the test's own (``pg_cluster``), never the machine's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from pg_cluster import Cluster, private_cluster
from sqlalchemy import func, select

from hashwall.client import Client, ConnectionFailed, new_idempotency_key
from hashwall.hashing.image import hash_image
from hashwall.store.engine import make_engine
from hashwall.store.tables import cases
from live_server import Served, prepare_store, served_in_thread

from support import encode, textured_rgb

#: The client's timeout while the store is frozen (the create cannot finish in it).
SHORT = 2.0


@pytest.fixture
def frozen_setup() -> Iterator[tuple[Cluster, Served]]:
    """A private cluster and a server over it."""
    with private_cluster() as cluster:
        keys = prepare_store(cluster.url)
        with served_in_thread(cluster.url, keys) as served:
            yield cluster, served


def _cases(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(cases)).scalar_one())
    finally:
        engine.dispose()


def _wait_for_cases(url: str, count: int) -> None:
    deadline = time.monotonic() + 60  # a bound on the wait, not on the speed
    while _cases(url) < count:
        assert time.monotonic() < deadline, f"the store never held {count} cases"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_create_retried_after_a_frozen_store_makes_one_case(
    frozen_setup: tuple[Cluster, Served],
) -> None:
    cluster, server = frozen_setup
    hashes = hash_image(encode(textured_rgb(320, 240, seed=7), "JPEG", quality=90))
    items = [hashes]
    body = {
        "items": [
            {
                "signals": [
                    {"type": "pdq", "value": hashes.pdq.hex, "quality": hashes.quality},
                    {"type": "sha256", "value": hashes.sha256},
                ]
            }
        ]
    }

    # The fault itself: without a key, the create that timed out commits after the thaw, and
    # the retry makes a second case.
    with cluster.frozen(), pytest.raises(httpx.TimeoutException):
        httpx.post(f"{server.url}/v1/cases", json=body, timeout=SHORT)
    _wait_for_cases(cluster.url, 1)
    retried = httpx.post(f"{server.url}/v1/cases", json=body, timeout=30)
    assert retried.status_code == 201, retried.text
    assert _cases(cluster.url) == 2

    # The SDK's way: one key for the logical request, sent again on the retry.
    key = new_idempotency_key()
    hurried = Client(server.url, timeout=SHORT, retries=0)
    with cluster.frozen(), hurried, pytest.raises(ConnectionFailed):
        hurried.create_case(items, idempotency_key=key)
    with Client(server.url, timeout=30, backoff=0.2) as patient:
        created = patient.create_case(items, idempotency_key=key)
        _wait_for_cases(cluster.url, 3)
        assert _cases(cluster.url) == 3  # the frozen create, answered to its retry
        status = patient.case_status(created.case_number, created.pin)
        assert status.case_number == created.case_number
        again = patient.create_case(items, idempotency_key=key)
        assert (again.case_number, again.pin) == (created.case_number, created.pin)
    assert _cases(cluster.url) == 3
