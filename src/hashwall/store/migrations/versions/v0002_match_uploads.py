"""Matches keep the upload they were made on (its PDQ and sha256), so that a verdict is about
that upload and not about values a reviewer makes up.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision (matches made before it keep no upload: NULL)."""
    op.add_column("matches", sa.Column("upload_pdq", sa.String(length=64), nullable=True))
    op.add_column("matches", sa.Column("upload_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("matches") as batch:
        batch.drop_column("upload_sha256")
        batch.drop_column("upload_pdq")
