"""Property test (hypothesis): random interleavings of enrol / withdraw / quarantine / reinstate /
delete / trust changes and feed reads, replayed through the feed from every cursor handed out, end
with exactly the live set, and no page read after a withdrawal or deletion holds its values
(keypoint sets, kilobytes long, among them); a copy of ``hashwall feed sync`` that follows one
consumer holds the live set too, and none of those values in its files.

Every example runs on a fresh store (a new SQLite file or PostgreSQL schema, ``fresh_ctx``).
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashwall.api import mapping
from hashwall.cli.feed import sync
from hashwall.domain import Actor
from hashwall.hashing.signals import Signal
from hashwall.service import moderation, tenants
from hashwall.service.context import ServiceContext
from hashwall.service.feed import FeedMirror, read_feed
from hashwall.service.feed_copy import FeedCopy
from hashwall.store.events import TRUST_CHANGED

from bank_ops import LiveView, enrol, live_bank, quarantine, random_signals, withdraw
from feed_harness import InProcess

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


def _copy_view(feed_copy: FeedCopy) -> LiveView:
    return {
        ref: (item["state"], item["trust"],
              frozenset((s["type"], s["value"]) for s in item["signals"]))
        for ref, item in feed_copy.view().items()
    }  # fmt: skip


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

    def check_erased(self, folder: Path) -> None:
        """No value of a withdrawn or deleted item is in the copy's files, as text or bytes."""
        stored = b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())
        for value in self.erased:
            assert value.encode() not in stored, "the copy holds an erased value"
            if len(value) >= 32:  # digests are written as text; codes and records as bytes
                assert bytes.fromhex(value) not in stored, "the copy holds an erased value"

    def drain(self, mirror: FeedMirror, limit: int) -> None:
        for _ in range(100_000):
            if not self.read(mirror, limit)["more"]:
                return
        raise AssertionError("the feed never ended")


def _signals(rng: random.Random) -> list[Signal]:
    """A PDQ, an md5 and a sha256, and for half the items a set of 1 to 90 keypoint records
    (a value of varying length, kilobytes long: a geometric type's)."""
    signals = random_signals(rng)
    if rng.random() < 0.5:
        records = "".join(f"{rng.getrandbits(128):032x}" for _ in range(rng.randint(1, 90)))
        signals.append(Signal("keypoints", records))
    return signals


def _apply(world: World, action: tuple[Any, ...]) -> None:
    kind = action[0]
    if kind == "enrol":
        banked = enrol(world.ctx.store, _signals(world.rng), trust=action[1], rng=world.rng)
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
            folder = Path(tempfile.mkdtemp(prefix="feed-copy-"))
            local = InProcess(ctx, PLATFORM)
            for action in [("enrol", "vouched")] * banked_first + steps:
                if action[0] == "read":
                    mirror = consumers[action[1]]
                    world.read(mirror, action[2])
                    saved.append(copy.deepcopy(mirror))
                    if action[1] == 0:  # a copy of `feed sync` follows the first consumer
                        sync(local, FeedCopy.open(folder, "local"), limit=action[2], block=2)
                else:
                    _apply(world, action)
            live = live_bank(ctx.store)
            # Every consumer, and a consumer resumed from every cursor ever handed out.
            for mirror in [*consumers, *saved]:
                world.drain(mirror, final_limit)
                assert _view(mirror) == live
            # The copy too: its live set, and no erased value left in its files, compacted or not.
            feed_copy = FeedCopy.open(folder, "local")
            sync(local, feed_copy, limit=final_limit, block=2)
            for _ in range(2):
                assert _copy_view(feed_copy) == live
                world.check_erased(folder)
                feed_copy.compact()
        finally:
            ctx.store.dispose()
            shutil.rmtree(folder, ignore_errors=True)

    run()
