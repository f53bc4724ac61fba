"""The feed's snapshot: the live items a platform syncs, page by page, with their signals."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hashwall.domain import LIVE_ITEM_STATES, Item
from hashwall.store.events import ITEM_ADDED
from hashwall.store.repositories.base import RepositoryBase, build_row
from hashwall.store.repositories.signals import StoredSignal
from hashwall.store.tables import events, items, signals


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
            .where(items.c.state.in_(LIVE_ITEM_STATES), items.c.item_ref > after, ~added_later)
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
    ) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str, Any, Any, Any]]]:
        """The rows of :meth:`read_snapshot_page` as plain tuples, for the binary snapshot
        (no objects per row): ``(item_ref, kind, trust, state)`` by ref, and the signals of
        those items ``(item_ref, type, value, quality, frame_number, frame_timestamp)`` by item
        ref then insertion order."""
        added_later = (
            select(events.c.seq)
            .where(events.c.item_id == items.c.id, events.c.type == ITEM_ADDED, events.c.seq > at)
            .exists()
        )
        live = (items.c.state.in_(LIVE_ITEM_STATES), items.c.item_ref > after, ~added_later)
        page = [
            (row[0], row[1], row[2], row[3])
            for row in self.conn.execute(
                select(items.c.item_ref, items.c.kind, items.c.trust, items.c.state)
                .where(*live)
                .order_by(items.c.item_ref)
                .limit(count)
            )
        ]
        if not page:
            return [], []
        held = [
            (row[0], row[1], row[2], row[3], row[4], row[5])
            for row in self.conn.execute(
                select(
                    items.c.item_ref,
                    signals.c.type,
                    signals.c.value,
                    signals.c.quality,
                    signals.c.frame_number,
                    signals.c.frame_timestamp,
                )
                .select_from(items.join(signals, signals.c.item_id == items.c.id))
                .where(*live, items.c.item_ref <= page[-1][0])
                .order_by(items.c.item_ref, signals.c.id)
            )
        ]
        return page, held
