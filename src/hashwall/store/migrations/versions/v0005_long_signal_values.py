"""Signal values of any length: the ``(type, value)`` index holds the short ones only.

A ``keypoints`` signal is a set of records, 2-10 kB of hex; PostgreSQL refuses a b-tree entry
past ~2.7 kB ("index row size exceeds maximum"), so such a value cannot be in an index of the
whole value. Only values of at most ``INDEXED_VALUE_MAX`` characters are looked up by equality
(digests, PDQ hashes: 32-64 hex digits), so the index becomes a partial one on those; the
queries that look values up say the same condition (``store/tables.py``), which lets both
PostgreSQL and SQLite use it.

The downgrade deletes the rows of longer values (the earlier schema cannot index them): the
items keep their other signals.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: As ``hashwall.store.tables.INDEXED_VALUE_MAX`` (a migration keeps its own copy).
INDEXED_VALUE_MAX = 128
INDEX = "ix_signals_type_value"


def upgrade() -> None:
    """Apply this revision."""
    where = sa.text(f"length(value) <= {INDEXED_VALUE_MAX}")
    op.drop_index(INDEX, table_name="signals")
    op.create_index(INDEX, "signals", ["type", "value"], postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    """Revert this revision (rows of longer values are deleted)."""
    op.drop_index(INDEX, table_name="signals")
    op.execute(f"DELETE FROM signals WHERE length(value) > {INDEXED_VALUE_MAX}")
    op.create_index(INDEX, "signals", ["type", "value"])
