"""A reporter's case and its items (one photo or video each), with their enumerations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Channel = Literal["anonymous", "partner"]
CaseStatus = Literal["active", "withdrawn"]
ItemKind = Literal["image", "video"]
Trust = Literal["unvouched", "vouched", "confirmed"]
ItemState = Literal["active", "quarantined", "withdrawn", "deleted"]

CASE_CHANNELS: tuple[Channel, ...] = ("anonymous", "partner")
CASE_STATUSES: tuple[CaseStatus, ...] = ("active", "withdrawn")
ITEM_KINDS: tuple[ItemKind, ...] = ("image", "video")
ITEM_TRUSTS: tuple[Trust, ...] = ("unvouched", "vouched", "confirmed")
ITEM_STATES: tuple[ItemState, ...] = ("active", "quarantined", "withdrawn", "deleted")
#: Items whose signals are banked and may match: the live set.
LIVE_ITEM_STATES: tuple[ItemState, ...] = ("active", "quarantined")


@dataclass(frozen=True, slots=True)
class Case:
    """One reporter's case: public ``case_number``, argon2 ``pin_hash``, channel, status.

    ``id`` fields here and below are internal row ids: they never leave the service.
    """

    id: int
    case_number: str
    pin_hash: str
    channel: Channel
    partner_id: int | None
    status: CaseStatus
    created_at: datetime
    withdrawn_at: datetime | None
    removed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """One photo or video of a case: public ``item_ref``, kind, trust, state, csam flag."""

    id: int
    item_ref: str
    case_id: int
    kind: ItemKind
    trust: Trust
    state: ItemState
    csam: bool
    created_at: datetime
    state_changed_at: datetime | None

    @property
    def live(self) -> bool:
        """Whether the item is in the bank (``active`` or ``quarantined``) and may match."""
        return self.state in LIVE_ITEM_STATES
