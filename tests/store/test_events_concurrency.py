"""PostgreSQL: a follower reading ``seq > last_seen`` never skips an event.

Two transactions append concurrently; the first draws its ``seq`` and stays open while the
second tries to commit. With the advisory lock the second waits, so nothing larger than the
first's ``seq`` can become visible before it. Without the lock (a plain INSERT), the second
commits first and a follower moves past the first's ``seq`` for ever: the bug the lock prevents.
SQLite has one writer at a time, shown by the last test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, insert, text

from hashwall.store.events import TRUST_CHANGED, append_event, read_events
from hashwall.store.repo import Store
from hashwall.store.tables import events

TIMEOUT = 10.0


class Follower:
    """Reads the log as a live index does: everything after the last ``seq`` it has seen."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.last_seen = 0
        self.seen: list[int] = []

    def poll(self) -> list[int]:
        with self.engine.connect() as conn:
            new = [e.seq for e in read_events(conn, self.last_seen, 1000)]
        if new:
            self.last_seen = new[-1]
            self.seen.extend(new)
        return new


def _plain_insert(conn: Connection) -> int:
    """An append without the lock: what ``append_event`` must not be."""
    row = conn.execute(
        insert(events)
        .values(type=TRUST_CHANGED, payload={}, created_at=datetime.now(UTC))
        .returning(events.c.seq)
    )
    return int(row.scalar_one())


def _locked_append(conn: Connection) -> int:
    return append_event(conn, TRUST_CHANGED, {}).seq


def _race(
    engine: Engine, append: Callable[[Connection], int], follower: Follower
) -> tuple[dict[str, int], threading.Thread, threading.Event, threading.Thread]:
    """Start the first writer (holds its transaction open) and the second (tries to commit)."""
    drawn: dict[str, int] = {}
    first_drawn, release_first = threading.Event(), threading.Event()

    def first() -> None:
        with Store(engine).write() as repo:
            drawn["first"] = append(repo.conn)
            first_drawn.set()
            release_first.wait(TIMEOUT)

    def second() -> None:
        with Store(engine).write() as repo:
            drawn["second"] = append(repo.conn)

    one = threading.Thread(target=first, daemon=True)
    one.start()
    assert first_drawn.wait(TIMEOUT)
    two = threading.Thread(target=second, daemon=True)
    two.start()
    return drawn, one, release_first, two


def _advisory_waiters(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar_one()
        )


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_with_the_advisory_lock_a_follower_never_skips_an_event(pg_engine: Engine) -> None:
    follower = Follower(pg_engine)
    drawn, one, release_first, two = _race(pg_engine, _locked_append, follower)
    # The second writer is parked on the advisory lock, before drawing its seq.
    _wait_for(lambda: _advisory_waiters(pg_engine) == 1)
    assert "second" not in drawn and two.is_alive()
    assert follower.poll() == []  # nothing is visible yet, so the cursor stays put
    release_first.set()
    one.join(TIMEOUT)
    two.join(TIMEOUT)
    _wait_for(lambda: len(follower.poll()) == 0 and len(follower.seen) == 2)
    assert drawn["first"] < drawn["second"]
    assert follower.seen == [drawn["first"], drawn["second"]]


def test_without_the_lock_a_follower_skips_the_event_that_commits_late(pg_engine: Engine) -> None:
    follower = Follower(pg_engine)
    drawn, one, release_first, two = _race(pg_engine, _plain_insert, follower)
    two.join(TIMEOUT)  # nothing stops the second writer: it commits first
    assert drawn["second"] > drawn["first"]
    assert follower.poll() == [drawn["second"]]  # the cursor jumps past the first's seq
    release_first.set()
    one.join(TIMEOUT)
    assert follower.poll() == []  # the first event is now visible, but behind the cursor
    with pg_engine.connect() as conn:
        committed = [e.seq for e in read_events(conn, 0, 1000)]
    assert sorted(set(committed) - set(follower.seen)) == [drawn["first"]]  # skipped for ever


def test_sqlite_serialises_writers_so_seq_order_is_commit_order(tmp_path: object) -> None:
    from pathlib import Path

    from hashwall.store import migrate
    from hashwall.store.engine import make_engine

    engine = make_engine(f"sqlite:///{Path(str(tmp_path)) / 'log.db'}")
    try:
        migrate.upgrade(engine)
        follower = Follower(engine)
        drawn, one, release_first, two = _race(engine, _locked_append, follower)
        time.sleep(0.3)
        assert "second" not in drawn and two.is_alive()  # waiting for the writer lock
        assert follower.poll() == []  # WAL readers are not blocked, and see nothing yet
        release_first.set()
        one.join(TIMEOUT)
        two.join(TIMEOUT)
        follower.poll()
        assert follower.seen == [drawn["first"], drawn["second"]]
    finally:
        engine.dispose()
