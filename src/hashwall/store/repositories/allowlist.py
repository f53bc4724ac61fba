"""The allowlist: signals of images known not to be NCII."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import delete, select

from hashwall.domain import AllowlistEntry
from hashwall.errors import NotFound
from hashwall.hashing.signals import Signal
from hashwall.store.repositories.base import RepositoryBase
from hashwall.store.repositories.signals import SignalRecord
from hashwall.store.tables import allowlist


class AllowlistRepository(RepositoryBase):
    """Reads and writes of allowlist entries."""

    def add_to_allowlist(
        self, signal: Signal | SignalRecord, *, note: str | None = None
    ) -> AllowlistEntry:
        """Allowlist a signal; idempotent (an entry already there is returned unchanged)."""
        record = SignalRecord.of(signal)
        existing = self._one(
            AllowlistEntry,
            select(allowlist).where(
                allowlist.c.type == record.type, allowlist.c.value == record.value
            ),
        )
        if existing is not None:
            return existing
        return self._insert(
            allowlist,
            AllowlistEntry,
            type=record.type,
            value=record.value,
            quality=record.quality,
            note=note,
            created_at=self.clock(),
        )

    def list_allowlist(
        self, *, signal_type: str | None = None, limit: int = 1000, after_id: int = 0
    ) -> list[AllowlistEntry]:
        """Allowlist entries by row id, paged by ``after_id``, of one type if given."""
        stmt = (
            select(allowlist).where(allowlist.c.id > after_id).order_by(allowlist.c.id).limit(limit)
        )
        if signal_type is not None:
            stmt = stmt.where(allowlist.c.type == signal_type)
        return self._all(AllowlistEntry, stmt)

    def find_allowlisted(self, signal_type: str, values: Collection[str]) -> set[str]:
        """Which of ``values`` are allowlisted exactly (near PDQ matches: use an index)."""
        if not values:
            return set()
        rows = self.conn.execute(
            select(allowlist.c.value).where(
                allowlist.c.type == signal_type, allowlist.c.value.in_(list(values))
            )
        )
        return {value for (value,) in rows}

    def remove_from_allowlist(self, entry_id: int) -> None:
        """Remove an allowlist entry; :class:`NotFound` if there is none."""
        if not self.conn.execute(delete(allowlist).where(allowlist.c.id == entry_id)).rowcount:
            raise NotFound(f"no allowlist entry {entry_id}")
