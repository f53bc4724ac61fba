"""Store outages as answers: ``503 store_unavailable``, ``Retry-After``, logged per state change.

While the database cannot be reached (PostgreSQL stopped or restarting, a connection dropped,
the pool timing out, SQLite locked or its disk full), every request that needs it gets the
documented answer, ``503 store_unavailable`` with ``Retry-After``, not a ``500`` with a traceback
in the log per request (a 10 s outage at 200 requests/s was 16.5 MB of tracebacks).

:class:`StoreOutage` logs one line when the store goes away (the error's type, never its
message: it can quote a statement's parameters) and one when it is back, with how long it was
gone and how many requests were answered 503 meanwhile. It learns the store is back from the
connection pool: a connection checked out (after its pre-ping) is a store that answers. Nothing
restarts: the next request after the store is back is served as usual.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from hashwall.errors import StoreUnavailable

log = logging.getLogger("hashwall.api")

#: Seconds a client should wait before retrying a request the store could not serve.
RETRY_AFTER: Final = 1
MESSAGE: Final = "the database is unavailable right now; retry in a moment"


def is_store_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the store cannot be reached now (not a bug, not bad input)."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class StoreOutage:
    """Whether this process's store is down, since when, and how many requests it refused."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.down_since: float | None = None
        #: Requests answered 503 in the current (or last) outage.
        self.refused = 0
        #: Outages seen by this process.
        self.outages = 0
        #: Requests answered 503 by this process, all outages together.
        self.refused_total = 0

    @property
    def down(self) -> bool:
        """True from a failed request until the pool hands out a working connection."""
        return self.down_since is not None

    def failed(self, exc: BaseException) -> StoreUnavailable:
        """Count a request the store could not serve (logs if it starts an outage); the error
        to answer with."""
        with self._lock:
            self.refused += 1
            self.refused_total += 1
            if self.down_since is None:
                self.down_since = self._clock()
                self.refused = 1
                self.outages += 1
                log.warning(
                    "store unavailable (%s): answering 503 store_unavailable until it is back",
                    type(exc).__name__,
                )
        return StoreUnavailable(MESSAGE, retry_after=RETRY_AFTER)

    def answered(self) -> None:
        """The store answered (a connection was checked out): log the end of an outage."""
        if self.down_since is None:  # the common case: no lock
            return
        with self._lock:
            if self.down_since is None:
                return
            gone = self._clock() - self.down_since
            self.down_since = None
            log.warning(
                "store available again after %.1f s; %d requests were answered "
                "503 store_unavailable meanwhile",
                gone,
                self.refused,
            )

    def watch(self, engine: Engine) -> None:
        """Learn from ``engine``'s pool when the store answers again."""

        def checkout(*_args: Any) -> None:
            self.answered()

        event.listen(engine, "checkout", checkout)
