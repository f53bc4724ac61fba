"""The event log: an append-only table whose ``seq`` is strictly increasing in commit order.

Every serving process's live index and every platform's feed follow this log by reading
``seq > last_seen`` (:func:`read_events`). That is only safe if no event can become visible
after one with a larger ``seq``:

- **PostgreSQL**: a sequence value is drawn when the row is inserted, but becomes visible when
  its transaction commits; two writers can commit in the other order, and a follower that has
  already moved past the larger number would skip the smaller one forever. So
  :func:`append_event` first takes a transaction-level advisory lock
  (``pg_advisory_xact_lock(EVENTS_LOCK_ID)``) and only then draws ``seq``. The lock is held until
  commit or rollback, so appends are serialised and visible order is commit order. Keep
  transactions short after appending (append events last).
- **SQLite**: one writer at a time (``BEGIN IMMEDIATE``, see ``engine.py``); ``AUTOINCREMENT``
  never reuses a number.

A rolled-back append leaves a gap in ``seq``: followers must use ``seq > last_seen``, never
``seq == last_seen + 1``.

Besides item events, ``api_key_revoked`` and ``platform_changed`` tell every serving process
to drop a cached key (``service/key_cache.py``); they are internal (:data:`INTERNAL_EVENT_TYPES`)
and the feed never shows them.

Payloads are JSON objects. Item events carry the item's public ref in the ``item_ref`` column
(and, by convention, ``payload["item"]``); ``item_added`` carries its signals as
``payload["signals"] = [{"type", "value", "quality"}, ...]`` (frames add ``frame_number`` and
``frame_timestamp``). When an item is withdrawn or deleted, :func:`erase_item_signals` sets every
``value`` in its earlier events to ``null``; :func:`append_event` does it by itself for
``item_withdrawn`` and ``item_deleted``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection, func, insert, select, text, update

from hashwall.store.tables import events

ITEM_ADDED: Final = "item_added"
ITEM_WITHDRAWN: Final = "item_withdrawn"
ITEM_DELETED: Final = "item_deleted"
ITEM_QUARANTINED: Final = "item_quarantined"
ITEM_REINSTATED: Final = "item_reinstated"
TRUST_CHANGED: Final = "trust_changed"
#: A key was revoked (payload ``key_id``): serving processes drop it from their key cache.
API_KEY_REVOKED: Final = "api_key_revoked"
#: A platform's row or policy changed (payload ``platform_id``): cached keys re-read it.
PLATFORM_CHANGED: Final = "platform_changed"

#: Known event types. A new type is one line here (and a consumer that understands it).
EVENT_TYPES: Final = frozenset(
    {
        ITEM_ADDED,
        ITEM_WITHDRAWN,
        ITEM_DELETED,
        ITEM_QUARANTINED,
        ITEM_REINSTATED,
        TRUST_CHANGED,
        API_KEY_REVOKED,
        PLATFORM_CHANGED,
    }
)
#: Events for the service's own processes only: never shown in a platform's feed.
INTERNAL_EVENT_TYPES: Final = frozenset({API_KEY_REVOKED, PLATFORM_CHANGED})
#: Events after which an item's signal values must exist nowhere.
ERASING_EVENT_TYPES: Final = frozenset({ITEM_WITHDRAWN, ITEM_DELETED})

#: ``pg_advisory_xact_lock`` key serialising appends: the bytes of "hashwall" as a bigint.
EVENTS_LOCK_ID: Final = int.from_bytes(b"hashwall", "big")
#: PostgreSQL NOTIFY channel; the payload is the new ``seq``, delivered at commit.
NOTIFY_CHANNEL: Final = "hashwall_events"


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the log. ``item_id`` is internal (for the index); ``item_ref`` is public."""

    seq: int
    type: str
    item_id: int | None
    item_ref: str | None
    payload: dict[str, Any]
    created_at: datetime


