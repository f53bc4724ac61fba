"""Initial schema: DESIGN.md's data model.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# The types as they were at this revision (a migration never imports the live tables.py).
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UTC_TIME = sa.DateTime(timezone=True)

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "allowlist",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("quality", sa.SmallInteger(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allowlist")),
        sa.UniqueConstraint("type", "value", name=op.f("uq_allowlist_type_value")),
    )
    op.create_table(
        "audit",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("actor_key_id", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("details", JSON_DOC, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit")),
    )
    op.create_index(op.f("ix_audit_actor_key_id"), "audit", ["actor_key_id"])
    op.create_index(op.f("ix_audit_created_at"), "audit", ["created_at"])

    op.create_table(
        "organisations",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("name", name=op.f("uq_organisations_name")),
    )
    op.create_table(
        "partners",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("name", name=op.f("uq_partners_name")),
    )
    op.create_table(
        "cases",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("case_number", sa.String(length=20), nullable=False),
        sa.Column("pin_hash", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("partner_id", ROW_ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("withdrawn_at", UTC_TIME, nullable=True),
        sa.CheckConstraint(
            "(channel = 'partner' AND partner_id IS NOT NULL)"
            " OR (channel = 'anonymous' AND partner_id IS NULL)",
            name=op.f("ck_cases_partner"),
        ),
        sa.CheckConstraint("channel IN ('anonymous', 'partner')", name=op.f("ck_cases_channel")),
        sa.CheckConstraint("status IN ('active', 'withdrawn')", name=op.f("ck_cases_status")),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_cases_partner_id_partners"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("case_number", name=op.f("uq_cases_case_number")),
    )
    op.create_index(op.f("ix_cases_partner_id"), "cases", ["partner_id"])

    op.create_table(
        "platforms",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("organisation_id", ROW_ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("pdq_threshold", sa.SmallInteger(), nullable=False),
        sa.Column("reveal_distance", sa.Boolean(), nullable=False),
        sa.Column("reveal_orientation", sa.Boolean(), nullable=False),
        sa.Column("unvouched_answer", sa.String(length=16), nullable=False),
        sa.Column("video_upload_percent", sa.SmallInteger(), nullable=False),
        sa.Column("video_bank_percent", sa.SmallInteger(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.CheckConstraint(
            "unvouched_answer IN ('review', 'allow')", name=op.f("ck_platforms_unvouched_answer")
        ),
        sa.CheckConstraint(
            "pdq_threshold >= 0 AND pdq_threshold <= 31", name=op.f("ck_platforms_pdq_threshold")
        ),
        sa.CheckConstraint("retention_days >= 0", name=op.f("ck_platforms_retention_days")),
        sa.CheckConstraint(
            "video_bank_percent >= 1 AND video_bank_percent <= 100",
            name=op.f("ck_platforms_video_bank_percent"),
        ),
        sa.CheckConstraint(
            "video_upload_percent >= 1 AND video_upload_percent <= 100",
            name=op.f("ck_platforms_video_upload_percent"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_platforms_organisation_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platforms")),
        sa.UniqueConstraint("name", name=op.f("uq_platforms_name")),
    )
    op.create_index(op.f("ix_platforms_organisation_id"), "platforms", ["organisation_id"])

    op.create_table(
        "api_keys",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("scopes", JSON_DOC, nullable=False),
        sa.Column("platform_id", ROW_ID, nullable=True),
        sa.Column("partner_id", ROW_ID, nullable=True),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("revoked_at", UTC_TIME, nullable=True),
        sa.CheckConstraint(
            "(role = 'admin' AND platform_id IS NULL AND partner_id IS NULL)"
            " OR (role = 'intake' AND partner_id IS NOT NULL AND platform_id IS NULL)"
            " OR (role = 'platform' AND platform_id IS NOT NULL AND partner_id IS NULL)",
            name=op.f("ck_api_keys_owner"),
        ),
        sa.CheckConstraint(
            "role IN ('admin', 'intake', 'platform')", name=op.f("ck_api_keys_role")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_api_keys_partner_id_partners"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_api_keys_platform_id_platforms"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
    )
    op.create_index(op.f("ix_api_keys_partner_id"), "api_keys", ["partner_id"])
    op.create_index(op.f("ix_api_keys_platform_id"), "api_keys", ["platform_id"])

    op.create_table(
        "items",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("item_ref", sa.String(length=32), nullable=False),
        sa.Column("case_id", ROW_ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("trust", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("csam", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("state_changed_at", UTC_TIME, nullable=True),
        sa.CheckConstraint("kind IN ('image', 'video')", name=op.f("ck_items_kind")),
        sa.CheckConstraint(
            "state IN ('active', 'quarantined', 'withdrawn', 'deleted')",
            name=op.f("ck_items_state"),
        ),
        sa.CheckConstraint(
            "trust IN ('unvouched', 'vouched', 'confirmed')", name=op.f("ck_items_trust")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_items_case_id_cases"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
        sa.UniqueConstraint("item_ref", name=op.f("uq_items_item_ref")),
    )
    op.create_index(op.f("ix_items_case_id"), "items", ["case_id"])
    op.create_index(op.f("ix_items_state"), "items", ["state"])

    op.create_table(
        "events",
        sa.Column("seq", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("item_id", ROW_ID, nullable=True),
        sa.Column("item_ref", sa.String(length=32), nullable=True),
        sa.Column("payload", JSON_DOC, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_events_item_id_items"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_events_item_id"), "events", ["item_id"])

    op.create_table(
        "matches",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("match_ref", sa.String(length=32), nullable=False),
        sa.Column("check_id", sa.String(length=32), nullable=False),
        sa.Column("platform_id", ROW_ID, nullable=False),
        sa.Column("item_id", ROW_ID, nullable=False),
        sa.Column("signal_type", sa.String(length=32), nullable=True),
        sa.Column("distance", sa.SmallInteger(), nullable=True),
        sa.Column("orientation", sa.String(length=16), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.CheckConstraint("decision IN ('review', 'block')", name=op.f("ck_matches_decision")),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_matches_item_id_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_matches_platform_id_platforms"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matches")),
        sa.UniqueConstraint("match_ref", name=op.f("uq_matches_match_ref")),
    )
    op.create_index(op.f("ix_matches_check_id"), "matches", ["check_id"])
    op.create_index(op.f("ix_matches_item_id"), "matches", ["item_id"])
    op.create_index(
        op.f("ix_matches_platform_id_created_at"), "matches", ["platform_id", "created_at"]
    )

    op.create_table(
        "signals",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("item_id", ROW_ID, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("quality", sa.SmallInteger(), nullable=True),
        sa.Column("frame_number", sa.Integer(), nullable=True),
        sa.Column("frame_timestamp", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "quality IS NULL OR (quality >= 0 AND quality <= 100)", name=op.f("ck_signals_quality")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_signals_item_id_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
    )
    op.create_index(op.f("ix_signals_item_id"), "signals", ["item_id"])
    op.create_index(op.f("ix_signals_type_value"), "signals", ["type", "value"])

    op.create_table(
        "verdicts",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("match_id", ROW_ID, nullable=True),
        sa.Column("item_id", ROW_ID, nullable=False),
        sa.Column("platform_id", ROW_ID, nullable=False),
        sa.Column("organisation_id", ROW_ID, nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("upload_pdq", sa.String(length=64), nullable=True),
        sa.Column("upload_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.CheckConstraint(
            "verdict IN ('confirmed', 'not_ncii', 'csam')", name=op.f("ck_verdicts_verdict")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_verdicts_item_id_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["match_id"],
            ["matches.id"],
            name=op.f("fk_verdicts_match_id_matches"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_verdicts_organisation_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_verdicts_platform_id_platforms"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verdicts")),
    )
    op.create_index(op.f("ix_verdicts_item_id"), "verdicts", ["item_id"])
    op.create_index(op.f("ix_verdicts_match_id"), "verdicts", ["match_id"])

    op.create_table(
        "exemptions",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("platform_id", ROW_ID, nullable=False),
        sa.Column("item_id", ROW_ID, nullable=False),
        sa.Column("verdict_id", ROW_ID, nullable=True),
        sa.Column("upload_pdq", sa.String(length=64), nullable=True),
        sa.Column("upload_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.CheckConstraint(
            "upload_pdq IS NOT NULL OR upload_sha256 IS NOT NULL", name=op.f("ck_exemptions_upload")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_exemptions_item_id_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_exemptions_platform_id_platforms"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["verdict_id"],
            ["verdicts.id"],
            name=op.f("fk_exemptions_verdict_id_verdicts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exemptions")),
    )
    op.create_index(
        op.f("ix_exemptions_platform_id_item_id"), "exemptions", ["platform_id", "item_id"]
    )


def downgrade() -> None:
    """Revert this revision: drop every table (their indexes go with them)."""
    op.drop_table("exemptions")
    op.drop_table("verdicts")
    op.drop_table("signals")
    op.drop_table("matches")
    op.drop_table("events")
    op.drop_table("items")
    op.drop_table("api_keys")
    op.drop_table("platforms")
    op.drop_table("cases")
    op.drop_table("partners")
    op.drop_table("organisations")
    op.drop_table("audit")
    op.drop_table("allowlist")
