"""A feed's events as the changes a feed copy's log holds (``service/feed_copy.py``): ``put``
sets a whole item, ``del`` removes it, ``set`` changes its state or trust. They are the same
state assignments as :class:`hashwall.service.feed.FeedMirror` applies, so a copy that takes a
snapshot and then the events after it ends with the live set."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hashwall.store.events import (
    ITEM_ADDED,
    ITEM_DELETED,
    ITEM_QUARANTINED,
    ITEM_REINSTATED,
    ITEM_WITHDRAWN,
    TRUST_CHANGED,
)


def changes_of_events(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Feed events (their JSON form) as the log's changes: the same state assignments as
    :class:`hashwall.service.feed.FeedMirror` applies."""
    changes: list[dict[str, Any]] = []
    for event in events:
        ref, kind = event.get("item"), event.get("type")
        if ref is None:
            continue
        if kind == ITEM_ADDED:
            changes.append({"op": "put", "item": ref, "kind": event.get("kind"),
                            "trust": event.get("trust"), "state": event.get("state"),
                            "signals": list(event.get("signals") or [])})  # fmt: skip
        elif kind in (ITEM_WITHDRAWN, ITEM_DELETED):
            changes.append({"op": "del", "item": ref})
        elif kind in (ITEM_QUARANTINED, ITEM_REINSTATED):
            changes.append({"op": "set", "item": ref, "state": event.get("state")})
        elif kind == TRUST_CHANGED:
            changes.append({"op": "set", "item": ref, "trust": event.get("trust")})
    return changes