def append_event(
    conn: Connection,
    event_type: str,
    payload: Mapping[str, Any],
    *,
    item_id: int | None = None,
    item_ref: str | None = None,
    now: datetime | None = None,
) -> Event:
    """Append one event in ``conn``'s transaction and return it with its ``seq``.

    On PostgreSQL this takes the events advisory lock before drawing ``seq`` (held until the
    transaction ends). For ``item_withdrawn``/``item_deleted`` the item's earlier events are
    erased first (:func:`erase_item_signals`).
    """
    _check_event(event_type, item_id, item_ref)
    _require_transaction(conn, "append_event")
    created_at = now or datetime.now(UTC)
    _lock_log(conn)
    if event_type in ERASING_EVENT_TYPES and item_id is not None:
        erase_item_signals(conn, item_id)
    body = dict(payload)
    seq = conn.execute(
        insert(events)
        .values(
            type=event_type,
            item_id=item_id,
            item_ref=item_ref,
            payload=body,
            created_at=created_at,
        )
        .returning(events.c.seq)
    ).scalar_one()
    _notify(conn, seq)
    return Event(
        seq=seq,
        type=event_type,
        item_id=item_id,
        item_ref=item_ref,
        payload=body,
        created_at=created_at,
    )


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append with :func:`append_events`: its type, payload and item (if any)."""

    type: str
    payload: Mapping[str, Any]
    item_id: int | None = None
    item_ref: str | None = None


def append_events(
    conn: Connection, entries: Sequence[NewEvent], *, now: datetime | None = None
) -> int:
    """Append ``entries`` in ``conn``'s transaction as multi-row inserts and return the largest
    ``seq`` drawn (0 for none): what :func:`append_event` does for each, with the advisory lock
    taken and the NOTIFY sent once (a follower reads the log itself; one wake-up is enough).
    They become visible together, at commit; their order among themselves is not promised.

    Erasing types (``item_withdrawn``, ``item_deleted``) are refused: append them one by one
    with :func:`append_event`, which erases the item's earlier events first.
    """
    for entry in entries:
        _check_event(entry.type, entry.item_id, entry.item_ref)
        if entry.type in ERASING_EVENT_TYPES:
            raise ValueError(f"append {entry.type} events one by one (append_event erases)")
    _require_transaction(conn, "append_events")
    if not entries:
        return 0
    created_at = now or datetime.now(UTC)
    _lock_log(conn)
    # RETURNING without sort_by_parameter_order: SQLAlchemy then batches on SQLite too (sorted,
    # it inserts one row per statement there).
    last = max(
        conn.execute(
            insert(events).returning(events.c.seq),
            [
                {
                    "type": entry.type,
                    "item_id": entry.item_id,
                    "item_ref": entry.item_ref,
                    "payload": dict(entry.payload),
                    "created_at": created_at,
                }
                for entry in entries
            ],
        ).scalars()
    )
    _notify(conn, last)
    return int(last)


def _check_event(event_type: str, item_id: int | None, item_ref: str | None) -> None:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}; known: {sorted(EVENT_TYPES)}")
    if (item_id is None) != (item_ref is None):
        raise ValueError("an item event needs both item_id and item_ref")


def _require_transaction(conn: Connection, caller: str) -> None:
    if not conn.in_transaction():
        raise RuntimeError(f"{caller} must run inside a transaction")


def _lock_log(conn: Connection) -> None:
    """PostgreSQL: the events advisory lock, held until the transaction ends, so that ``seq``
    values become visible in the order they were drawn."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENTS_LOCK_ID})


def _notify(conn: Connection, seq: int) -> None:
    """PostgreSQL: wake the followers (delivered at commit)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_notify(:channel, :seq)"), {"channel": NOTIFY_CHANNEL, "seq": str(seq)}
        )


def read_events(conn: Connection, after_seq: int = 0, limit: int = 1000) -> list[Event]:
    """Events with ``seq > after_seq``, in ``seq`` order, at most ``limit`` of them."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    rows = conn.execute(
        select(events).where(events.c.seq > after_seq).order_by(events.c.seq).limit(limit)
    )
    return [
        Event(
            seq=row.seq,
            type=row.type,
            item_id=row.item_id,
            item_ref=row.item_ref,
            payload=dict(row.payload),
            created_at=row.created_at,
        )
        for row in rows
    ]


def last_event_seq(conn: Connection) -> int:
    """The largest visible ``seq``, or 0 for an empty log (a feed's or an index's start cursor)."""
    value = conn.execute(select(func.max(events.c.seq))).scalar_one_or_none()
    return int(value) if value is not None else 0


def erase_item_signals(conn: Connection, item_id: int) -> int:
    """Set every signal ``value`` in ``item_id``'s events to null; return how many rows changed."""
    changed = 0
    rows = conn.execute(
        select(events.c.seq, events.c.payload)
        .where(events.c.item_id == item_id)
        .order_by(events.c.seq)
    ).all()
    for seq, payload in rows:
        erased = _erased(payload)
        if erased is not None:
            conn.execute(update(events).where(events.c.seq == seq).values(payload=erased))
            changed += 1
    return changed


def _erased(payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """``payload`` with its signal values nulled, or None if it held none."""
    signal_list = payload.get("signals")
    if not isinstance(signal_list, list):
        return None
    if not any(isinstance(s, Mapping) and s.get("value") is not None for s in signal_list):
        return None
    body = dict(payload)
    body["signals"] = [{**s, "value": None} if isinstance(s, Mapping) else s for s in signal_list]
    return body
