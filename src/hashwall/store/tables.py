"""SQLAlchemy Core tables: DESIGN.md's data model, the one source of truth for the schema's shape.

The schema itself only changes through Alembic (``hashwall.store.migrations``); a test compares
this metadata with the migrated database and fails on any difference.

Conventions:

- Every table has an internal integer ``id`` (``seq`` for ``events``). Row ids never leave the
  service: what callers outside see are the random public identifiers (``case_number``,
  ``item_ref``, ``match_ref``, ``key_id``) and the operator-chosen unique names of
  organisations, platforms and partners.
- Enumerations are strings with CHECK constraints (portable, readable in SQL, cheap to extend by a
  migration); the allowed values are the tuples of :mod:`hashwall.domain`.
- Signal and event types are free strings: a new signal type (``vpdq_frame``, robust hashes) or a
  new field in an event payload needs no schema change.
- Times are timezone-aware UTC (:class:`UtcDateTime`), set by the repository, never by the server,
  so that tests can inject a clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

from hashwall.domain import (
    CASE_CHANNELS,
    CASE_STATUSES,
    DECISIONS,
    ITEM_KINDS,
    ITEM_STATES,
    ITEM_TRUSTS,
    ROLES,
    UNVOUCHED_ANSWERS,
    VERDICTS,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: 64-bit ids on PostgreSQL; on SQLite, ``INTEGER PRIMARY KEY`` (the rowid) autoincrements.
RowId: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")

#: JSON documents: ``jsonb`` on PostgreSQL, JSON text on SQLite.
Json: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both back ends (SQLite stores it naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC (naive on SQLite, which has no time zones)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("hashwall stores timezone-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime whatever the back end gave."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def _id() -> Column[int]:
    return Column("id", RowId, primary_key=True, autoincrement=True)


def _created() -> Column[datetime]:
    return Column("created_at", UtcDateTime(), nullable=False)


organisations = Table(
    "organisations",
    metadata,
    _id(),
    Column("name", String(200), nullable=False, unique=True),
    _created(),
)

platforms = Table(
    "platforms",
    metadata,
    _id(),
    Column(
        "organisation_id",
        RowId,
        ForeignKey("organisations.id", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    ),
    Column("name", String(200), nullable=False, unique=True),
    # The policy, one typed column per setting (see repo.PlatformPolicy).
    Column("thresholds", Json, nullable=False),  # {signal type: radius}
    Column("reveal_distance", Boolean(), nullable=False),
    Column("reveal_orientation", Boolean(), nullable=False),
    Column("unvouched_answer", String(16), nullable=False),
    Column("video_upload_percent", SmallInteger(), nullable=False),
    Column("video_bank_percent", SmallInteger(), nullable=False),
    Column("retention_days", Integer(), nullable=False),
    _created(),
    CheckConstraint(_in("unvouched_answer", UNVOUCHED_ANSWERS), name="unvouched_answer"),
    CheckConstraint(
        "video_upload_percent >= 1 AND video_upload_percent <= 100", name="video_upload_percent"
    ),
    CheckConstraint(
        "video_bank_percent >= 1 AND video_bank_percent <= 100", name="video_bank_percent"
    ),
    CheckConstraint("retention_days >= 0", name="retention_days"),
)

partners = Table(
    "partners",
    metadata,
    _id(),
    Column("name", String(200), nullable=False, unique=True),
    _created(),
)

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    Column("key_id", String(32), nullable=False, unique=True),
    Column("secret_hash", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("scopes", Json, nullable=False),
    Column(
        "platform_id",
        RowId,
        ForeignKey("platforms.id", ondelete="RESTRICT"),
        nullable=True,
        index=True,
    ),
    Column(
        "partner_id",
        RowId,
        ForeignKey("partners.id", ondelete="RESTRICT"),
        nullable=True,
        index=True,
    ),
    Column("label", String(200), nullable=True),
    _created(),
    Column("revoked_at", UtcDateTime(), nullable=True),
    CheckConstraint(_in("role", ROLES), name="role"),
    CheckConstraint(
        "(role = 'admin' AND platform_id IS NULL AND partner_id IS NULL)"
        " OR (role = 'intake' AND partner_id IS NOT NULL AND platform_id IS NULL)"
        " OR (role = 'platform' AND platform_id IS NOT NULL AND partner_id IS NULL)",
        name="owner",
    ),
)

cases = Table(
    "cases",
    metadata,
    _id(),
    Column("case_number", String(20), nullable=False, unique=True),
    Column("pin_hash", String(200), nullable=False),
    Column("channel", String(16), nullable=False),
    Column(
        "partner_id",
        RowId,
        ForeignKey("partners.id", ondelete="RESTRICT"),
        nullable=True,
        index=True,
    ),
    Column("status", String(16), nullable=False),
    _created(),
    Column("withdrawn_at", UtcDateTime(), nullable=True),
    # The operator erased the case on the person's request (status withdrawn, items deleted).
    Column("removed_at", UtcDateTime(), nullable=True),
    CheckConstraint(_in("channel", CASE_CHANNELS), name="channel"),
    CheckConstraint(_in("status", CASE_STATUSES), name="status"),
    CheckConstraint(
        "(channel = 'partner' AND partner_id IS NOT NULL)"
        " OR (channel = 'anonymous' AND partner_id IS NULL)",
        name="partner",
    ),
)

items = Table(
    "items",
    metadata,
    _id(),
    Column("item_ref", String(32), nullable=False, unique=True),
    Column(
        "case_id", RowId, ForeignKey("cases.id", ondelete="RESTRICT"), nullable=False, index=True
    ),
    Column("kind", String(16), nullable=False),
    Column("trust", String(16), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("csam", Boolean(), nullable=False),
    _created(),
    Column("state_changed_at", UtcDateTime(), nullable=True),
    CheckConstraint(_in("kind", ITEM_KINDS), name="kind"),
    CheckConstraint(_in("trust", ITEM_TRUSTS), name="trust"),
    CheckConstraint(_in("state", ITEM_STATES), name="state"),
)

#: Values longer than this (characters) are not in the ``(type, value)`` index (migration 0005).
INDEXED_VALUE_MAX = 128
_SHORT_VALUE = text(f"length(value) <= {INDEXED_VALUE_MAX}")

signals = Table(
    "signals",
    metadata,
    _id(),
    Column(
        "item_id", RowId, ForeignKey("items.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    # Free string: a new signal type is new rows, not a new column.
    Column("type", String(32), nullable=False),
    Column("value", Text(), nullable=False),
    Column("quality", SmallInteger(), nullable=True),
    Column("frame_number", Integer(), nullable=True),
    Column("frame_timestamp", Float(), nullable=True),
    CheckConstraint("quality IS NULL OR (quality >= 0 AND quality <= 100)", name="quality"),
    # Equality lookups only ever want short values (digests, PDQ hashes); a long one (a
    # keypoints set, kilobytes) does not fit a b-tree entry: the index holds the short ones,
    # and every lookup by value says so (``short_value``).
    Index(
        None,
        "type",
        "value",
        postgresql_where=_SHORT_VALUE,
        sqlite_where=_SHORT_VALUE,
    ),
)


def short_value(column: Any) -> Any:
    """The condition of the ``(type, value)`` index, for a lookup of signal ``column`` by
    value (equality lookups only want short values; saying so lets the store use the index)."""
    from sqlalchemy import func, literal_column

    # A literal, not a parameter: the planner must see the index's own condition.
    return func.length(column) <= literal_column(str(INDEXED_VALUE_MAX))


matches = Table(
    "matches",
    metadata,
    _id(),
    Column("match_ref", String(32), nullable=False, unique=True),
    Column("check_id", String(32), nullable=False, index=True),
    Column(
        "platform_id",
        RowId,
        ForeignKey("platforms.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column(
        "item_id", RowId, ForeignKey("items.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("signal_type", String(32), nullable=True),
    Column("distance", SmallInteger(), nullable=True),
    Column("orientation", String(16), nullable=True),
    Column("decision", String(16), nullable=False),
    # The upload the match was made on (its PDQ as sent, and its sha256 when sent): a verdict
    # on the match is about this upload, whatever the reviewer sends. Erased with the item.
    Column("upload_pdq", String(64), nullable=True),
    Column("upload_sha256", String(64), nullable=True),
    _created(),
    CheckConstraint(_in("decision", DECISIONS), name="decision"),
    # Retention deletes by (platform, age).
    Index(None, "platform_id", "created_at"),
)

verdicts = Table(
    "verdicts",
    metadata,
    _id(),
    # The match may be deleted by retention; the verdict (and its count towards quarantine) stays.
    Column(
        "match_id", RowId, ForeignKey("matches.id", ondelete="SET NULL"), nullable=True, index=True
    ),
    Column(
        "item_id", RowId, ForeignKey("items.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column(
        "platform_id",
        RowId,
        ForeignKey("platforms.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column(
        "organisation_id",
        RowId,
        ForeignKey("organisations.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("verdict", String(16), nullable=False),
    Column("upload_pdq", String(64), nullable=True),
    Column("upload_sha256", String(64), nullable=True),
    _created(),
    CheckConstraint(_in("verdict", VERDICTS), name="verdict"),
)

exemptions = Table(
    "exemptions",
    metadata,
    _id(),
    Column(
        "platform_id",
        RowId,
        ForeignKey("platforms.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("item_id", RowId, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column(
        "verdict_id",
        RowId,
        ForeignKey("verdicts.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("upload_pdq", String(64), nullable=True),
    Column("upload_sha256", String(64), nullable=True),
    _created(),
    CheckConstraint("upload_pdq IS NOT NULL OR upload_sha256 IS NOT NULL", name="upload"),
    Index(None, "platform_id", "item_id"),
)

allowlist = Table(
    "allowlist",
    metadata,
    _id(),
    Column("type", String(32), nullable=False),
    Column("value", Text(), nullable=False),
    Column("quality", SmallInteger(), nullable=True),
    Column("note", String(500), nullable=True),
    _created(),
    UniqueConstraint("type", "value"),
)

events = Table(
    "events",
    metadata,
    # Strictly increasing; never reused (AUTOINCREMENT on SQLite, a sequence on PostgreSQL).
    Column("seq", RowId, primary_key=True, autoincrement=True),
    Column("type", String(32), nullable=False),
    Column(
        "item_id", RowId, ForeignKey("items.id", ondelete="RESTRICT"), nullable=True, index=True
    ),
    Column("item_ref", String(32), nullable=True),
    Column("payload", Json, nullable=False),
    _created(),
    sqlite_autoincrement=True,
)

audit = Table(
    "audit",
    metadata,
    _id(),
    # NULL when the operator acted directly on the store (CLI), without a key.
    Column("actor_key_id", String(32), nullable=True, index=True),
    # The acting role: operator, admin, intake, platform, or reporter (the anonymous channel).
    Column("actor_role", String(16), nullable=True),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=True),
    Column("details", Json, nullable=False),
    _created(),
    Index(None, "created_at"),
)
