"""LISTEN comes back after the store does: a PostgreSQL restart is followed by a new LISTEN.

Before, the first failure of the listener meant polling only for the life of the process
(additions seen in ~160 ms instead of ~9 ms). A cluster of the test's own is restarted under a
following live index; the listener reconnects, says so once, and notifications arrive again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
from pg_cluster import private_cluster

from hashwall.domain import Actor
from hashwall.hashing.signals import Signal
from hashwall.service.context import ServiceContext
from hashwall.service.indexes import LiveIndexes
from hashwall.service.intake import ItemSubmission, create_case
from hashwall.settings import Settings
from hashwall.store import migrate
from hashwall.store.engine import make_engine
from hashwall.store.repo import Store

from support import CHEAP_PINS


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60  # a bound on the wait, not on the speed
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _bank(ctx: ServiceContext, sha: str) -> None:
    create_case(ctx, Actor.reporter(), [ItemSubmission((Signal("sha256", sha),))])


def test_listen_reconnects_after_the_store_restarts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hashwall.service.indexes")
    with private_cluster() as cluster:
        engine = make_engine(cluster.url)
        try:
            migrate.upgrade(engine)
            ctx = ServiceContext(Store(engine), Settings(database_url=cluster.url), pins=CHEAP_PINS)
            with LiveIndexes(ctx.store, ctx.settings) as live:
                _wait_for(live.listening.is_set, "LISTEN")
                _bank(ctx, "1" * 64)
                _wait_for(lambda: live.notifications >= 1, "a notification")

                cluster.stop("fast")
                _wait_for(lambda: not live.listening.is_set(), "the listener to notice")
                cluster.start()
                _wait_for(live.listening.is_set, "LISTEN again")
                assert live.listen_reconnects == 1
                seen = live.notifications
                _bank(ctx, "2" * 64)
                _wait_for(lambda: live.notifications > seen, "a notification after the restart")
                _wait_for(lambda: live.current and len(live.digests) == 2, "the index")
        finally:
            engine.dispose()
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("live index: LISTEN failed") for m in messages) == 1
    assert sum(m.startswith("live index: LISTEN again") for m in messages) == 1
