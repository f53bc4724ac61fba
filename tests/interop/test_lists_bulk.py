"""``hashwall import`` writes a batch in a few multi-row statements (``service/lists.py`` over
the store's bulk methods): the result is what banking the same items one by one gives (items,
signals, the ``item_added`` events the live index and the feed follow), whatever the batch size,
on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from conftest import random_pdq
from hashwall.api import mapping
from hashwall.domain import Actor, ItemKind, Trust
from hashwall.hashing.codes import Hash256
from hashwall.hashing.signals import Signal
from hashwall.service import tenants
from hashwall.service.context import ServiceContext
from hashwall.service.feed import FeedMirror, read_feed
from hashwall.service.indexes import LiveIndexes
from hashwall.service.intake import ItemSubmission, create_case
from hashwall.service.list_formats import read_list
from hashwall.service.lists import ImportReport, import_list
from hashwall.service.withdraw import withdraw_item
from hashwall.store.credentials import new_pin, pin_key
from hashwall.store.events import (
    INTERNAL_EVENT_TYPES,
    ITEM_ADDED,
    ITEM_WITHDRAWN,
    NewEvent,
    append_events,
)

OPERATOR = Actor.operator()
PLATFORM = "photos"

#: What an item is, whatever store it is in: kind, trust, state, and its signals.
ItemView = tuple[str, str, str, frozenset[tuple[str, str, int | None]]]


def list_items(seed: int, count: int) -> list[tuple[ItemKind, Trust, list[Signal]]]:
    """``count`` items a list may hold: a PDQ each, an md5 on every third, some unvouched."""
    rng = np.random.default_rng(seed)
    out: list[tuple[ItemKind, Trust, list[Signal]]] = []
    for i in range(count):
        signals = [Signal("pdq", random_pdq(rng), 80 + i % 20)]
        if i % 3 == 0:
            signals.append(Signal("md5", f"{seed:08x}{i:024x}"))
        out.append(("image", "unvouched" if i % 4 == 1 else "vouched", signals))
    return out


def csv_of(items: list[tuple[ItemKind, Trust, list[Signal]]]) -> str:
    """The items as a list file (one line a signal, an item's lines sharing its ref)."""
    rows = ["signal_type,value,trust,item_ref,quality"]
    for n, (_, trust, signals) in enumerate(items):
        for s in signals:
            quality = "" if s.quality is None else str(s.quality)
            rows.append(f"{s.type},{s.value},{trust},src{n},{quality}")
    return "\n".join(rows) + "\n"


def run_import(ctx: ServiceContext, text: str, batch: int, label: str = "list") -> ImportReport:
    lines = read_list(io.StringIO(text), "csv")
    return import_list(ctx, OPERATOR, lines, partner="Helpline", label=label, batch=batch)


def bank_one_by_one(ctx: ServiceContext, items: list[tuple[ItemKind, Trust, list[Signal]]]) -> None:
    """The items in one partner case, written one row at a time (``add_item``, ``add_signals``,
    then ``append_event`` per item, as intake does)."""
    key = pin_key(new_pin())
    assert key is not None
    with ctx.store.write() as repo:
        partner = repo.get_partner("Helpline")
        assert partner is not None
        case = repo.create_case(
            pin_hash=ctx.pins.hash(key), channel="partner", partner_id=partner.id
        )
        added = []
        for kind, trust, signals in items:
            row = repo.add_item(case.id, kind=kind, trust=trust)
            repo.add_signals(row.id, signals)
            added.append((row, signals))
        for row, signals in added:
            payload = {
                "item": row.item_ref,
                "kind": row.kind,
                "trust": row.trust,
                "signals": [s.to_dict() for s in signals],
            }
            repo.append_event(ITEM_ADDED, payload, item=row)


def stored_items(ctx: ServiceContext) -> dict[str, ItemView]:
    """Every item of the store by ref, with its signals."""
    out: dict[str, ItemView] = {}
    with ctx.store.read() as repo:
        for case in repo.list_cases():
            for item in repo.list_items(case.id):
                signals = frozenset(
                    (s.type, s.value, s.quality) for s in repo.list_signals(item.id)
                )
                out[item.item_ref] = (item.kind, item.trust, item.state, signals)
    return out


def added_events(ctx: ServiceContext) -> dict[str, tuple[int, dict[str, Any]]]:
    """The ``item_added`` events of the log by item ref: (item id, payload); one per item."""
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    with ctx.store.read() as repo:
        for event in repo.read_events(0, 10_000):
            if event.type in INTERNAL_EVENT_TYPES:
                continue  # the platform the feed is read for
            assert event.type == ITEM_ADDED and event.item_ref is not None
            assert event.item_id is not None and event.item_ref not in out
            assert event.payload["item"] == event.item_ref
            out[event.item_ref] = (event.item_id, event.payload)
    return out


def without_ref(payload: dict[str, Any]) -> tuple[Any, ...]:
    signals = frozenset((s["type"], s["value"], s["quality"]) for s in payload["signals"])
    return (payload["kind"], payload["trust"], signals, tuple(sorted(payload)))


def feed_after(ctx: ServiceContext, cursor: str | None) -> FeedMirror:
    """A platform's copy: its snapshot (taken before the import), then the import's events."""
    mirror = FeedMirror(cursor=cursor)
    for _ in range(1000):
        page = mapping.feed_page(
            read_feed(ctx, OPERATOR, cursor=mirror.cursor, limit=7, platform=PLATFORM)
        ).wire()
        assert page["items"] == [], "the import arrives as events"
        mirror.apply(page)
        if not page["more"]:
            return mirror
    raise AssertionError("the feed never ended")


def feed_start(ctx: ServiceContext) -> str | None:
    """A platform that has read the (empty) bank's snapshot: its cursor."""
    tenants.add_organisation(ctx, OPERATOR, "Example Social")
    tenants.add_platform(ctx, OPERATOR, organisation="Example Social", name=PLATFORM)
    mirror = FeedMirror()
    mirror.apply(mapping.feed_page(read_feed(ctx, OPERATOR, platform=PLATFORM)).wire())
    return mirror.cursor


def index_view(live: LiveIndexes, ctx: ServiceContext) -> Counter[tuple[Any, ...]]:
    """What the live index finds for each stored signal: the kind and trust of the items."""
    found: Counter[tuple[Any, ...]] = Counter()
    with ctx.store.read() as repo:
        for case in repo.list_cases():
            for item in repo.list_items(case.id):
                for s in repo.list_signals(item.id):
                    if s.type == "pdq":
                        ids = [m.id for m in live.search("pdq", [Hash256.from_hex(s.value)], 0)]
                    else:
                        ids = list(live.find_digest(s.type, s.value))
                    assert ids == [item.id], (s.type, ids, item.id)
                    found[(s.type, item.kind, item.trust)] += 1
    return found


def test_a_batch_import_banks_what_banking_one_by_one_banks_for_index_and_feed(
    ctx: ServiceContext, other_ctx: ServiceContext
) -> None:
    items = list_items(seed=5, count=11)
    views = []
    for store_ctx, bank in (
        (ctx, lambda c: run_import(c, csv_of(items), batch=4)),
        (other_ctx, lambda c: bank_one_by_one(c, items)),
    ):
        cursor = feed_start(store_ctx)
        live = LiveIndexes(store_ctx.store, store_ctx.settings)
        live.build()
        assert live.size == 0
        bank(store_ctx)
        assert live.catch_up() == len(items)
        stored = stored_items(store_ctx)
        events = added_events(store_ctx)
        # Each item has its one item_added event, naming its row and carrying its signals.
        assert set(events) == set(stored)
        with store_ctx.store.read() as repo:
            for ref, (item_id, payload) in events.items():
                row = repo.get_item(ref)
                assert row is not None and row.id == item_id
                kind, trust, _, signals = stored[ref]
                assert (payload["kind"], payload["trust"]) == (kind, trust)
                assert {(s["type"], s["value"], s["quality"]) for s in payload["signals"]} == (
                    signals
                )
        mirror = feed_after(store_ctx, cursor)
        feed = {
            ref: (
                i["kind"],
                i["trust"],
                i["state"],
                frozenset((s["type"], s["value"], s["quality"]) for s in i["signals"]),
            )
            for ref, i in mirror.items.items()
        }
        assert feed == stored
        views.append(
            (
                Counter(stored.values()),
                Counter(without_ref(p) for _, p in events.values()),
                index_view(live, store_ctx),
                live.sizes(),
            )
        )
    imported, one_by_one = views
    assert imported == one_by_one
    assert sum(imported[0].values()) == 11 and imported[3]["pdq"] == 11


def test_the_batch_size_changes_nothing_and_a_rerun_banks_nothing_new(
    ctx: ServiceContext, other_ctx: ServiceContext
) -> None:
    rng = np.random.default_rng(6)
    good = [random_pdq(rng) for _ in range(9)]
    public, faint, mine, elsewhere = (random_pdq(rng) for _ in range(4))
    shared_md5 = "d" * 32
    text = (
        "signal_type,value,trust,item_ref,quality\n"
        f"pdq,{good[0]},vouched,a,90\n"  # line 2
        f"md5,{shared_md5},vouched,a,\n"  # line 3: item a is pdq + md5
        f"pdq,{public},vouched,,90\n"  # line 4: allowlisted
        f"pdq,{faint},vouched,,10\n"  # line 5: low quality
        "pdq,0123,vouched,,90\n"  # line 6: invalid
        f"pdq,{mine},vouched,,90\n"  # line 7: the partner banked it already
        f"pdq,{elsewhere},vouched,,90\n"  # line 8: banked, but anonymously: banked again
        f"pdq,{good[1]},vouched,b,90\n"  # line 9
        f"pdq,{good[2]},vouched,b,90\n"  # line 10: a second pdq for item b
        f"md5,{shared_md5},vouched,c,\n"  # line 11: item c's md5 is item a's: already banked
        f"pdq,{good[3]},quarantined,c,90\n"  # line 12
        + "".join(f"pdq,{p},unvouched,,90\n" for p in good[4:])  # lines 13-17
        + f"pdq,{good[4]},vouched,,90\n"  # line 18: twice in the list (another batch)
    )
    reports = []
    for store_ctx, batch in ((ctx, 1), (other_ctx, 1000)):
        helpline = partner_actor(store_ctx)
        with store_ctx.store.write() as repo:
            repo.add_to_allowlist(Signal("pdq", public, 100), note="a famous photo")
        create_case(store_ctx, helpline, [ItemSubmission((Signal("pdq", mine, 90),))])
        create_case(store_ctx, Actor.reporter(), [ItemSubmission((Signal("pdq", elsewhere, 90),))])
        first = run_import(store_ctx, text, batch)
        with store_ctx.store.read() as repo:
            head = repo.last_event_seq()
        again = run_import(store_ctx, text, batch)
        with store_ctx.store.read() as repo:
            assert repo.last_event_seq() == head, "a re-run appends no event"
        assert (again.items_banked, again.case_number) == (0, None)
        assert again.already_banked == first.items_banked + first.already_banked
        assert again.refused == first.refused
        with store_ctx.store.read() as repo:
            case = repo.get_case(first.case_number or "")
            assert case is not None
            trusts = Counter(item.trust for item in repo.list_items(case.id))
        reports.append((first, sorted(stored_items(store_ctx).values()), trusts))

    (one, one_items, one_trusts), (many, many_items, many_trusts) = reports
    assert one_items == many_items and one_trusts == many_trusts
    assert replace(one, case_number=None) == replace(many, case_number=None)
    assert (one.items_banked, one.signals_banked, one.already_banked) == (8, 9, 3)
    assert [(r.line, r.code) for r in one.refused] == [
        (4, "allowlisted"),
        (5, "low_quality"),
        (6, "invalid_hash"),
        (10, "duplicate_signal"),
    ]
    assert one_trusts == {"vouched": 3, "unvouched": 5}  # a list's quarantined: unvouched


def test_a_withdrawn_imported_item_is_erased_and_may_be_imported_again(
    ctx: ServiceContext,
) -> None:
    items = list_items(seed=7, count=3)
    first = run_import(ctx, csv_of(items), batch=2)
    assert first.case_number is not None
    refs = list(stored_items(ctx))
    withdraw_item(ctx, partner_actor(ctx), first.case_number, refs[0])
    with ctx.store.read() as repo:
        erased = [e for e in repo.read_events(0, 100) if e.item_ref == refs[0]]
    assert [e.type for e in erased] == [ITEM_ADDED, ITEM_WITHDRAWN]
    assert all(s["value"] is None for s in erased[0].payload["signals"])

    again = run_import(ctx, csv_of(items), batch=2)
    assert (again.items_banked, again.already_banked) == (1, 2)


def test_the_bulk_event_append_refuses_what_must_be_appended_one_by_one(
    ctx: ServiceContext,
) -> None:
    with ctx.store.write() as repo:
        with pytest.raises(ValueError, match="one by one"):
            append_events(repo.conn, [NewEvent(ITEM_WITHDRAWN, {}, 1, "itm_x")])
        with pytest.raises(ValueError, match="unknown event type"):
            append_events(repo.conn, [NewEvent("item_renamed", {})])
        with pytest.raises(ValueError, match="both item_id and item_ref"):
            append_events(repo.conn, [NewEvent(ITEM_ADDED, {}, 1)])
        assert append_events(repo.conn, []) == 0
        assert repo.add_items_bulk(1, []) == [] and repo.add_signals_bulk([]) == 0


def partner_actor(ctx: ServiceContext) -> Actor:
    with ctx.store.read() as repo:
        partner = repo.get_partner("Helpline")
    assert partner is not None
    return Actor(kind="intake", key_id="key_test", partner_id=partner.id)


def test_an_import_leaves_postgresql_knowing_the_size_of_the_bank(ctx: ServiceContext) -> None:
    from sqlalchemy import text

    items = list_items(seed=8, count=40)
    run_import(ctx, csv_of(items), batch=16)
    if ctx.store.engine.dialect.name != "postgresql":
        return  # SQLite keeps no statistics unless asked (hashwall never asks)
    with ctx.store.read() as repo:
        sizes = {
            name: size
            for name, size in repo.conn.execute(
                text(
                    "SELECT relname, reltuples FROM pg_class WHERE relnamespace = "
                    "current_schema()::regnamespace AND relname IN ('items', 'signals', 'events')"
                )
            )
        }
    assert sizes == {"items": 40, "signals": 40 + 14, "events": 40}
