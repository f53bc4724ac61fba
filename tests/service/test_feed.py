"""The feed on SQLite and PostgreSQL: snapshot plus events, resumable, complete, and never the
hash values of a withdrawn or deleted item."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from hashwall.api import mapping
from hashwall.domain import Actor
from hashwall.errors import Forbidden, InvalidCursor, InvalidInput, NotFound
from hashwall.service import audit, auth, keys, moderation, tenants
from hashwall.service.context import ServiceContext
from hashwall.service.feed import Cursor, FeedMirror, read_feed

from bank_ops import LiveView, enrol, live_bank, quarantine, withdraw

OP = Actor.operator()


@pytest.fixture
def platform(ctx: ServiceContext) -> str:
    """A platform named ``photos``."""
    tenants.add_organisation(ctx, OP, "Example Social")
    tenants.add_platform(ctx, OP, organisation="Example Social", name="photos")
    return "photos"


def mirror_view(mirror: FeedMirror) -> LiveView:
    """The mirror in :func:`live_bank`'s form."""
    return {
        ref: (
            item["state"],
            item["trust"],
            frozenset((s["type"], s["value"]) for s in item["signals"]),
        )
        for ref, item in mirror.items.items()
    }


class Consumer:
    """A feed consumer that records every page it receives and checks the feed's promises."""

    def __init__(self, ctx: ServiceContext, platform: str, limit: int) -> None:
        self.ctx = ctx
        self.platform = platform
        self.limit = limit
        self.mirror = FeedMirror()
        self.pages: list[dict[str, Any]] = []
        self.snapshot_refs: list[str] = []
        self.seqs: list[int] = []

    def step(self) -> dict[str, Any]:
        """Read and apply one page."""
        page = mapping.feed_page(
            read_feed(
                self.ctx, OP, cursor=self.mirror.cursor, limit=self.limit, platform=self.platform
            )
        ).wire()
        assert len(page["items"]) + len(page["events"]) <= self.limit
        if page["phase"] == "events":
            assert page["items"] == []
        self.snapshot_refs += [i["item"] for i in page["items"]]
        self.seqs += [e["seq"] for e in page["events"]]
        # No duplicates: refs and seqs only grow.
        assert self.snapshot_refs == sorted(set(self.snapshot_refs))
        assert self.seqs == sorted(set(self.seqs))
        self.mirror.apply(page)
        self.pages.append(page)
        return page

    def drain(self) -> None:
        """Read until the feed has nothing more right now."""
        for _ in range(10_000):
            if not self.step()["more"]:
                return
        raise AssertionError("the feed never ended")

    def received(self) -> str:
        """Everything received, as text."""
        return json.dumps(self.pages)


def test_snapshot_then_events_reach_the_live_set(ctx: ServiceContext, platform: str) -> None:
    rng = random.Random(1)
    banked = [enrol(ctx.store, rng=rng, trust=("vouched", "unvouched")[i % 2]) for i in range(7)]
    quarantine(ctx.store, banked[0].item_ref)
    withdraw(ctx.store, banked[1].item_ref)
    for limit in (1, 2, 3, 100):
        consumer = Consumer(ctx, platform, limit)
        consumer.drain()
        assert mirror_view(consumer.mirror) == live_bank(ctx.store)
        assert len(consumer.snapshot_refs) == 6
        first = consumer.pages[0]
        assert first["phase"] == "snapshot" and first["snapshot_seq"] == first["head_seq"]
        assert first["policy"]["pdq_threshold"] == 31 and first["platform"] == platform

    # Resume later: new events only, in order, no snapshot again.
    before = consumer.pages[-1]["head_seq"]
    later = enrol(ctx.store, rng=rng)
    withdraw(ctx.store, banked[2].item_ref)
    moderation.reinstate_item(ctx, OP, banked[0].item_ref)
    moderation.delete_item(ctx, OP, banked[3].item_ref)
    consumer.drain()
    assert mirror_view(consumer.mirror) == live_bank(ctx.store)
    new_pages = [p for p in consumer.pages if p["events"] and p["events"][0]["seq"] > before]
    types = [e["type"] for p in new_pages for e in p["events"]]
    assert types == ["item_added", "item_withdrawn", "item_reinstated", "item_deleted"]
    added = new_pages[0]["events"][0]
    assert added["item"] == later.item_ref and added["state"] == "active"
    assert added["kind"] == "image" and added["trust"] == "vouched"
    assert {(s["type"], s["value"]) for s in added["signals"]} == {
        (s.type, s.value) for s in later.signals
    }
    assert not read_feed(ctx, OP, cursor=consumer.mirror.cursor, platform=platform).more


def test_no_gaps_events_phase_returns_every_event_after_the_snapshot(
    ctx: ServiceContext, platform: str
) -> None:
    rng = random.Random(2)
    first = enrol(ctx.store, rng=rng)
    consumer = Consumer(ctx, platform, 1)
    consumer.step()  # snapshot at seq 1
    snapshot_seq = consumer.pages[0]["snapshot_seq"]
    for _ in range(4):
        enrol(ctx.store, rng=rng)
    quarantine(ctx.store, first.item_ref)
    withdraw(ctx.store, first.item_ref)
    consumer.drain()
    with ctx.store.read() as repo:
        expected = [e.seq for e in repo.read_events(snapshot_seq)]
    assert consumer.seqs == expected
    assert mirror_view(consumer.mirror) == live_bank(ctx.store)


