"""The feed: what a platform needs to match uploads locally, as a snapshot plus ordered events.

A platform that cannot send every upload over the network syncs the bank instead: first a
*snapshot* of the live set (every ``active`` or ``quarantined`` item: its ref, kind, trust, state
and signals), then the *events* after it, in ``seq`` order, forever. Every call returns one page
and an opaque ``cursor`` to pass to the next call; ``more`` says whether the next call has
something to return right now.

The cursor (``hwf1.`` + base64url JSON) holds a phase and a position:

- ``snapshot`` phase: ``(at, after)``. ``at`` is the event ``seq`` the snapshot was started at
  (the log's head when the first page was read); ``after`` the last item ref returned. Items are
  paged by their random public ref. A page returns the items live *when the page is read* with
  ``item_ref > after``, except those whose ``item_added`` event is after ``at`` (the event phase
  delivers those, so no item comes twice).
- ``events`` phase: ``(seq)``. A page returns the events with ``seq`` greater than it, in order.
  When the snapshot's last page is read, the same call goes on with the events after ``at``.

Each page is read in one consistent snapshot of the store (:meth:`Store.read`, ``REPEATABLE
READ`` on PostgreSQL), and the event log is gap-free for followers (``store/events.py``). So:

- **No gaps.** Every item live at ``at`` and still live when its page is read is in the
  snapshot; every change from ``at`` on is an event of the event phase.
- **No duplicates.** An item ref comes at most once in the snapshot (refs only grow along the
  pages); an event ``seq`` at most once (it only grows).
- **Exactly the live set.** Events are state assignments (``item_added`` sets the whole item,
  ``item_withdrawn``/``item_deleted`` remove it, ``item_quarantined``/``item_reinstated`` set
  its state, ``trust_changed`` its trust). A snapshot page may already show a change the event
  phase then replays; applying an assignment twice changes nothing, so a consumer that applies
  snapshot then events (:class:`FeedMirror`) ends with exactly the live set.
- **Never the values of a withdrawn or deleted item.** The snapshot holds only items live when
  the page is read; withdrawal and deletion erase the values from the item's earlier events in
  the same transaction; and every ``item_added`` returned is checked against the item's state
  in the page's own snapshot (values are dropped unless it is live). A consumer that starts (or
  resumes, from any cursor) after a withdrawal never receives that item's values.

Every read writes an ``audit`` row (``feed_read``, the acting key, the platform, counts).

An item's signals come whole and as banked, whatever their type: a ``keypoints`` set (a geometric
type: kilobytes of hex) is one signal like a PDQ hash, so that a platform's copy matches crops
and screenshots as the service does (``service/local_match.py``).

**The binary snapshot** (:func:`open_snapshot_stream`, ``GET /v1/feed/snapshot``) serves the
snapshot phase of a big bank as blocks of columns (``service/feed_blocks.py``) instead of JSON
pages: each block is exactly the snapshot page of that size (same query, its own consistent
read, its own audit row, ``"format": "blocks"``), and the stream ends with the events-phase
cursor to read ``GET /v1/feed`` from. Every guarantee above holds for it unchanged. A geometric
type's values, of any length, are packed there (their bytes and the length of each) rather than
padded to the longest.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from hashwall.domain import LIVE_ITEM_STATES, Actor, Platform, PlatformPolicy
from hashwall.errors import Forbidden, InvalidCursor, InvalidInput, NotFound
from hashwall.service.context import ServiceContext
from hashwall.service.feed_blocks import ItemBlock, build_block
from hashwall.store.events import (
    INTERNAL_EVENT_TYPES,
    ITEM_ADDED,
    ITEM_DELETED,
    ITEM_QUARANTINED,
    ITEM_REINSTATED,
    ITEM_WITHDRAWN,
    TRUST_CHANGED,
    Event,
)
from hashwall.store.repo import Repository
from hashwall.store.repositories.signals import StoredSignal

Phase = Literal["snapshot", "events"]

DEFAULT_FEED_LIMIT: Final = 1000
MAX_FEED_LIMIT: Final = 10_000
#: Items per block of the binary snapshot (default and most).
DEFAULT_BLOCK_ITEMS: Final = 50_000
MAX_BLOCK_ITEMS: Final = 200_000
FEED_READ: Final = "feed_read"

_CURSOR_PREFIX: Final = "hwf1."
_MAX_CURSOR_LENGTH: Final = 512
_SIGNAL_FIELDS: Final = ("type", "value", "quality", "frame_number", "frame_timestamp")
_STATE_OF_EVENT: Final = {ITEM_QUARANTINED: "quarantined", ITEM_REINSTATED: "active"}
_REMOVING_EVENTS: Final = frozenset({ITEM_WITHDRAWN, ITEM_DELETED})


# --- the cursor ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position in the feed. ``seq``: the snapshot's event seq, or the last event returned."""

    phase: Phase
    seq: int
    after_item: str = ""

    def encode(self) -> str:
        """The opaque string given to consumers."""
        body: dict[str, Any] = {"p": "s" if self.phase == "snapshot" else "e", "q": self.seq}
        if self.phase == "snapshot":
            body["a"] = self.after_item
        raw = json.dumps(body, separators=(",", ":")).encode()
        return _CURSOR_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse a cursor this service issued; anything else is ``invalid_cursor``."""
        bad = InvalidCursor(
            "this feed cursor was not issued by this service; start again without a cursor"
        )
        if not isinstance(text, str) or len(text) > _MAX_CURSOR_LENGTH:
            raise bad
        if not text.startswith(_CURSOR_PREFIX):
            raise bad
        payload = text[len(_CURSOR_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            body = json.loads(raw)
        except (binascii.Error, ValueError):
            raise bad from None
        if not isinstance(body, dict):
            raise bad
        phase, seq, after = body.get("p"), body.get("q"), body.get("a", "")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise bad
        if phase == "s" and isinstance(after, str) and set(body) == {"p", "q", "a"}:
            return cls("snapshot", seq, after)
        if phase == "e" and set(body) == {"p", "q"}:
            return cls("events", seq)
        raise bad


# --- what a page holds -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedItem:
    """A live item of the snapshot: everything needed to match it locally."""

    item_ref: str
    kind: str
    trust: str
    state: str
    signals: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One event of the log, in the feed's form (``data`` holds the type's own fields)."""

    seq: int
    type: str
    item_ref: str | None
    created_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page: snapshot items and/or events, the cursor for the next call, and ``more``.

    ``snapshot_seq`` is the seq the snapshot was taken at (None in the events phase);
    ``head_seq`` the log's head when the page was read. ``policy`` is the platform's.
    """

    platform: str
    policy: PlatformPolicy
    phase: Phase
    snapshot_seq: int | None
    items: tuple[FeedItem, ...]
    events: tuple[FeedEvent, ...]
    cursor: str
    more: bool
    head_seq: int


# --- the use case ----------------------------------------------------------------------------


def read_feed(
    ctx: ServiceContext,
    actor: Actor,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_FEED_LIMIT,
    platform: str | None = None,
) -> FeedPage:
    """One page of the feed for a platform, from ``cursor`` (None: start with the snapshot).

    A platform key needs the ``feed`` scope and reads its own platform's feed (``platform``, if
    given, must be its own). The operator and admin keys name the ``platform``. ``limit`` (1 to
    10 000) bounds the items plus events of the page.
    """
    actor.require("operator", "admin", "platform", scope="feed")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_FEED_LIMIT:
        raise InvalidInput(f"limit must be from 1 to {MAX_FEED_LIMIT}")
    start = Cursor.decode(cursor) if cursor is not None else None
    with ctx.store.read() as repo:
        target = _platform(repo, actor, platform)
        head = repo.last_event_seq()
        position = start or Cursor("snapshot", head)
        if position.seq > head:
            raise InvalidCursor("this feed cursor is ahead of the event log; start again")
        page_items: list[FeedItem] = []
        page_events: list[FeedEvent] = []
        snapshot_seq: int | None = None
        if position.phase == "snapshot":
            snapshot_seq = position.seq
            rows = _snapshot_items(repo, position.seq, position.after_item, limit + 1)
            if len(rows) > limit:
                page_items = rows[:limit]
                nxt = Cursor("snapshot", position.seq, page_items[-1].item_ref)
            else:
                page_items = rows
                room = limit - len(rows)
                page_events, read_to = (
                    _events(repo, position.seq, room) if room else ([], position.seq)
                )
                nxt = Cursor("events", read_to)
        else:
            page_events, read_to = _events(repo, position.seq, limit)
            nxt = Cursor("events", read_to)
        more = nxt.phase == "snapshot" or nxt.seq < head
    with ctx.store.write() as repo:
        repo.add_audit(
            FEED_READ,
            actor_key_id=actor.key_id,
            target=target.name,
            details={
                "phase": position.phase,
                "from_seq": position.seq,
                "to_seq": nxt.seq,
                "items": len(page_items),
                "events": len(page_events),
            },
        )
    return FeedPage(
        platform=target.name,
        policy=target.policy,
        phase=position.phase,
        snapshot_seq=snapshot_seq,
        items=tuple(page_items),
        events=tuple(page_events),
        cursor=nxt.encode(),
        more=more,
        head_seq=head,
    )


@dataclass(frozen=True, slots=True)
class SnapshotStream:
    """The binary snapshot of one platform's feed from a snapshot cursor: who, where the
    snapshot stands, and its blocks (read lazily, one consistent read and audit row each)."""

    platform: str
    policy: PlatformPolicy
    snapshot_seq: int
    head_seq: int
    blocks: Iterator[tuple[ItemBlock, str]]
    events_cursor: str


def open_snapshot_stream(
    ctx: ServiceContext,
    actor: Actor,
    *,
    cursor: str | None = None,
    block: int = DEFAULT_BLOCK_ITEMS,
    platform: str | None = None,
) -> SnapshotStream:
    """The snapshot phase from ``cursor`` (None: a new snapshot at the log's head) as blocks
    of ``block`` items; the access rules and the cursor are those of :func:`read_feed`, which
    reads on from :attr:`SnapshotStream.events_cursor`. An events-phase cursor has no snapshot
    left: ``invalid_input``."""
    actor.require("operator", "admin", "platform", scope="feed")
    if isinstance(block, bool) or not isinstance(block, int) or not 1 <= block <= MAX_BLOCK_ITEMS:
        raise InvalidInput(f"block must be from 1 to {MAX_BLOCK_ITEMS}")
    start = Cursor.decode(cursor) if cursor is not None else None
    with ctx.store.read() as repo:
        target = _platform(repo, actor, platform)
        head = repo.last_event_seq()
    position = start or Cursor("snapshot", head)
    if position.seq > head:
        raise InvalidCursor("this feed cursor is ahead of the event log; start again")
    if position.phase != "snapshot":
        raise InvalidInput("this cursor is past the snapshot: read GET /v1/feed from it")

    def blocks() -> Iterator[tuple[ItemBlock, str]]:
        after = position.after_item
        while True:
            with ctx.store.read() as repo:
                rows, held, last = repo.read_snapshot_rows(position.seq, after, block)
            nxt = Cursor("snapshot", position.seq, rows[-1][0]) if rows else None
            with ctx.store.write() as repo:
                repo.add_audit(
                    FEED_READ,
                    actor_key_id=actor.key_id,
                    target=target.name,
                    details={
                        "phase": "snapshot",
                        "format": "blocks",
                        "from_seq": position.seq,
                        "to_seq": position.seq,
                        "items": len(rows),
                        "events": 0,
                    },
                )
            if nxt is None:
                return
            yield build_block(rows, held), nxt.encode()
            if last:
                return
            after = nxt.after_item

    return SnapshotStream(
        platform=target.name,
        policy=target.policy,
        snapshot_seq=position.seq,
        head_seq=head,
        blocks=blocks(),
        events_cursor=Cursor("events", position.seq).encode(),
    )


def _platform(repo: Repository, actor: Actor, name: str | None) -> Platform:
    if actor.kind == "platform":
        own = repo.get_platform_by_id(actor.platform_id) if actor.platform_id is not None else None
        if own is None:
            raise Forbidden("this key belongs to no platform")
        if name is not None and name != own.name:
            raise Forbidden("a platform key reads its own platform's feed only")
        return own
    if name is None:
        raise InvalidInput("name the platform whose feed to read")
    found = repo.get_platform(name)
    if found is None:
        raise NotFound(f"no platform named {name!r}")
    return found


def _snapshot_items(repo: Repository, at: int, after: str, count: int) -> list[FeedItem]:
    """Up to ``count`` items live now, by ref after ``after``, banked at or before ``at``."""
    return [
        FeedItem(
            item.item_ref,
            item.kind,
            item.trust,
            item.state,
            tuple(_signal(_signal_fields(s)) for s in held),
        )
        for item, held in repo.read_snapshot_page(at, after, count)
    ]


def _signal_fields(stored: StoredSignal) -> dict[str, Any]:
    return {
        "type": stored.type,
        "value": stored.value,
        "quality": stored.quality,
        "frame_number": stored.frame_number,
        "frame_timestamp": stored.frame_timestamp,
    }


def _signal(raw: Mapping[str, Any]) -> dict[str, Any]:
    body = {name: raw.get(name) for name in ("type", "value", "quality")}
    for name in ("frame_number", "frame_timestamp"):
        if raw.get(name) is not None:
            body[name] = raw[name]
    return body


def _events(repo: Repository, after: int, count: int) -> tuple[list[FeedEvent], int]:
    """Up to ``count`` events after ``after``, with values only for items live in this read,
    and the last ``seq`` read (the next cursor).

    Internal events (key revocations, platform changes: ``INTERNAL_EVENT_TYPES``) are read past
    but never returned: they concern the service's processes, not what a platform may see.
    """
    log = repo.read_events(after, count)
    added = {e.item_id for e in log if e.type == ITEM_ADDED and e.item_id is not None}
    live = {
        item_id
        for item_id, item in repo.get_items_by_ids(added).items()
        if item.state in LIVE_ITEM_STATES
    }
    shown = [_feed_event(e, e.item_id in live) for e in log if e.type not in INTERNAL_EVENT_TYPES]
    return shown, log[-1].seq if log else after


def _feed_event(event: Event, values_allowed: bool) -> FeedEvent:
    payload = event.payload
    data: dict[str, Any]
    if event.type == ITEM_ADDED:
        raw_signals = payload.get("signals")
        kept = [
            _signal(s)
            for s in (raw_signals if isinstance(raw_signals, list) else [])
            if values_allowed and isinstance(s, Mapping) and s.get("value") is not None
        ]
        data = {
            "kind": payload.get("kind", "image"),
            "trust": payload.get("trust"),
            "state": payload.get("state", "active"),
            "signals": kept,
        }
    elif event.type in _STATE_OF_EVENT:
        data = {"state": _STATE_OF_EVENT[event.type]}
    elif event.type == TRUST_CHANGED:
        data = {"trust": payload.get("trust")}
    elif event.type in _REMOVING_EVENTS:
        data = {}
    else:  # a type this version does not know: its fields, never any signals
        data = {"data": {k: v for k, v in payload.items() if k not in ("signals", "item")}}
    return FeedEvent(event.seq, event.type, event.item_ref, event.created_at, data)


# --- a reference consumer --------------------------------------------------------------------


@dataclass
class FeedMirror:
    """A platform's local copy of the live set, built by applying feed pages in order.

    ``items`` maps item ref -> ``{"kind", "trust", "state", "signals"}``. Apply each page's
    JSON form (what ``GET /v1/feed`` answers) with :meth:`apply`, then read the feed again
    from :attr:`cursor` until ``more`` is False (and again later, to follow new events).
    """

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    cursor: str | None = None

    def apply(self, page: Mapping[str, Any]) -> None:
        """Apply one page (snapshot items, then events) and remember its cursor."""
        for item in page["items"]:
            self.items[item["item"]] = {
                "kind": item["kind"],
                "trust": item["trust"],
                "state": item["state"],
                "signals": list(item["signals"]),
            }
        for event in page["events"]:
            self._apply_event(event)
        self.cursor = page["cursor"]

    def _apply_event(self, event: Mapping[str, Any]) -> None:
        ref = event.get("item")
        if ref is None:
            return
        kind = event["type"]
        if kind == ITEM_ADDED:
            self.items[ref] = {
                "kind": event["kind"],
                "trust": event["trust"],
                "state": event["state"],
                "signals": list(event["signals"]),
            }
        elif kind in _REMOVING_EVENTS:
            self.items.pop(ref, None)
        elif ref in self.items and kind in _STATE_OF_EVENT:
            self.items[ref]["state"] = event["state"]
        elif ref in self.items and kind == TRUST_CHANGED:
            self.items[ref]["trust"] = event["trust"]
