"""The live index: built from the store, following the event log, matching a store scan."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hashwall.domain import Actor
from hashwall.hashing.pdq import PdqHash
from hashwall.hashing.signals import PdqSignal, Signal
from hashwall.service.context import ServiceContext
from hashwall.service.index_events import index_events
from hashwall.service.indexes import LiveIndexes
from hashwall.service.intake import ItemSubmission, create_case
from hashwall.service.search import scan_store
from hashwall.service.withdraw import withdraw_item
from hashwall.store.events import Event

if TYPE_CHECKING:
    from conftest import PdqFamily, World


class FakeClock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _event(seq: int, kind: str, item_id: int | None, payload: dict[str, object]) -> Event:
    return Event(seq, kind, item_id, None, dict(payload), datetime(2026, 1, 1, tzinfo=UTC))


def _bank(ctx: ServiceContext, actor: Actor, code: PdqHash) -> tuple[str, str]:
    receipt = create_case(ctx, actor, [ItemSubmission((Signal("pdq", code.hex, 90),))])
    return receipt.case_number, receipt.accepted[0].item_ref


def test_events_translate_to_index_changes(pdq_family: PdqFamily) -> None:
    code = pdq_family.new()
    pdq = {"type": "pdq", "value": code.hex, "quality": 90}
    sha = {"type": "sha256", "value": "a" * 64, "quality": None}
    changes = index_events(
        [
            _event(1, "item_added", 7, {"signals": [sha, pdq]}),
            _event(2, "item_added", 8, {"signals": [{**pdq, "value": None}]}),  # erased
            _event(3, "item_added", 9, {"signals": [sha]}),  # no PDQ
            _event(4, "item_quarantined", 7, {}),
            _event(5, "trust_changed", 7, {"trust": "confirmed"}),
            _event(6, "item_withdrawn", 8, {}),
            _event(7, "item_deleted", 7, {}),
            _event(8, "future_event", None, {}),
        ],
        PdqSignal,
    )
    assert [c.seq for c in changes] == list(range(1, 9))
    assert [(c.kind, c.ids.tolist()) for c in changes] == [
        ("add", [7]),
        ("remove", []),
        ("remove", []),
        ("remove", []),
        ("remove", []),
        ("remove", [8]),
        ("remove", [7]),
        ("remove", []),
    ]
    assert changes[0].hashes is not None
    assert bytes(changes[0].hashes[0]) == code.value


def test_build_then_follow_the_log(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    helpline = world.partner("Helpline")
    codes = [pdq_family.new() for _ in range(4)]
    banked = [_bank(ctx, helpline, c) for c in codes[:2]]
    withdraw_item(ctx, helpline, *banked[1])  # withdrawn before the build: not indexed

    clock = FakeClock()
    live = LiveIndexes(ctx.store, ctx.settings, clock=clock)
    assert not live.ready and live.lag_seconds is None and live.size == 0
    live.build()
    assert live.built and live.ready and live.size == 1
    with ctx.store.read() as repo:
        assert live.last_seq == repo.last_event_seq() == 3
    assert [m.distance for m in live.search("pdq", [codes[0]], 0)] == [0]
    assert live.search("pdq", [codes[1]], 31) == []

    third = _bank(ctx, helpline, codes[2])
    clock.now += 5
    assert live.lag_seconds == 5 and not live.ready
    assert live.search("pdq", [codes[2]], 0) == []  # lagging
    assert live.catch_up() == 1
    assert live.ready and live.lag_seconds == 0 and live.last_seq == 4
    assert len(live.search("pdq", [codes[2]], 0)) == 1

    # Quarantine keeps the item in the index; withdrawal removes it.
    with ctx.store.write() as repo:
        item = repo.get_item(third[1])
        assert item is not None
        item = repo.set_item_state(item.id, "quarantined")
        repo.append_event("item_quarantined", {"item": item.item_ref}, item=item)
    assert live.catch_up() == 1 and live.size == 2
    withdraw_item(ctx, helpline, *third)
    assert live.catch_up() == 1 and live.size == 1
    assert live.search("pdq", [codes[2]], 31) == []
    assert live.catch_up() == 0


def test_the_live_index_answers_what_a_store_scan_answers(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    rng = random.Random(5)
    helpline = world.partner("Helpline")
    live = LiveIndexes(ctx.store, ctx.settings)
    live.build()
    centre = pdq_family.new()
    banked: list[tuple[str, str]] = []
    for step in range(12):
        if banked and rng.random() < 0.3:
            withdraw_item(ctx, helpline, *banked.pop(rng.randrange(len(banked))))
        else:
            banked.append(_bank(ctx, helpline, pdq_family.near(centre, 2 * rng.randint(0, 20))))
        if step % 3 == 0:
            live.catch_up()
    live.catch_up()
    for radius in (0, 10, 31, 63):
        for query in (centre, pdq_family.near(centre, 16), pdq_family.new()):
            assert live.search("pdq", [query], radius) == scan_store(
                ctx.store, [query], radius, "pdq"
            )
    assert live.size == len(banked)
    orientations = [pdq_family.near(centre, 30)] * 7 + [centre]
    found = live.search("pdq", orientations, 31)
    assert found == scan_store(ctx.store, orientations, 31, "pdq")
    assert found and {m.orientation for m in found if m.distance <= 10} <= {7}


def test_the_background_follower_picks_up_new_events(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    helpline = world.partner("Helpline")
    code = pdq_family.new()
    with LiveIndexes(ctx.store, ctx.settings) as live:
        assert live.ready and live.size == 0
        _bank(ctx, helpline, code)
        deadline = time.monotonic() + 30  # a bound on the wait, not on the speed
        while not live.search("pdq", [code], 0) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(live.search("pdq", [code], 0)) == 1
        assert live.ready and (live.lag_seconds or 0) < 1
    # Stopped: new events are no longer followed.
    seq = live.last_seq
    _bank(ctx, helpline, pdq_family.new())
    time.sleep(0.3)
    assert live.last_seq == seq
    assert live.size == 1
