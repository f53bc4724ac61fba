"""A platform's match radius per signal type: ``platforms.thresholds`` in place of
``platforms.pdq_threshold``.

``thresholds`` is a JSON object ``{signal type: radius}``; a distance type it does not name
gets the type's default (``hashing/signals``). Existing platforms keep their PDQ radius:
``{"pdq": <pdq_threshold>}``. The downgrade writes the PDQ radius back (the default, 31, where
the map has none) and drops the other types' radii.

SQLite cannot drop a column that a table CHECK constraint names, and rebuilding ``platforms``
would trip the foreign keys that point at it (a dropped parent counts as violated until the
commit, whatever replaces it). So on SQLite the CHECK constraint's text is taken out of the
table's schema (``writable_schema``: the documented way to remove a CHECK constraint, which
changes nothing stored), then the column is dropped in place.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE: Any = sa.JSON().with_variant(JSONB(), "postgresql")
#: The type whose radius the old column held, and its default (and widest) radius.
OLD_TYPE = "pdq"
OLD_DEFAULT = 31
OLD_CHECK_NAME = "ck_platforms_pdq_threshold"
OLD_CHECK = "pdq_threshold >= 0 AND pdq_threshold <= 31"

_platforms = sa.table(
    "platforms",
    sa.column("id", sa.Integer()),
    sa.column("pdq_threshold", sa.SmallInteger()),
    sa.column("thresholds", JSON_TYPE),
)


def _sqlite() -> bool:
    return bool(op.get_bind().dialect.name == "sqlite")


def _rewrite_sqlite_schema(edit: Any) -> None:
    """Replace the CREATE TABLE text of ``platforms`` by ``edit(text)`` (no data changes)."""
    bind = op.get_bind()
    text = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'platforms'"
    ).scalar_one()
    changed = edit(text)
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'platforms'",
            (changed,),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def _without(pattern: str) -> Any:
    def edit(text: str) -> str:
        changed, count = re.subn(pattern, "", text, count=1)
        if count != 1:
            raise RuntimeError(f"platforms schema not as expected (no {pattern!r}): {text}")
        return changed

    return edit


def upgrade() -> None:
    """Apply this revision."""
    bind = op.get_bind()
    if _sqlite():
        op.execute("ALTER TABLE platforms ADD COLUMN thresholds JSON NOT NULL DEFAULT '{}'")
    else:
        op.add_column("platforms", sa.Column("thresholds", JSON_TYPE, nullable=True))
    rows = bind.execute(sa.select(_platforms.c.id, _platforms.c.pdq_threshold)).all()
    for row_id, radius in rows:
        bind.execute(
            _platforms.update()
            .where(_platforms.c.id == row_id)
            .values(thresholds={OLD_TYPE: int(radius)})
        )
    if _sqlite():
        _rewrite_sqlite_schema(_without(r",\s*CONSTRAINT " + OLD_CHECK_NAME + r" CHECK \([^)]*\)"))
        _rewrite_sqlite_schema(_without(r" DEFAULT '\{\}'"))
        op.execute("ALTER TABLE platforms DROP COLUMN pdq_threshold")
    else:
        op.alter_column("platforms", "thresholds", existing_type=JSON_TYPE, nullable=False)
        op.drop_constraint(op.f(OLD_CHECK_NAME), "platforms", type_="check")
        op.drop_column("platforms", "pdq_threshold")


def downgrade() -> None:
    """Revert this revision (radii of other types are lost)."""
    bind = op.get_bind()
    if _sqlite():
        op.execute(
            "ALTER TABLE platforms ADD COLUMN pdq_threshold SMALLINT NOT NULL"
            f" DEFAULT {OLD_DEFAULT}"
        )
    else:
        op.add_column("platforms", sa.Column("pdq_threshold", sa.SmallInteger(), nullable=True))
    rows = bind.execute(sa.select(_platforms.c.id, _platforms.c.thresholds)).all()
    for row_id, held in rows:
        radii = json.loads(held) if isinstance(held, str) else (held or {})
        radius = min(int(radii.get(OLD_TYPE, OLD_DEFAULT)), OLD_DEFAULT)
        bind.execute(
            _platforms.update().where(_platforms.c.id == row_id).values(pdq_threshold=radius)
        )
    if _sqlite():

        def restore(text: str) -> str:
            text = _without(f" DEFAULT {OLD_DEFAULT}")(text)
            head, tail = text.rsplit(")", 1)
            return f"{head}, CONSTRAINT {OLD_CHECK_NAME} CHECK ({OLD_CHECK}))" + tail

        _rewrite_sqlite_schema(restore)
        op.execute("ALTER TABLE platforms DROP COLUMN thresholds")
    else:
        op.alter_column(
            "platforms", "pdq_threshold", existing_type=sa.SmallInteger(), nullable=False
        )
        op.create_check_constraint(op.f(OLD_CHECK_NAME), "platforms", OLD_CHECK)
        op.drop_column("platforms", "thresholds")
