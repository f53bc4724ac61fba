"""What every repository shares: the connection and clock of its unit of work, and the
mapping of rows to the frozen dataclasses of :mod:`hashwall.domain`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Row, Table, exists, insert, select, update

from hashwall.errors import AlreadyExists, NotFound

Clock = Callable[[], datetime]

T = TypeVar("T")


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the default clock)."""
    return datetime.now(UTC)


class RepositoryBase:
    """One connection inside the caller's transaction (never committed here), and a clock."""

    def __init__(self, conn: Connection, *, clock: Clock = utc_now) -> None:
        self.conn = conn
        self.clock = clock

    def _insert(self, table: Table, cls: type[T], **values: Any) -> T:
        row = self.conn.execute(insert(table).values(**values).returning(*table.c)).one()
        return build_row(cls, row)

    def _update_one(self, table: Table, cls: type[T], row_id: int, **values: Any) -> T:
        row = self.conn.execute(
            update(table).where(table.c.id == row_id).values(**values).returning(*table.c)
        ).one_or_none()
        if row is None:
            raise NotFound(f"no {table.name} row with id {row_id}")
        return build_row(cls, row)

    def _one(self, cls: type[T], stmt: Any) -> T | None:
        row = self.conn.execute(stmt).one_or_none()
        return build_row(cls, row) if row is not None else None

    def _all(self, cls: type[T], stmt: Any) -> list[T]:
        return [build_row(cls, row) for row in self.conn.execute(stmt)]

    def _require_free(self, table: Table, name: str, what: str) -> None:
        if self.conn.execute(select(exists().where(table.c.name == name))).scalar():
            raise AlreadyExists(f"a {what} named {name!r} already exists; choose another name")


def build_row(cls: type[T], row: Row[Any]) -> T:
    """A dataclass from a row whose columns are named like its fields."""
    return from_mapping(cls, row._mapping)


def from_mapping(cls: type[T], mapping: Mapping[Any, Any]) -> T:
    """A dataclass from a mapping holding (at least) its fields."""
    names = [f.name for f in fields(cast(Any, cls))]
    return cls(**{name: mapping[name] for name in names})