def test_consumer_starting_after_a_withdrawal_never_receives_its_values(
    ctx: ServiceContext, platform: str
) -> None:
    rng = random.Random(3)
    early = Consumer(ctx, platform, 1)
    early.step()  # an empty snapshot: the cursor is now at the start of the event log
    gone = enrol(ctx.store, rng=rng)
    deleted = enrol(ctx.store, rng=rng)
    kept = [enrol(ctx.store, rng=rng) for _ in range(3)]
    mid = Consumer(ctx, platform, 1)
    mid.step()  # mid-snapshot: the snapshot began before the withdrawal below
    withdraw(ctx.store, gone.item_ref)
    quarantine(ctx.store, deleted.item_ref)
    moderation.delete_item(ctx, OP, deleted.item_ref)
    mid_before = len(mid.pages)

    late = [Consumer(ctx, platform, limit) for limit in (1, 2, 1000)]
    for consumer in [early, mid, *late]:
        consumer.drain()
        assert mirror_view(consumer.mirror) == live_bank(ctx.store)
    secrets = [s.value for b in (gone, deleted) for s in b.signals]
    for consumer in [early, *late]:
        received = consumer.received()
        for value in secrets:
            assert value not in received
        for value in (s.value for b in kept for s in b.signals):
            assert value in received
    after_withdrawal = json.dumps(mid.pages[mid_before:])
    for value in secrets:
        assert value not in after_withdrawal
    # The events still say what happened, without values.
    types = [e["type"] for p in early.pages for e in p["events"] if e["item"] == gone.item_ref]
    assert types == ["item_added", "item_withdrawn"]
    added = next(e for p in early.pages for e in p["events"] if e["item"] == gone.item_ref)
    assert added["signals"] == []


def test_resuming_from_any_cursor_reaches_the_live_set(ctx: ServiceContext, platform: str) -> None:
    rng = random.Random(4)
    banked = [enrol(ctx.store, rng=rng) for _ in range(6)]
    consumer = Consumer(ctx, platform, 1)
    saved: list[FeedMirror] = [copy.deepcopy(consumer.mirror)]
    actions = [
        lambda: enrol(ctx.store, rng=rng),
        lambda: withdraw(ctx.store, banked[5].item_ref),
        lambda: quarantine(ctx.store, banked[0].item_ref),
        lambda: moderation.reinstate_item(ctx, OP, banked[0].item_ref),
        lambda: quarantine(ctx.store, banked[1].item_ref),
        lambda: enrol(ctx.store, rng=rng),
        lambda: moderation.delete_item(ctx, OP, banked[1].item_ref),
        lambda: withdraw(ctx.store, banked[2].item_ref),
    ]
    for action in actions:  # a change between every two pages, snapshot phase included
        consumer.step()
        saved.append(copy.deepcopy(consumer.mirror))
        action()
    consumer.drain()
    live = live_bank(ctx.store)
    assert mirror_view(consumer.mirror) == live
    for state in saved:  # any consumer that stopped at any cursor catches up exactly
        resumed = Consumer(ctx, platform, 2)
        resumed.mirror = state
        resumed.drain()
        assert mirror_view(resumed.mirror) == live


def test_access_audit_and_bad_input(ctx: ServiceContext, platform: str) -> None:
    tenants.add_platform(ctx, OP, organisation="Example Social", name="chat")
    enrol(ctx.store, rng=random.Random(5))
    feed_key = keys.create_api_key(ctx, OP, role="platform", platform=platform, scopes=["feed"])
    check_key = keys.create_api_key(ctx, OP, role="platform", platform=platform, scopes=["check"])
    admin_key = keys.create_api_key(ctx, OP, role="admin")
    intake_key = keys.create_api_key(ctx, OP, role="intake", partner=_partner(ctx))
    reader = auth.authenticate(ctx, feed_key.key)

    page = read_feed(ctx, reader)
    assert page.platform == platform and len(page.items) == 1
    assert read_feed(ctx, reader, platform=platform).platform == platform
    with pytest.raises(Forbidden):
        read_feed(ctx, reader, platform="chat")
    with pytest.raises(Forbidden):
        read_feed(ctx, auth.authenticate(ctx, check_key.key))
    with pytest.raises(Forbidden):
        read_feed(ctx, auth.authenticate(ctx, intake_key.key), platform=platform)
    with pytest.raises(Forbidden):
        read_feed(ctx, Actor.reporter(), platform=platform)
    admin = auth.authenticate(ctx, admin_key.key)
    assert read_feed(ctx, admin, platform="chat").platform == "chat"
    with pytest.raises(InvalidInput):
        read_feed(ctx, OP)
    with pytest.raises(NotFound):
        read_feed(ctx, OP, platform="nope")
    for limit in (0, -1, 10_001):
        with pytest.raises(InvalidInput):
            read_feed(ctx, OP, platform=platform, limit=limit)
    for bad in [
        "",
        "garbage",
        "hwf1.",
        "hwf1.!!!",
        Cursor("events", 9999).encode(),  # ahead of the log
        "hwf1." + "eyJwIjoieCIsInEiOjF9",  # {"p":"x","q":1}
        Cursor("events", 1).encode()[:-2],
        "x" * 1000,
    ]:
        with pytest.raises(InvalidCursor) as info:
            read_feed(ctx, OP, platform=platform, cursor=bad)
        assert info.value.code == "invalid_cursor"

    reads = audit.list_audit(ctx, OP, action="feed_read")
    assert [(a.actor_key_id, a.target) for a in reads] == [
        (admin.key_id, "chat"),
        (reader.key_id, platform),
        (reader.key_id, platform),
    ]
    assert reads[-1].details["items"] == 1 and reads[-1].details["phase"] == "snapshot"


