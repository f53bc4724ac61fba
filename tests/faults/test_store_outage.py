"""A store outage is answered ``503 store_unavailable`` with ``Retry-After``, logged once each way.

PostgreSQL stopped under a serving process (a cluster of the test's own): every request that
needs the store gets the documented answer, not a ``500`` and a traceback per request; the log
says when the store went away and when it came back (with a count); ``/readyz`` says not ready
meanwhile; the first request after the store is back is served, without a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pg_cluster import Cluster, private_cluster

from hashwall.hashing.image import hash_image
from live_server import Served, prepare_store, served_in_thread

from support import encode, textured_rgb


@pytest.fixture
def served_cluster() -> Iterator[tuple[Cluster, Served]]:
    """A private cluster and a server over it."""
    with private_cluster() as cluster:
        keys = prepare_store(cluster.url)
        # Public metrics (a private scrape): an admin key cannot be verified while the store is
        # down, and this test reads the metrics of the outage.
        with served_in_thread(cluster.url, keys, metrics_public=True) as served:
            yield cluster, served


def _case_body() -> dict[str, Any]:
    hashes = hash_image(encode(textured_rgb(320, 240, seed=5), "JPEG", quality=90))
    pdq = {"type": "pdq", "value": hashes.pdq.hex, "quality": hashes.quality}
    return {"items": [{"signals": [pdq, {"type": "sha256", "value": hashes.sha256}]}]}


def test_a_stopped_store_answers_503_with_retry_after_and_logs_once_each_way(
    served_cluster: tuple[Cluster, Served], caplog: pytest.LogCaptureFixture
) -> None:
    cluster, server = served_cluster
    body = _case_body()
    caplog.set_level(logging.WARNING, logger="hashwall.api")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/v1/cases", json=body).status_code == 201
        cluster.stop("fast")
        for _ in range(20):
            answer = http.post("/v1/cases", json=body)
            assert answer.status_code == 503, answer.text
            assert answer.json()["code"] == "store_unavailable"
            assert int(answer.headers["Retry-After"]) >= 1
        ready = http.get("/readyz")
        assert ready.status_code == 503 and "database" in ready.json()["detail"]
        assert "hashwall_store_up 0.0" in http.get("/metrics").text

        cluster.start()
        deadline = time.monotonic() + 60  # a bound on the wait, not on the speed
        while (answer := http.post("/v1/cases", json=body)).status_code != 201:
            assert answer.status_code == 503 and time.monotonic() < deadline, answer.text
            time.sleep(0.1)
        metrics = http.get("/metrics").text
        assert "hashwall_store_up 1.0" in metrics
        refused = [ln for ln in metrics.splitlines() if ln.startswith("hashwall_store_unavailable")]
        assert refused and float(refused[0].rsplit(" ", 1)[1]) >= 20

    api = [r for r in caplog.records if r.name == "hashwall.api"]
    down = [r for r in api if r.getMessage().startswith("store unavailable")]
    up = [r for r in api if r.getMessage().startswith("store available again")]
    assert len(down) == 1 and len(up) == 1, [r.getMessage() for r in api]
    assert "requests were answered 503" in up[0].getMessage()
    assert not [r for r in api if "unexpected" in r.getMessage()]  # no traceback per request
