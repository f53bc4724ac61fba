"""The event log: strictly increasing ``seq``, ordered reads, erasure of withdrawn signals."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from hashwall.domain import Item
from hashwall.store.events import (
    EVENTS_LOCK_ID,
    ITEM_ADDED,
    ITEM_DELETED,
    ITEM_QUARANTINED,
    ITEM_WITHDRAWN,
    TRUST_CHANGED,
    append_event,
    erase_item_signals,
    last_event_seq,
    read_events,
)
from hashwall.store.repo import Repository, Store

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
SHA = "ab" * 32


def _added(repo: Repository, signals: list[dict[str, object]] | None = None) -> Item:
    case = repo.create_case(pin_hash="h", channel="anonymous")
    item = repo.add_item(case.id, kind="image", trust="unvouched")
    body = signals or [
        {"type": "pdq", "value": PDQ, "quality": 88},
        {"type": "sha256", "value": SHA, "quality": None},
    ]
    repo.append_event(
        ITEM_ADDED, {"item": item.item_ref, "kind": "image", "signals": body}, item=item
    )
    return item


def test_seq_is_strictly_increasing_across_transactions(store: Store) -> None:
    seqs = []
    for _ in range(5):
        with store.write() as repo:
            seqs.append(repo.append_event(TRUST_CHANGED, {"trust": "vouched"}).seq)
            seqs.append(repo.append_event(ITEM_QUARANTINED, {}).seq)
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    with store.read() as repo:
        assert [e.seq for e in repo.read_events()] == seqs
        assert repo.last_event_seq() == seqs[-1]


def test_a_rolled_back_append_never_reuses_its_seq(store: Store) -> None:
    with store.write() as repo:
        first = repo.append_event(TRUST_CHANGED, {}).seq
    with pytest.raises(RuntimeError), store.write() as repo:
        repo.append_event(TRUST_CHANGED, {})
        raise RuntimeError("abort")
    with store.write() as repo:
        third = repo.append_event(TRUST_CHANGED, {}).seq
    assert third > first
    with store.read() as repo:
        assert [e.seq for e in repo.read_events()] == [first, third]


def test_read_events_after_a_cursor_with_a_limit(store: Store) -> None:
    with store.write() as repo:
        assert repo.last_event_seq() == 0 and repo.read_events() == []
        item = _added(repo)
        repo.append_event(TRUST_CHANGED, {"item": item.item_ref, "trust": "vouched"}, item=item)
        repo.append_event(ITEM_QUARANTINED, {"item": item.item_ref}, item=item)
    with store.read() as repo:
        everything = repo.read_events()
        assert [e.type for e in everything] == [ITEM_ADDED, TRUST_CHANGED, ITEM_QUARANTINED]
        assert repo.read_events(after_seq=everything[0].seq, limit=1) == [everything[1]]
        assert repo.read_events(after_seq=everything[-1].seq) == []
        added = everything[0]
        assert added.item_id == item.id and added.item_ref == item.item_ref
        assert added.payload["signals"][0] == {"type": "pdq", "value": PDQ, "quality": 88}
        assert added.created_at.tzinfo is not None
        with pytest.raises(ValueError):
            repo.read_events(limit=0)


def test_withdrawal_erases_signal_values_from_the_items_earlier_events(store: Store) -> None:
    with store.write() as repo:
        gone = _added(repo)
        kept = _added(repo)
        repo.append_event(ITEM_WITHDRAWN, {"item": gone.item_ref}, item=gone)
    with store.read() as repo:
        by_item = {e.item_ref: e for e in repo.read_events() if e.type == ITEM_ADDED}
    erased = by_item[gone.item_ref].payload["signals"]
    assert erased == [
        {"type": "pdq", "value": None, "quality": 88},
        {"type": "sha256", "value": None, "quality": None},
    ]
    assert by_item[kept.item_ref].payload["signals"][0]["value"] == PDQ
    with store.read() as repo:
        assert PDQ not in str([e.payload for e in repo.read_events() if e.item_id == gone.id])


def test_erase_item_signals_directly_and_on_deletion(store: Store) -> None:
    with store.write() as repo:
        item = _added(repo)
        frames = [{"type": "vpdq_frame", "value": PDQ, "quality": 60, "frame_number": 7}]
        other = _added(repo, frames)
        assert repo.erase_item_signals(item.id) == 1
        assert repo.erase_item_signals(item.id) == 0  # nothing left to erase
        repo.append_event(ITEM_DELETED, {"item": other.item_ref}, item=other)
    with store.read() as repo:
        payloads = [e.payload for e in repo.read_events() if e.type == ITEM_ADDED]
    assert [s["value"] for p in payloads for s in p["signals"]] == [None, None, None]
    assert payloads[1]["signals"][0]["frame_number"] == 7


def test_append_event_refuses_unknown_types_half_items_and_no_transaction(engine: Engine) -> None:
    with engine.begin() as conn:
        with pytest.raises(ValueError):
            append_event(conn, "item_teleported", {})
        with pytest.raises(ValueError):
            append_event(conn, ITEM_ADDED, {}, item_id=1)
    with engine.connect() as conn, pytest.raises(RuntimeError):
        append_event(conn, TRUST_CHANGED, {})


def test_module_functions_work_on_a_plain_connection(engine: Engine) -> None:
    with engine.begin() as conn:
        event = append_event(conn, TRUST_CHANGED, {"trust": "confirmed"})
        assert read_events(conn, 0, 10) == [event]
        assert last_event_seq(conn) == event.seq
        assert erase_item_signals(conn, 12345) == 0


def test_the_advisory_lock_key_is_a_signed_64_bit_integer() -> None:
    assert 0 < EVENTS_LOCK_ID < 2**63
