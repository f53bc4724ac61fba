"""Cases and their items: created, read, and moved between states."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import exists, insert, select

from hashwall.domain import (
    CASE_CHANNELS,
    CASE_STATUSES,
    ITEM_KINDS,
    ITEM_STATES,
    ITEM_TRUSTS,
    Case,
    CaseStatus,
    Channel,
    Item,
    ItemKind,
    ItemState,
    Trust,
    require_choice,
)
from hashwall.errors import InvalidInput
from hashwall.store.ids import new_case_number, new_item_ref, normalise_case_number
from hashwall.store.repositories.base import RepositoryBase, build_row
from hashwall.store.tables import cases, items


class CaseRepository(RepositoryBase):
    """Reads and writes of cases and items."""

    def create_case(
        self, *, pin_hash: str, channel: Channel, partner_id: int | None = None
    ) -> Case:
        """Open a case with a fresh random case number; ``partner_id`` iff channel is partner."""
        require_choice("channel", channel, CASE_CHANNELS)
        if (channel == "partner") != (partner_id is not None):
            raise InvalidInput("a partner case names its partner; an anonymous case names none")
        number = new_case_number()
        while self.conn.execute(select(exists().where(cases.c.case_number == number))).scalar():
            number = new_case_number()  # 60 random bits: in practice never loops
        return self._insert(
            cases,
            Case,
            case_number=number,
            pin_hash=pin_hash,
            channel=channel,
            partner_id=partner_id,
            status="active",
            created_at=self.clock(),
        )

    def get_case(self, case_number: str) -> Case | None:
        """The case with this number, as a person typed it (normalised first)."""
        number = normalise_case_number(case_number)
        if number is None:
            return None
        return self._one(Case, select(cases).where(cases.c.case_number == number))

    def get_case_by_id(self, case_id: int) -> Case | None:
        """The case with row id ``case_id``."""
        return self._one(Case, select(cases).where(cases.c.id == case_id))

    def list_cases(
        self, *, partner_id: int | None = None, status: CaseStatus | None = None
    ) -> list[Case]:
        """Cases, oldest first, optionally those one partner filed and/or with one status."""
        stmt = select(cases).order_by(cases.c.id)
        if partner_id is not None:
            stmt = stmt.where(cases.c.partner_id == partner_id)
        if status is not None:
            stmt = stmt.where(cases.c.status == status)
        return self._all(Case, stmt)

    def set_case_pin(self, case_id: int, pin_hash: str) -> Case:
        """Replace a case's PIN hash (a partner re-issued the PIN)."""
        return self._update_one(cases, Case, case_id, pin_hash=pin_hash)

    def remove_case(self, case_id: int) -> Case:
        """Mark a case removed by the operator (closed as ``withdrawn``; ``removed_at`` now)."""
        return self._update_one(cases, Case, case_id, status="withdrawn", removed_at=self.clock())

    def set_case_status(self, case_id: int, status: CaseStatus) -> Case:
        """Set a case's status; ``withdrawn`` also records ``withdrawn_at``."""
        require_choice("status", status, CASE_STATUSES)
        withdrawn_at = self.clock() if status == "withdrawn" else None
        return self._update_one(cases, Case, case_id, status=status, withdrawn_at=withdrawn_at)

    def add_item(
        self,
        case_id: int,
        *,
        kind: ItemKind,
        trust: Trust,
        state: ItemState = "active",
    ) -> Item:
        """Add an item to a case with a fresh random item ref."""
        return self.add_items_bulk(case_id, [(kind, trust)], state=state)[0]

    def add_items_bulk(
        self,
        case_id: int,
        new_items: Sequence[tuple[ItemKind, Trust]],
        *,
        state: ItemState = "active",
    ) -> list[Item]:
        """Add ``(kind, trust)`` items to a case (a fresh random item ref each, one
        ``created_at`` for all) in multi-row inserts; returned in the order given. The one
        way items are created (:meth:`add_item` adds one)."""
        for kind, trust in new_items:
            require_choice("kind", kind, ITEM_KINDS)
            require_choice("trust", trust, ITEM_TRUSTS)
        require_choice("state", state, ITEM_STATES)
        if not new_items:
            return []
        now = self.clock()
        refs = [new_item_ref() for _ in new_items]
        # RETURNING unsorted (SQLAlchemy then batches on SQLite too), matched up by item ref.
        rows = self.conn.execute(
            insert(items).returning(*items.c),
            [
                {
                    "item_ref": ref,
                    "case_id": case_id,
                    "kind": kind,
                    "trust": trust,
                    "state": state,
                    "csam": False,
                    "created_at": now,
                }
                for ref, (kind, trust) in zip(refs, new_items, strict=True)
            ],
        )
        by_ref = {row.item_ref: build_row(Item, row) for row in rows}
        return [by_ref[ref] for ref in refs]

    def get_item(self, item_ref: str, *, for_update: bool = False) -> Item | None:
        """The item with public ref ``item_ref``; ``for_update`` locks the row (PostgreSQL)."""
        stmt = select(items).where(items.c.item_ref == item_ref)
        return self._one(Item, stmt.with_for_update() if for_update else stmt)

    def get_item_by_id(self, item_id: int, *, for_update: bool = False) -> Item | None:
        """The item with row id ``item_id``; ``for_update`` locks the row (PostgreSQL)."""
        stmt = select(items).where(items.c.id == item_id)
        return self._one(Item, stmt.with_for_update() if for_update else stmt)

    def get_items_by_ids(self, item_ids: Collection[int]) -> dict[int, Item]:
        """Items by row id, read now (the check re-reads candidates' states before answering)."""
        if not item_ids:
            return {}
        found = self._all(Item, select(items).where(items.c.id.in_(set(item_ids))))
        return {item.id: item for item in found}

    def list_items(self, case_id: int) -> list[Item]:
        """The items of one case, oldest first."""
        return self._all(Item, select(items).where(items.c.case_id == case_id).order_by(items.c.id))

    def list_items_by_state(
        self, state: ItemState, *, limit: int = 100, after_id: int = 0
    ) -> list[Item]:
        """Items in one state (e.g. the quarantine queue), by row id, paged by ``after_id``."""
        require_choice("state", state, ITEM_STATES)
        return self._all(
            Item,
            select(items)
            .where(items.c.state == state, items.c.id > after_id)
            .order_by(items.c.id)
            .limit(limit),
        )

    def set_item_state(self, item_id: int, state: ItemState) -> Item:
        """Set an item's state and ``state_changed_at`` (signals and events: see below)."""
        require_choice("state", state, ITEM_STATES)
        return self._update_one(items, Item, item_id, state=state, state_changed_at=self.clock())

    def set_item_trust(self, item_id: int, trust: Trust) -> Item:
        """Set an item's trust (vouched by a partner, confirmed by a verdict)."""
        require_choice("trust", trust, ITEM_TRUSTS)
        return self._update_one(items, Item, item_id, trust=trust)

    def set_item_csam(self, item_id: int, csam: bool = True) -> Item:
        """Flag (or unflag) an item for the operator's legal duties."""
        return self._update_one(items, Item, item_id, csam=csam)

    def list_flagged_items(self, *, limit: int = 100, after_id: int = 0) -> list[Item]:
        """Items flagged ``csam`` (the operator's queue), by row id, paged by ``after_id``."""
        return self._all(
            Item,
            select(items)
            .where(items.c.csam.is_(True), items.c.id > after_id)
            .order_by(items.c.id)
            .limit(limit),
        )
