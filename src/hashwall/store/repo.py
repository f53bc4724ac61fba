"""The unit of work: every read and write the use cases make, over one transaction.

Usage (the service layer)::

    store = Store.from_url(settings.database_url)      # or Store(make_engine(...))
    with store.write() as repo:                         # one transaction: commit or roll back
        case = repo.create_case(pin_hash=hash_pin(pin), channel="anonymous")
        item = repo.add_item(case.id, kind="image", trust="unvouched")
        repo.add_signals(item.id, signals)
        repo.append_event(ITEM_ADDED, {...}, item=item)  # last: it serialises appends
    with store.read() as repo:                          # a consistent read-only snapshot
        repo.get_item("itm_...")

A :class:`Repository` is the repositories of every aggregate over one connection, one per
module of :mod:`hashwall.store.repositories`: tenancy (organisations, platforms, partners),
keys, cases (and items), signals, matches (and verdicts, exemptions), allowlist, events,
audit, and the statements of the check (checks) and of the feed's snapshot (feed). A use
case that changes several aggregates (a withdrawal touches the item, its signals, its
matches and the event log) does so in one transaction, so they share one unit of work
rather than each opening its own.

Rules of the API:

- A :class:`Repository` wraps one :class:`~sqlalchemy.Connection` inside one transaction; it never
  commits. :meth:`Store.write` and :meth:`Store.read` open and close the transaction. A
  ``Repository(conn)`` over a connection you manage works the same; on SQLite, mark a writing
  connection with :func:`~hashwall.store.engine.writable` before it begins (``BEGIN IMMEDIATE``).
- Rows come back as the frozen dataclasses of :mod:`hashwall.domain` (``Case``, ``Item``,
  ...). Their ``id`` fields are internal row ids: pass them
  between repository calls, never show them outside the service; the public identifiers are
  ``case_number``, ``item_ref``, ``match_ref``, ``key_id``, and the unique names of
  organisations, platforms and partners.
- ``get_*`` returns ``None`` when nothing matches; ``set_*``/``revoke_*`` raise :class:`NotFound`;
  ``add_*`` with a taken unique name raises :class:`AlreadyExists`; values outside an enumeration
  raise :class:`~hashwall.errors.InvalidInput` before touching the database.
- The repository stores what it is given: business rules (who may vouch, when to quarantine,
  what a check answers) belong to ``hashwall.service``. Signal values are stored as given
  (already canonical, see ``hashwall.hashing.signals``); their ``type`` is a free string.
- Times come from the ``clock`` (UTC, aware); inject one in tests.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from hashwall.store.engine import make_engine, read_only, writable
from hashwall.store.repositories.allowlist import AllowlistRepository
from hashwall.store.repositories.audit import AuditRepository
from hashwall.store.repositories.base import Clock, utc_now
from hashwall.store.repositories.cases import CaseRepository
from hashwall.store.repositories.checks import CheckQueries
from hashwall.store.repositories.events import EventRepository
from hashwall.store.repositories.feed import FeedQueries
from hashwall.store.repositories.keys import KeyRepository
from hashwall.store.repositories.matches import MatchRepository
from hashwall.store.repositories.signals import SignalRepository
from hashwall.store.repositories.tenancy import TenancyRepository


class Repository(
    TenancyRepository,
    KeyRepository,
    CaseRepository,
    SignalRepository,
    MatchRepository,
    AllowlistRepository,
    EventRepository,
    AuditRepository,
    CheckQueries,
    FeedQueries,
):
    """The repositories of every aggregate over one connection, inside the caller's transaction."""


class Store:
    """An engine plus the two kinds of transaction the use cases need."""

    def __init__(self, engine: Engine, *, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    @classmethod
    def from_url(cls, url: str | URL, *, clock: Clock = utc_now) -> Store:
        """A store over :func:`~hashwall.store.engine.make_engine` for ``url``."""
        return cls(make_engine(url), clock=clock)

    @contextmanager
    def write(self) -> Iterator[Repository]:
        """One read-write transaction: committed when the block ends, rolled back on error."""
        with self.engine.connect() as conn:
            writable(conn)
            with conn.begin():
                yield Repository(conn, clock=self.clock)

    @contextmanager
    def read(self) -> Iterator[Repository]:
        """One read-only transaction seeing a consistent snapshot of every table."""
        with self.engine.connect() as conn:
            read_only(conn)
            with conn.begin():
                yield Repository(conn, clock=self.clock)

    @contextmanager
    def read_shared(self, count: int) -> Iterator[list[Repository]]:
        """Up to ``count`` read-only transactions that see one and the same snapshot, for a
        big read split between threads (one repository a thread). On PostgreSQL the first
        exports its snapshot and the others import it (``SET TRANSACTION SNAPSHOT``); SQLite
        has no such thing, so it gives one."""
        with contextlib.ExitStack() as stack:
            first = stack.enter_context(self.read())
            repos = [first]
            if self.engine.dialect.name == "postgresql" and count > 1:
                snapshot = first.conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                if not re.fullmatch(r"[0-9A-Fa-f-]+", snapshot):  # it goes into the SQL text
                    raise RuntimeError(f"unexpected snapshot id {snapshot!r}")
                for _ in range(count - 1):
                    conn = stack.enter_context(self.engine.connect())
                    read_only(conn)
                    stack.enter_context(conn.begin())
                    conn.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
                    repos.append(Repository(conn, clock=self.clock))
            yield repos

    def dispose(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()
