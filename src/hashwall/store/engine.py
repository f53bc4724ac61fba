"""Engines from a URL: SQLite (the embedded default) or PostgreSQL (psycopg 3).

``make_engine(url)`` is the only way hashwall opens a database:

- ``sqlite:///./var/hashwall.db`` (the default; the parent folder is created): every connection
  runs ``journal_mode=WAL``, ``foreign_keys=ON`` and ``busy_timeout``. hashwall issues ``BEGIN``
  itself (the pysqlite driver's own transaction handling is bypassed, as SQLAlchemy recommends).
  A transaction marked :func:`writable` starts with ``BEGIN IMMEDIATE``: it takes the single
  writer lock up front and waits up to ``busy_timeout`` for it, instead of failing half-way with
  ``database is locked`` when a read turns into a write. Any other transaction is a plain
  deferred ``BEGIN``: WAL readers never wait for the writer.
- ``postgresql://``, ``postgres://`` and ``postgresql+psycopg://`` all use psycopg 3. Read-only
  transactions (:func:`read_only`) run ``REPEATABLE READ`` so that a snapshot of several tables is
  consistent; everything else is ``READ COMMITTED``.

Use :class:`hashwall.store.repo.Store` rather than the engine directly: ``store.write()`` and
``store.read()`` open the right kind of transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

DEFAULT_DATABASE_URL = "sqlite:///./var/hashwall.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000

# Execution option read by the SQLite ``begin`` listener: "IMMEDIATE" or "DEFERRED" (default).
_SQLITE_BEGIN = "hashwall_sqlite_begin"


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL; ``postgresql://`` and ``postgres://`` become ``postgresql+psycopg``."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql://"
        )
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        raise ValueError("PostgreSQL is used through psycopg 3: write postgresql://...")
    return parsed


def redact(url: str | URL) -> str:
    """The URL as text with any password hidden, for messages and ``--json`` output."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str | URL = DEFAULT_DATABASE_URL, *, echo: bool = False) -> Engine:
    """An engine for ``url`` with hashwall's connection settings (see the module docstring)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo)
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def writable(conn: Connection) -> Connection:
    """Mark ``conn`` (before its transaction begins) as a writer: ``BEGIN IMMEDIATE`` on SQLite."""
    if conn.dialect.name == "sqlite":
        return conn.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
    return conn


def read_only(conn: Connection) -> Connection:
    """Mark ``conn`` (before its transaction begins) as a consistent read-only snapshot."""
    if conn.dialect.name == "sqlite":
        return conn.execution_options(**{_SQLITE_BEGIN: "DEFERRED"})
    return conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    database = url.database
    kwargs: dict[str, Any] = {}
    if not database or database == ":memory:":
        # One shared connection, or every connection would see its own empty database.
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level: hashwall emits BEGIN itself (listener below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN DEFERRED")

    return engine
