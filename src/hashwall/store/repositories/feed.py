"""The feed's snapshot: the live items a platform syncs, page by page, with their signals."""

from __future__ import annotations

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