def _partner(ctx: ServiceContext) -> str:
    tenants.add_partner(ctx, OP, "Helpline")
    return "Helpline"


def test_cursor_round_trip() -> None:
    for cursor in (Cursor("snapshot", 0), Cursor("snapshot", 12, "itm_abc-_"), Cursor("events", 7)):
        text = cursor.encode()
        assert text.startswith("hwf1.") and Cursor.decode(text) == cursor


def test_feed_over_the_real_intake_and_withdrawal(ctx: ServiceContext, platform: str) -> None:
    """The same promises with cases filed and withdrawn through ``service.intake``/``withdraw``."""
    from hashwall.service.intake import ItemSubmission, create_case
    from hashwall.service.withdraw import withdraw_case, withdraw_item

    from bank_ops import random_signals

    rng = random.Random(6)
    tenants.add_partner(ctx, OP, "Helpline")
    intake_key = keys.create_api_key(ctx, OP, role="intake", partner="Helpline")
    partner = auth.authenticate(ctx, intake_key.key)
    reporter = Actor.reporter()
    sigs = [random_signals(rng) for _ in range(4)]
    kept = create_case(ctx, reporter, [ItemSubmission(tuple(sigs[0]))])
    vouched = create_case(ctx, partner, [ItemSubmission(tuple(sigs[1]))])
    two = create_case(ctx, reporter, [ItemSubmission(tuple(s)) for s in sigs[2:]])
    early = Consumer(ctx, platform, 1)
    early.step()  # mid-snapshot before the withdrawals
    withdraw_case(ctx, reporter, two.case_number, pin=two.pin)
    withdraw_item(ctx, partner, vouched.case_number, vouched.accepted[0].item_ref)
    late = Consumer(ctx, platform, 1)
    for consumer in (early, late):
        consumer.drain()
        assert mirror_view(consumer.mirror) == live_bank(ctx.store)
    kept_ref = kept.accepted[0].item_ref
    assert set(late.mirror.items) == {kept_ref}
    assert late.mirror.items[kept_ref]["trust"] == "unvouched"
    withdrawn_values = [s.value for group in sigs[1:] for s in group]
    for consumer in (early, late):
        text = json.dumps(consumer.pages[1:] if consumer is early else consumer.pages)
        for value in withdrawn_values:
            assert value not in text
    assert all(s.value in late.received() for s in sigs[0])


def test_key_revocations_and_platform_changes_never_reach_the_feed(
    ctx: ServiceContext, platform: str
) -> None:
    rng = random.Random(9)
    key = keys.create_api_key(ctx, OP, role="platform", platform=platform, scopes=["check"])
    consumer = Consumer(ctx, platform, 1)
    consumer.drain()
    first = enrol(ctx.store, rng=rng)
    keys.revoke_api_key(ctx, OP, key.info.key_id)
    tenants.set_platform_policy(ctx, OP, platform, tenants.PolicyUpdate(thresholds={"pdq": 20}))
    second = enrol(ctx.store, rng=rng)
    with ctx.store.read() as repo:
        head = repo.last_event_seq()
        logged = [e.type for e in repo.read_events(0)]
    assert "api_key_revoked" in logged and "platform_changed" in logged  # in the log...
    for limit in (1, 2, 100):
        reader = Consumer(ctx, platform, limit)
        reader.mirror.cursor = consumer.mirror.cursor
        reader.drain()
        received = reader.received()
        types = [e["type"] for p in reader.pages for e in p["events"]]
        assert types == ["item_added", "item_added"]  # ...never in the feed
        assert key.info.key_id not in received and "platform_id" not in received
        assert [e["item"] for p in reader.pages for e in p["events"]] == [
            first.item_ref,
            second.item_ref,
        ]
        assert Cursor.decode(reader.mirror.cursor or "").seq == head  # read past them
    # A cursor parked on the internal events moves past them, with nothing to show.
    page = read_feed(ctx, OP, cursor=Cursor("events", head - 2).encode(), platform=platform)
    assert [e.type for e in page.events] == ["item_added"] and not page.more
