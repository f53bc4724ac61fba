"""SQLite commits are durable when acknowledged: ``synchronous=FULL`` on every connection.

In WAL mode, ``synchronous=NORMAL`` does not sync the WAL at each commit: a power loss can undo
the last commits after their callers were told they happened (a person told "withdrawn" must
stay withdrawn). ``FULL`` syncs the WAL before each commit returns.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from hashwall.store import migrate
from hashwall.store.engine import make_engine
from hashwall.store.repo import Store

FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def test_every_sqlite_connection_syncs_each_commit(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hashwall.db'}")
    try:
        migrate.upgrade(engine)
        store = Store(engine)
        with store.write() as repo:
            assert repo.conn.execute(text("PRAGMA synchronous")).scalar_one() == FULL
            assert repo.conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        with store.read() as repo:
            assert repo.conn.execute(text("PRAGMA synchronous")).scalar_one() == FULL
    finally:
        engine.dispose()
