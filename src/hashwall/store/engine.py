"""Engines from a URL: SQLite (the embedded default) or PostgreSQL (psycopg 3).

``make_engine(url)`` is the only way hashwall opens a database:

- ``sqlite:///./var/hashwall.db`` (the default; the parent folder is created): every connection
  runs ``journal_mode=WAL``, ``synchronous=FULL`` (each commit syncs the WAL before it returns:
  a withdrawal, a case or a verdict acknowledged is on disk, power loss or not; ``NORMAL`` could
  undo the last commits), ``foreign_keys=ON``, ``busy_timeout`` and ``secure_delete=ON``
  (deleted content is overwritten with zeros, in table and index pages and in freed pages). The
  database file is created readable by its owner only (0600); SQLite gives the ``-wal`` and
  ``-shm`` files the database file's mode. hashwall issues ``BEGIN``
  itself (the pysqlite driver's own transaction handling is bypassed, as SQLAlchemy recommends).
  A transaction marked :func:`writable` starts with ``BEGIN IMMEDIATE``: it takes the single
  writer lock up front and waits up to ``busy_timeout`` for it, instead of failing half-way with
  ``database is locked`` when a read turns into a write. Any other transaction is a plain
  deferred ``BEGIN``: WAL readers never wait for the writer.
- ``postgresql://``, ``postgres://`` and ``postgresql+psycopg://`` all use psycopg 3. Read-only
  transactions (:func:`read_only`) run ``REPEATABLE READ`` so that a snapshot of several tables is
  consistent; everything else is ``READ COMMITTED``.

**Erasure on disk.** A transaction that erases hash values (a withdrawal, an operator deletion)
calls :func:`erase_on_commit`. On SQLite, once it has committed and before the connection goes
back to the pool (so before the use case returns), ``wal_checkpoint(TRUNCATE)`` copies the
zeroed pages into the database file and empties the ``-wal`` file, which still held the pages as
they were before: no byte of the erased values is left in any file of the store. On PostgreSQL
the rows' old versions stay in the table files until ``VACUUM``, and their bytes may stay in a
page's free space until ``VACUUM FULL`` rewrites the table: :func:`vacuum_erased` runs either on
the tables that held erased values, and after an erasure :class:`ErasureVacuum` runs ``VACUUM``
in the background, batched and bounded (``docs/security.md`` says what remains and when).

Use :class:`hashwall.store.repo.Store` rather than the engine directly: ``store.write()`` and
``store.read()`` open the right kind of transaction.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

log = logging.getLogger(__name__)

#: What a statement or a connection that failed raises (the driver's errors, as SQLAlchemy
#: wraps them): callers above the store catch this name, not the library's.
StoreError = SQLAlchemyError

DEFAULT_DATABASE_URL = "sqlite:///./var/hashwall.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: The mode of a database file hashwall creates: its owner's only.
DATABASE_FILE_MODE = 0o600

# Key in a pooled connection's ``info``: its transaction erased hash values (see module doc).
_ERASED = "hashwall_erased"

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
    engine = create_engine(parsed, echo=echo, pool_pre_ping=True)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record.info.pop(_ERASED, False):
            erasure_vacuum(engine).request()

    return engine


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


def erase_on_commit(conn: Connection) -> None:
    """Say that ``conn``'s transaction erases hash values: on SQLite, once it has committed,
    no copy of them may stay in the ``-wal`` file (see the module docstring)."""
    conn.info[_ERASED] = True


#: The tables whose rows hold hash values that a withdrawal or deletion erases.
ERASED_TABLES = ("signals", "events", "matches", "verdicts", "exemptions")


def vacuum_erased(engine: Engine, *, full: bool = False) -> tuple[str, ...]:
    """PostgreSQL: ``VACUUM`` (``full``: ``VACUUM FULL``) each table that held erased values,
    outside any transaction; returns the tables vacuumed. SQLite needs nothing: ().

    ``VACUUM`` removes the old row versions that still held the values (no SQL, nor a read of
    the pages' tuples, finds them then) without blocking reads or writes. ``VACUUM FULL``
    rewrites each table and index into new files, so no byte of the values stays in the
    table's files; it locks each table while it runs (a maintenance window on a large bank).
    """
    if engine.dialect.name != "postgresql":
        return ()
    # INDEX_CLEANUP ON: a VACUUM that finds few dead rows may skip the indexes, and the
    # values are in the (type, value) index too.
    command = "VACUUM (FULL)" if full else "VACUUM (INDEX_CLEANUP ON)"
    with engine.connect() as conn:
        autocommit = conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ERASED_TABLES:
            autocommit.exec_driver_sql(f"{command} {table}")
    return ERASED_TABLES


#: After an erasure on PostgreSQL, the background VACUUM waits this long for more to join it...
VACUUM_DELAY = 1.0
#: ...and runs at most once in this many seconds for one engine.
VACUUM_SPACING = 60.0


class ErasureVacuum:
    """Runs :func:`vacuum_erased` in the background for one PostgreSQL engine, after erasures.

    Batched: the erasures within :data:`VACUUM_DELAY` of each other, or made while a run is
    going on, share one run. Bounded: one run at a time, at most one every
    :data:`VACUUM_SPACING` seconds. Outside every transaction and every request: a withdrawal
    returns before it starts. Its thread ends when nothing is pending.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = weakref.ref(engine)  # the registry is keyed by the engine: no cycle
        self._cond = threading.Condition()
        self._pending = False
        self._running = False
        self._last = -math.inf
        self._runs = 0

    @property
    def runs(self) -> int:
        """Runs finished so far."""
        with self._cond:
            return self._runs

    def request(self) -> None:
        """Ask for a run (after the current one, if one is going on)."""
        with self._cond:
            self._pending = True
            if not self._running:
                self._running = True
                threading.Thread(target=self._loop, name="hashwall-vacuum", daemon=True).start()

    def wait_for_run(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` runs have finished; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._runs >= count, timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    self._running = False
                    return
                due = max(time.monotonic() + VACUUM_DELAY, self._last + VACUUM_SPACING)
            time.sleep(max(0.0, due - time.monotonic()))
            with self._cond:
                self._pending = False
            engine = self._engine()
            try:
                if engine is not None:
                    vacuum_erased(engine)
            except SQLAlchemyError as exc:  # the next erasure, or autovacuum, tries again
                log.warning("VACUUM after an erasure failed (%s)", type(exc).__name__)
            with self._cond:
                self._last = time.monotonic()
                self._runs += 1
                self._cond.notify_all()


_VACUUMS: weakref.WeakKeyDictionary[Engine, ErasureVacuum] = weakref.WeakKeyDictionary()
_VACUUMS_LOCK = threading.Lock()


def erasure_vacuum(engine: Engine) -> ErasureVacuum:
    """The background VACUUM of ``engine`` (one per engine)."""
    with _VACUUMS_LOCK:
        vacuum = _VACUUMS.get(engine)
        if vacuum is None:
            vacuum = _VACUUMS[engine] = ErasureVacuum(engine)
        return vacuum


def _create_private(path: Path) -> None:
    """Create an empty database file, mode 0600, unless it exists (then it is left as it is)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, DATABASE_FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def _checkpoint_truncate(dbapi_connection: Any) -> None:
    """Copy the WAL into the database file and truncate it to zero bytes."""
    cursor = dbapi_connection.cursor()
    try:
        # Waits (busy_timeout) for the writer and for readers of older snapshots to finish.
        busy, _, _ = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        cursor.close()
    if busy:
        log.warning(
            "the SQLite WAL could not be emptied after an erasure (busy for %d ms); "
            "erased values stay in its -wal file until the next checkpoint",
            SQLITE_BUSY_TIMEOUT_MS,
        )


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    database = url.database
    kwargs: dict[str, Any] = {}
    in_memory = not database or database == ":memory:"
    if in_memory:
        # One shared connection, or every connection would see its own empty database.
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        path = Path(str(database)).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        _create_private(path)
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
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA secure_delete = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        # After the transaction ended (committed or rolled back) and before the caller goes on.
        if record.info.pop(_ERASED, False) and dbapi_connection is not None and not in_memory:
            _checkpoint_truncate(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN DEFERRED")

    return engine
