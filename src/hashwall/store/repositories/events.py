"""The event log as seen from a unit of work (the log itself: :mod:`hashwall.store.events`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hashwall.domain import Item
from hashwall.store import events as event_log
from hashwall.store.events import Event, NewEvent
from hashwall.store.repositories.base import RepositoryBase


class EventRepository(RepositoryBase):
    """Appends to and reads of the event log."""

    def append_event(
        self, event_type: str, payload: Mapping[str, Any], *, item: Item | None = None
    ) -> Event:
        """Append to the event log (see :func:`hashwall.store.events.append_event`)."""
        return event_log.append_event(
            self.conn,
            event_type,
            payload,
            item_id=item.id if item is not None else None,
            item_ref=item.item_ref if item is not None else None,
            now=self.clock(),
        )

    def append_events(self, entries: Sequence[tuple[str, Mapping[str, Any], Item | None]]) -> int:
        """Append ``(type, payload, item)`` events in multi-row inserts; the largest ``seq``
        (see :func:`hashwall.store.events.append_events`: no erasing types)."""
        return event_log.append_events(
            self.conn,
            [
                NewEvent(
                    event_type,
                    payload,
                    item.id if item is not None else None,
                    item.item_ref if item is not None else None,
                )
                for event_type, payload, item in entries
            ],
            now=self.clock(),
        )

    def read_events(self, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        """Events with ``seq > after_seq``, in order (see :func:`.events.read_events`)."""
        return event_log.read_events(self.conn, after_seq, limit)

    def last_event_seq(self) -> int:
        """The largest visible event ``seq`` (0 when the log is empty)."""
        return event_log.last_event_seq(self.conn)

    def erase_item_signals(self, item_id: int) -> int:
        """Null the signal values in an item's events (done by withdrawal/deletion events too)."""
        return event_log.erase_item_signals(self.conn, item_id)
