"""Property test (hypothesis): random interleavings of enrol / withdraw / quarantine / reinstate /
delete / trust changes and feed reads, replayed through the feed from every cursor handed out, end
with exactly the live set, and no page read after a withdrawal or deletion holds its values.

Every example runs on a fresh store (a new SQLite file or PostgreSQL schema, ``fresh_ctx``).
"""

from __future__ import annotations

import copy
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashwall.api import mapping
from hashwall.domain import Actor
from hashwall.service import moderation, tenants
from hashwall.service.context import ServiceContext
from hashwall.service.feed import FeedMirror, read_feed
from hashwall.store.events import TRUST_CHANGED

from bank_ops import LiveView, enrol, live_bank, quarantine, withdraw

OP = Actor.operator()
PLATFORM = "photos"
#: Examples per back end (``HASHWALL_FEED_PROPERTY_EXAMPLES`` to run more).
MAX_EXAMPLES = int(os.environ.get("HASHWALL_FEED_PROPERTY_EXAMPLES", "40"))

_index = st.integers(0, 1000)
_read = st.tuples(st.just("read"), st.integers(0, 2), st.integers(1, 4))
step = st.one_of(
    st.tuples(st.just("enrol"), st.sampled_from(["unvouched", "vouched"])),
    st.tuples(st.just("enrol"), st.sampled_from(["unvouched", "vouched"])),
    st.tuples(st.just("withdraw"), _index),
    st.tuples(st.just("quarantine"), _index),
    st.tuples(st.just("reinstate"), _index),
    st.tuples(st.just("delete"), _index),
    st.tuples(st.just("confirm"), _index),
    _read,
    _read,
    _read,
)


def _view(mirror: FeedMirror) -> LiveView:
    return {
        ref: (
            item["state"],
            item["trust"],
            frozenset((s["type"], s["value"]) for s in item["signals"]),
        )
        for ref, item in mirror.items.items()
    }


@dataclass
class World:
    """The bank as the test changed it, and what must never be seen again."""

    ctx: ServiceContext
    rng: random.Random
    refs: list[str] = field(default_factory=list)
    erased: set[str] = field(default_factory=set)
    values: dict[str, list[str]] = field(default_factory=dict)

    def pick(self, index: int) -> str | None:
        return self.refs[index % len(self.refs)] if self.refs else None

    def state(self, ref: str) -> str:
        with self.ctx.store.read() as repo:
            item = repo.get_item(ref)
        assert item is not None
        return item.state

    def read(self, mirror: FeedMirror, limit: int) -> dict[str, Any]:
        page = mapping.feed_page(
            read_feed(self.ctx, OP, cursor=mirror.cursor, limit=limit, platform=PLATFORM)
        ).wire()
        text = json.dumps(page)
        leaked = [v for v in self.erased if v in text]
        assert not leaked, "a page holds values of a withdrawn or deleted item"
        mirror.apply(page)
        return page

    def drain(self, mirror: FeedMirror, limit: int) -> None:
        for _ in range(100_000):
            if not self.read(mirror, limit)["more"]:
                return
        raise AssertionError("the feed never ended")


def _apply(world: World, action: tuple[Any, ...]) -> None:
    kind = action[0]
    if kind == "enrol":
        banked = enrol(world.ctx.store, trust=action[1], rng=world.rng)
        world.refs.append(banked.item_ref)
        world.values[banked.item_ref] = [s.value for s in banked.signals]
        return
    ref = world.pick(action[1])
    if ref is None:
        return
    state = world.state(ref)
    if kind == "withdraw" and withdraw(world.ctx.store, ref):
        world.erased.update(world.values[ref])
    elif kind == "quarantine":
        quarantine(world.ctx.store, ref)
    elif kind == "reinstate" and state == "quarantined":
        moderation.reinstate_item(world.ctx, OP, ref)
    elif kind == "delete" and state in ("active", "quarantined"):
        moderation.delete_item(world.ctx, OP, ref)
        world.erased.update(world.values[ref])
    elif kind == "confirm" and state in ("active", "quarantined"):
        with world.ctx.store.write() as repo:
            item = repo.get_item(ref, for_update=True)
            assert item is not None
            if item.trust == "unvouched":
                updated = repo.set_item_trust(item.id, "confirmed")
                repo.append_event(TRUST_CHANGED, {"item": ref, "trust": "confirmed"}, item=updated)


def test_feed_replays_reach_exactly_the_live_set(fresh_ctx: Callable[[], ServiceContext]) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        banked_first=st.integers(0, 8),
        steps=st.lists(step, min_size=1, max_size=40),
        seed=st.integers(0, 2**32 - 1),
        final_limit=st.integers(1, 5),
    )
    def run(banked_first: int, steps: list[tuple[Any, ...]], seed: int, final_limit: int) -> None:
        ctx = fresh_ctx()  # a fresh bank per example
        try:
            tenants.add_organisation(ctx, OP, "Org")
            tenants.add_platform(ctx, OP, organisation="Org", name=PLATFORM)
            world = World(ctx, random.Random(seed))
            consumers = [FeedMirror() for _ in range(3)]
            saved: list[FeedMirror] = [FeedMirror()]  # a consumer that has not started yet
            for action in [("enrol", "vouched")] * banked_first + steps:
                if action[0] == "read":
                    mirror = consumers[action[1]]
                    world.read(mirror, action[2])
                    saved.append(copy.deepcopy(mirror))
                else:
                    _apply(world, action)
            live = live_bank(ctx.store)
            # Every consumer, and a consumer resumed from every cursor ever handed out.
            for mirror in [*consumers, *saved]:
                world.drain(mirror, final_limit)
                assert _view(mirror) == live
        finally:
            ctx.store.dispose()

    run()
