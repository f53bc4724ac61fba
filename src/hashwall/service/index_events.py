"""Log events as changes of the in-memory indexes: one change per event, so that the cursor
moves past every event.

======================  ==============================================================
``item_added``          add the item's value of the type (skipped when the value was erased:
                        the item was withdrawn or deleted later, and that event removes it)
``item_withdrawn``      remove the item
``item_deleted``        remove the item
``item_quarantined``    nothing: a quarantined item stays in the index and answers review
``item_reinstated``     nothing (it never left); re-adds the value if the payload carries one
``trust_changed``       nothing (trust is re-read from the store by the check)
``api_key_revoked``     the key cache drops the key (``keys``, see ``service/key_cache.py``)
``platform_changed``    the key cache drops the platform's keys (their policy changed)
anything else           nothing (the cursor still moves past it)
======================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from hashwall.hashing.signals import DistanceSignalType
from hashwall.index.live import IndexEvent
from hashwall.service.digests import DigestChange, DigestIndex
from hashwall.service.search import index_ids
from hashwall.store.events import ITEM_DELETED, ITEM_WITHDRAWN, Event

_REMOVING = frozenset({ITEM_WITHDRAWN, ITEM_DELETED})
_NO_IDS: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)


def index_events(
    events: Sequence[Event],
    kind: type[DistanceSignalType],
    members: dict[int, npt.NDArray[np.int64]] | None = None,
) -> list[IndexEvent]:
    """Translate log events into changes of the index of ``kind`` (one per event, so the
    cursor moves past all).

    See the table of the module docstring. Events without a change become an empty removal.
    For a type an item holds many values of (video frames), each value has its own index id
    (``service/video.py``) and ``members`` (item id -> its index ids, kept by the caller and
    updated here) says which ids an item's removal removes.
    """
    out: list[IndexEvent] = []
    for event in events:
        item_id = event.item_id
        if item_id is None:
            out.append(IndexEvent(event.seq, "remove", _NO_IDS))
            continue
        ids = np.array([item_id], dtype=np.int64)
        if event.type in _REMOVING:
            if kind.many_per_item:
                ids = (members or {}).pop(item_id, _NO_IDS)
            out.append(IndexEvent(event.seq, "remove", ids))
            continue
        if kind.many_per_item:
            out.append(_add_many(event, item_id, kind, members))
            continue
        values = signal_values(event.payload, kind.name)
        if values:
            # One code per item: the last one wins, as in the index.
            out.append(IndexEvent(event.seq, "add", ids, kind.codes(values[-1:])))
        else:
            out.append(IndexEvent(event.seq, "remove", _NO_IDS))
    return out


def _add_many(
    event: Event,
    item_id: int,
    kind: type[DistanceSignalType],
    members: dict[int, npt.NDArray[np.int64]] | None,
) -> IndexEvent:
    """Every value of an item's many (a video's frames), each under its frame's index id."""
    rows = [
        (s["value"], s.get("frame_number"))
        for s in event.payload.get("signals") or ()
        if isinstance(s, dict) and s.get("type") == kind.name and isinstance(s.get("value"), str)
    ]
    if not rows:
        return IndexEvent(event.seq, "remove", _NO_IDS)
    ids = index_ids(kind, [item_id] * len(rows), [frame for _, frame in rows])
    if members is not None:
        held = members.get(item_id)
        members[item_id] = ids if held is None else np.union1d(held, ids)
    return IndexEvent(event.seq, "add", ids, kind.codes([value for value, _ in rows]))


def apply_digest_events(digests: DigestIndex, events: Sequence[Event]) -> None:
    """Apply log events to the exact digests (the rules of :func:`index_events`), as one batch."""
    changes: list[DigestChange] = []
    for event in events:
        item_id = event.item_id
        if item_id is None:
            continue
        if event.type in _REMOVING:
            changes.append(DigestChange(item_id, removed=True))
            continue
        signals = tuple((t, v) for t in digests.types for v in signal_values(event.payload, t))
        if signals:
            changes.append(DigestChange(item_id, signals))
    digests.apply(changes)


def signal_values(payload: dict[str, Any], signal_type: str) -> list[str]:
    """The values of ``signal_type`` in an event's payload (its ``signals`` list)."""
    signal_list = payload.get("signals")
    if not isinstance(signal_list, list):
        return []
    return [
        s["value"]
        for s in signal_list
        if isinstance(s, dict) and s.get("type") == signal_type and isinstance(s.get("value"), str)
    ]
