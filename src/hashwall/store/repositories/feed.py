"""The feed's snapshot: the live items a platform syncs, page by page, with their signals."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import select

from hashwall.domain import LIVE_ITEM_STATES, Item
from hashwall.store.events import ITEM_ADDED
from hashwall.store.repositories.base import RepositoryBase, build_row
from hashwall.store.repositories.signals import StoredSignal
from hashwall.store.tables import events, items, signals

#: An item is live. Written so that no index serves it (``state || ''``): the item ref index
#: must drive a page (a range of refs, in order, up to the limit). With the state index,
#: SQLite read and sorted every live item for every page: a snapshot of N items took O(N²).
_LIVE_STATE: Final = (items.c.state + "").in_(LIVE_ITEM_STATES)


class FeedQueries(RepositoryBase):
    """The read of one page of the feed's snapshot (the events come from the event log)."""

    def read_snapshot_page(
        self, at: int, after: str, count: int
    ) -> list[tuple[Item, list[StoredSignal]]]:
        """Up to ``count`` items live now, by item ref after ``after``, whose ``item_added``
        event is at or before event ``at`` (later ones come as events), each with its signals
        in insertion order."""
        added_later = (
            select(events.c.seq)
            .where(events.c.item_id == items.c.id, events.c.type == ITEM_ADDED, events.c.seq > at)
            .exists()
        )
        page = self._all(
            Item,
            select(items)
            .where(_LIVE_STATE, items.c.item_ref > after, ~added_later)
            .order_by(items.c.item_ref)
            .limit(count),
        )
        by_item: dict[int, list[StoredSignal]] = {item.id: [] for item in page}
        if by_item:
            rows = self.conn.execute(
                select(signals).where(signals.c.item_id.in_(list(by_item))).order_by(signals.c.id)
            )
            for row in rows:
                by_item[row.item_id].append(build_row(StoredSignal, row))
        return [(item, by_item[item.id]) for item in page]

    def read_snapshot_rows(
        self, at: int, after: str, count: int
    ) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str, Any, Any, Any]], bool]:
        """The rows of :meth:`read_snapshot_page` as plain tuples, for the binary snapshot
        (no objects per row): ``(item_ref, kind, trust, state)`` by ref, and the signals of
        those items ``(item_ref, type, value, quality, frame_number, frame_timestamp)`` by item
        ref then insertion order.

        In two statements: the ``count``-th ref after ``after`` (on the ref index alone), then
        the live items of that range of refs with their signals (one outer join), so each item
        is read once. The page may hold fewer than ``count`` items (those of the range that are
        not live, and none only if no live item is left); the last value says whether the range
        reached the last ref (nothing after this page)."""
        while True:
            page, held, bound = self._snapshot_range(at, after, count)
            if page or bound is None:
                return page, held, bound is None
            after = bound  # a whole range of items that are not live: go on past it

    def _snapshot_range(
        self, at: int, after: str, count: int
    ) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str, Any, Any, Any]], Any]:
        bound = self.conn.execute(
            select(items.c.item_ref)
            .where(items.c.item_ref > after)
            .order_by(items.c.item_ref)
            .offset(count - 1)
            .limit(1)
        ).scalar()
        added_later = (
            select(events.c.seq)
            .where(events.c.item_id == items.c.id, events.c.type == ITEM_ADDED, events.c.seq > at)
            .exists()
        )
        in_range = [items.c.item_ref > after]
        if bound is not None:
            in_range.append(items.c.item_ref <= bound)
        rows = self.conn.execute(
            select(
                items.c.item_ref,
                items.c.kind,
                items.c.trust,
                items.c.state,
                signals.c.type,
                signals.c.value,
                signals.c.quality,
                signals.c.frame_number,
                signals.c.frame_timestamp,
            )
            .select_from(items.outerjoin(signals, signals.c.item_id == items.c.id))
            .where(_LIVE_STATE, *in_range, ~added_later)
            .order_by(items.c.item_ref, signals.c.id)
        ).all()
        page: list[tuple[str, str, str, str]] = []
        held: list[tuple[str, str, str, Any, Any, Any]] = []
        last = None
        for ref, kind, trust, state, s_type, value, quality, number, stamp in rows:
            if ref != last:
                page.append((ref, kind, trust, state))
                last = ref
            if s_type is not None:
                held.append((ref, s_type, value, quality, number, stamp))
        return page, held, bound
