"""Cases the operator removed on a person's request; the acting role on every audit row.

- ``cases.removed_at``: when the operator erased the case on the person's request (its items
  are deleted; the case itself is closed, status ``withdrawn``, so that nothing can be added).
  The person's status then says the service removed it.
- ``audit.actor_role``: the role that acted (``operator``, ``admin``, ``intake``, ``platform``,
  or ``reporter`` for the anonymous channel). Rows written before it get the role of their key,
  ``reporter`` for the keyless case actions only a reporter can take, else ``operator``.

Plain ``ADD COLUMN``/``DROP COLUMN`` on both back ends: rebuilding ``cases`` on SQLite would
trip the foreign keys of its items.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)
#: Actions the anonymous channel takes without a key (the operator cannot take them).
REPORTER_ACTIONS = ("case_created", "case_items_added", "case_withdrawn", "item_withdrawn")


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("cases", sa.Column("removed_at", UTC_TIME, nullable=True))
    op.add_column("audit", sa.Column("actor_role", sa.String(length=16), nullable=True))
    actions = ", ".join(f"'{a}'" for a in REPORTER_ACTIONS)
    op.execute(
        "UPDATE audit SET actor_role = (SELECT role FROM api_keys"
        " WHERE api_keys.key_id = audit.actor_key_id) WHERE actor_key_id IS NOT NULL"
    )
    op.execute(
        "UPDATE audit SET actor_role = 'reporter'"
        f" WHERE actor_key_id IS NULL AND action IN ({actions})"
    )
    op.execute("UPDATE audit SET actor_role = 'operator' WHERE actor_role IS NULL")


def downgrade() -> None:
    """Revert this revision (a removed case then reads as withdrawn)."""
    op.execute("ALTER TABLE audit DROP COLUMN actor_role")
    op.execute("ALTER TABLE cases DROP COLUMN removed_at")
