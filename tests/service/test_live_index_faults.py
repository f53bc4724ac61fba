"""A live index whose follower stopped never answers ``allow``; the follower heals itself.

Faults are injected through the seam the index gives its tests (``read_events``, the event
reader) and time through its ``clock``; nothing in the index is patched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pytest

from hashwall.api.metrics import Metrics
from hashwall.api.problems import error_response
from hashwall.domain import Actor, Platform
from hashwall.errors import StoreUnavailable
from hashwall.hashing.pdq import PdqHash
from hashwall.hashing.signals import Signal
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.indexes import REBUILD_AFTER, LiveIndexes
from hashwall.service.intake import ItemSubmission, create_case
from hashwall.settings import Settings
from hashwall.store.events import Event
from hashwall.store.repo import Repository

if TYPE_CHECKING:
    from conftest import PdqFamily, World


class FakeClock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FaultyReader:
    """The event reader, with faults the test switches on: raise at an event (a bad event, or
    the store gone), or hang once until released (a hung connection)."""

    def __init__(self) -> None:
        self.bad_seq: int | None = None
        self.hang_once = False
        self.hang_all = False
        self.hung = 0
        self.hanging = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, repo: Repository, after: int, limit: int) -> Sequence[Event]:
        self.calls += 1
        if self.hang_once or self.hang_all:
            self.hang_once = False
            self.hung += 1
            self.hanging.set()
            self.release.wait(60)
        events = repo.read_events(after, limit)
        if self.bad_seq is not None and any(e.seq == self.bad_seq for e in events):
            raise ValueError(f"event {self.bad_seq} cannot be applied")
        return events


def _bank(ctx: ServiceContext, actor: Actor, code: PdqHash) -> str:
    receipt = create_case(ctx, actor, [ItemSubmission((Signal("pdq", code.hex, 90),))])
    return receipt.accepted[0].item_ref


def _platform_row(ctx: ServiceContext, actor: Actor) -> Platform:
    with ctx.store.read() as repo:
        row = repo.get_platform_by_id(actor.platform_id or 0)
    assert row is not None
    return row


def _ask(ctx: ServiceContext, actor: Actor, code: PdqHash) -> str:
    """The decision for an upload of ``code``, with the platform row as the API passes it (the
    path that answers ``allow`` from memory)."""
    upload = CheckRequest((Signal("pdq", code.hex, 90),))
    return check(ctx, actor, upload, platform=_platform_row(ctx, actor)).decision


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30  # a bound on the wait, not on the speed
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _stale_setup(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily, scan_max: int
) -> tuple[LiveIndexes, FaultyReader, Actor, PdqHash]:
    """A live index whose follower fails at the event of a photo banked after its build."""
    ctx.settings = Settings(database_url=ctx.settings.database_url, index_stale_scan_max=scan_max)
    helpline = world.partner("Helpline")
    platform = world.platform("Example", "feed")
    clock, reader = FakeClock(), FaultyReader()
    live = ctx.live = LiveIndexes(ctx.store, ctx.settings, clock=clock, read_events=reader)
    _bank(ctx, helpline, pdq_family.new())
    live.build()
    code = pdq_family.new()
    _bank(ctx, helpline, code)
    reader.bad_seq = live.last_seq + 1
    with pytest.raises(ValueError, match="cannot be applied"):
        live.follow_once()
    assert live.current  # failed just now, but within index_max_lag of the last good read
    clock.now += ctx.settings.index_max_lag + 0.1
    assert not live.current and live.search("pdq", [code], 0) == []  # the index itself is stale
    return live, reader, platform, code


def test_a_stale_small_bank_is_checked_in_the_store_not_answered_allow(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    live, _, platform, code = _stale_setup(ctx, world, pdq_family, scan_max=10_000)
    for _ in range(5):
        assert _ask(ctx, platform, code) == "block"
    assert _ask(ctx, platform, pdq_family.new()) == "allow"  # a real miss is still a miss
    assert live.stale_checks == {"store_scan": 6, "refused": 0}


def test_a_stale_large_bank_refuses_with_retry_after(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    live, reader, platform, code = _stale_setup(ctx, world, pdq_family, scan_max=0)
    for upload in (code, pdq_family.new()):  # hit or miss: no answer from a stale index
        with pytest.raises(StoreUnavailable) as caught:
            _ask(ctx, platform, upload)
        response = error_response(caught.value)
        assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert live.stale_checks == {"store_scan": 0, "refused": 2}
    # Once the follower gets past the fault, the index answers again.
    reader.bad_seq = None
    live.follow_once()
    assert live.current and _ask(ctx, platform, code) == "block"


def test_a_bad_event_is_passed_by_rebuilding_from_the_store(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    live, _, platform, code = _stale_setup(ctx, world, pdq_family, scan_max=0)
    hotline = world.partner("Hotline")
    later = pdq_family.new()
    _bank(ctx, hotline, later)
    with pytest.raises(ValueError):
        live.follow_once(REBUILD_AFTER - 1)  # not yet: retried at the same cursor
    assert live.follow_once(REBUILD_AFTER) == 0 and live.rebuilds == 1
    assert live.current and live.size == 3
    assert _ask(ctx, platform, code) == "block" and _ask(ctx, platform, later) == "block"
    fourth = pdq_family.new()
    _bank(ctx, hotline, fourth)
    assert live.follow_once() == 1 and _ask(ctx, platform, fourth) == "block"


def test_the_background_follower_recovers_from_a_bad_event_and_says_so(
    ctx: ServiceContext,
    world: World,
    pdq_family: PdqFamily,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx.settings = Settings(database_url=ctx.settings.database_url, index_poll_interval=0.01)
    helpline = world.partner("Helpline")
    reader = FaultyReader()
    live = LiveIndexes(ctx.store, ctx.settings, read_events=reader)
    metrics = Metrics()
    metrics.live = live
    caplog.set_level("INFO", logger="hashwall.service.indexes")
    live.build()
    code = pdq_family.new()
    _bank(ctx, helpline, code)
    reader.bad_seq = live.last_seq + 1
    with live:
        _wait_for(lambda: live.rebuilds == 1, "the rebuild")
        _wait_for(lambda: len(live.search("pdq", [code], 0)) == 1, "the banked photo")
    assert live.follower_failures >= REBUILD_AFTER
    failures = [r for r in caplog.records if "following the event log" in r.getMessage()]
    # One traceback for the streak, then a line per doubling: not one per poll.
    assert sum(1 for r in failures if r.exc_info) == 1
    assert len(failures) <= 1 + REBUILD_AFTER.bit_length()
    assert any("rebuilding from the store" in r.getMessage() for r in caplog.records)
    text = metrics.render().decode()
    assert "hashwall_index_rebuilds_total{pid=" in text
    assert "hashwall_index_current{pid=" in text
    failed = [ln for ln in text.splitlines() if ln.startswith("hashwall_index_follower_failures")]
    assert failed and float(failed[0].rsplit(" ", 1)[1]) >= REBUILD_AFTER


def test_a_hung_follower_is_replaced_by_the_watchdog(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    helpline = world.partner("Helpline")
    platform = world.platform("Example", "feed")
    clock, reader = FakeClock(), FaultyReader()
    live = ctx.live = LiveIndexes(ctx.store, ctx.settings, clock=clock, read_events=reader)
    live.build()
    reader.hang_once = True
    try:
        with live:
            assert reader.hanging.wait(30)  # the first read of the log hangs
            code = pdq_family.new()
            _bank(ctx, helpline, code)
            assert live.follower_restarts == 0
            clock.now += ctx.settings.index_follower_timeout + 1
            # Stale now: a hit is not answered allow while the follower hangs.
            assert _ask(ctx, platform, code) == "block"
            _wait_for(lambda: live.follower_restarts == 1, "the watchdog")
            _wait_for(lambda: live.current, "the new follower")
            assert len(live.search("pdq", [code], 0)) == 1
            assert live.stale_checks["store_scan"] >= 1
    finally:
        reader.release.set()
    assert live.follower_restarts == 1


def test_the_watchdog_leaves_at_most_three_hung_followers_behind(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    clock, reader = FakeClock(), FaultyReader()
    live = LiveIndexes(ctx.store, ctx.settings, clock=clock, read_events=reader)
    live.build()
    reader.hang_all = True  # every read hangs (a store that accepts and never answers)
    try:
        with live:
            _wait_for(lambda: reader.hung == 1, "the first hung read")
            for restart in (1, 2, 3):
                clock.now += ctx.settings.index_follower_timeout + 1
                _wait_for(lambda r=restart: live.follower_restarts == r, "the watchdog")
                _wait_for(lambda r=restart: reader.hung == r + 1, "the new follower's read")
            clock.now += ctx.settings.index_follower_timeout + 1
            assert not live.check_follower()  # three are left hanging: no fourth
            assert live.follower_restarts == 3 and not live.current
            reader.hang_all = False
            reader.release.set()  # the store answers again: the follower catches up
            _wait_for(lambda: live.current, "the follower to catch up")
    finally:
        reader.release.set()
