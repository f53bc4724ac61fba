"""Test helpers that change the bank through the repository, the way the use cases do.

They write the same rows and the same events (payloads included) as ``service.intake``,
``service.withdraw`` and ``service.verdicts``, without their rules and without argon2, so that
the operator, feed and retention tests (and their property tests) stay fast and independent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hashwall.domain import Trust
from hashwall.hashing.signals import Signal
from hashwall.store.events import ITEM_ADDED, ITEM_QUARANTINED, ITEM_WITHDRAWN
from hashwall.store.repo import Store
from hashwall.store.repositories.signals import SignalRecord

#: A real-looking PDQ hash (128 bits set).
PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def random_pdq(rng: random.Random) -> str:
    """A random PDQ hash with exactly half of its bits set (always valid)."""
    bits = [1] * 128 + [0] * 128
    rng.shuffle(bits)
    return f"{int(''.join(map(str, bits)), 2):064x}"


def random_signals(rng: random.Random) -> list[Signal]:
    """A PDQ (quality 90), an md5 and a sha256, random."""
    return [
        Signal("pdq", random_pdq(rng), 90),
        Signal("md5", f"{rng.getrandbits(128):032x}"),
        Signal("sha256", f"{rng.getrandbits(256):064x}"),
    ]


@dataclass(frozen=True)
class Banked:
    """An item banked by :func:`enrol`: its public ref and its signals."""

    item_ref: str
    case_number: str
    signals: tuple[Signal, ...]


def enrol(
    store: Store,
    signals: list[Signal] | None = None,
    *,
    trust: Trust = "vouched",
    rng: random.Random | None = None,
) -> Banked:
    """Bank one item in a new anonymous case, with its ``item_added`` event (as intake does)."""
    sigs = signals if signals is not None else random_signals(rng or random.Random())
    with store.write() as repo:
        case = repo.create_case(pin_hash="not-a-real-hash", channel="anonymous")
        item = repo.add_item(case.id, kind="image", trust=trust)
        repo.add_signals(item.id, sigs)
        repo.append_event(
            ITEM_ADDED,
            {
                "item": item.item_ref,
                "kind": item.kind,
                "trust": item.trust,
                "signals": [SignalRecord.of(s).to_dict() for s in sigs],
            },
            item=item,
        )
    return Banked(item.item_ref, case.case_number, tuple(sigs))


def withdraw(store: Store, item_ref: str) -> bool:
    """Withdraw a live item as ``service.withdraw`` does; False if it was not live."""
    with store.write() as repo:
        item = repo.get_item(item_ref, for_update=True)
        assert item is not None
        if not item.live:
            return False
        withdrawn = repo.set_item_state(item.id, "withdrawn")
        repo.delete_item_signals(item.id)
        repo.append_event(ITEM_WITHDRAWN, {"item": item.item_ref}, item=withdrawn)
    return True


def quarantine(store: Store, item_ref: str) -> bool:
    """Quarantine an active item as the verdicts rule does; False if it was not active."""
    with store.write() as repo:
        item = repo.get_item(item_ref, for_update=True)
        assert item is not None
        if item.state != "active":
            return False
        updated = repo.set_item_state(item.id, "quarantined")
        repo.append_event(
            ITEM_QUARANTINED, {"item": item.item_ref, "state": "quarantined"}, item=updated
        )
    return True


LiveView = dict[str, tuple[str, str, frozenset[tuple[str, str]]]]


def live_bank(store: Store) -> LiveView:
    """The store's live set: item ref -> (state, trust, {(signal type, value)})."""
    from sqlalchemy import select

    from hashwall.domain import LIVE_ITEM_STATES
    from hashwall.store.tables import items

    out: LiveView = {}
    with store.read() as repo:
        rows = repo.conn.execute(select(items).where(items.c.state.in_(LIVE_ITEM_STATES))).all()
        for row in rows:
            values = frozenset((s.type, s.value) for s in repo.list_signals(row.id))
            out[row.item_ref] = (row.state, row.trust, values)
    return out
