"""Word of new events as soon as they commit: PostgreSQL's LISTEN on the event log's channel.

Every append to the event log on PostgreSQL sends a NOTIFY on :data:`~.events.NOTIFY_CHANNEL`
at commit (``store/events.py``). An :class:`EventNotifications` holds one connection that
LISTENs on it, in a daemon thread, and calls ``on_event`` for each notification: the follower
of the event log wakes then instead of at its next poll. It carries no data (the follower reads
the log itself), so a notification missed costs only latency, never an event.

After a failure (the server restarted, the connection dropped) it says so once, and LISTENs
again with backoff, doubling from ``poll_interval`` to ``max_backoff``; ``on_event`` is called
again once it listens, so that the follower catches up with what it missed meanwhile. SQLite
has no notifications: :func:`supports_notifications` is False there and callers only poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from hashwall.store.events import NOTIFY_CHANNEL

log = logging.getLogger(__name__)


def supports_notifications(engine: Engine) -> bool:
    """Whether the store of ``engine`` notifies new events (PostgreSQL does; SQLite does not)."""
    return engine.dialect.name == "postgresql"


class EventNotifications:
    """A LISTEN connection in a background thread, calling ``on_event`` per notification.

    ``label`` starts its log lines (who listens). Counters for metrics and tests:
    :attr:`listening` (set while a LISTEN connection is open), :attr:`notifications`
    received, :attr:`reconnects` (LISTENs opened again after a failure).
    """

    def __init__(
        self,
        engine: Engine,
        on_event: Callable[[], None],
        *,
        poll_interval: float,
        max_backoff: float,
        label: str = "event log",
    ) -> None:
        self.engine = engine
        self.on_event = on_event
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.label = label
        self.listening = threading.Event()
        self.notifications = 0
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed = False
        self._listened = False

    def start(self) -> None:
        """Listen in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="hashwall-index-listen", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening (the thread ends within ``poll_interval``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._listened = False
            try:
                self._listen_once()
            except Exception:
                failures = 1 if self._listened else failures + 1
                if failures == 1:
                    log.warning(
                        "%s: LISTEN failed; polling every %.1f s until it reconnects",
                        self.label,
                        self.poll_interval,
                        exc_info=True,
                    )
                backoff = self.poll_interval * 2 ** min(failures, 10)
                self._stop.wait(min(backoff, self.max_backoff))
            else:
                return  # stopped

    def _listen_once(self) -> None:
        """LISTEN on one connection until stopped (returns) or it fails (raises)."""
        raw = self.engine.raw_connection()
        try:
            conn: Any = raw.driver_connection
            conn.autocommit = True
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self._listened = True
            if self._failed:
                self.reconnects += 1
                log.warning("%s: LISTEN again (reconnect %d)", self.label, self.reconnects)
            self.listening.set()
            self.on_event()  # catch up with what was missed while not listening
            while not self._stop.is_set():
                for _ in conn.notifies(timeout=self.poll_interval, stop_after=1):
                    self.notifications += 1
                    self.on_event()
        except Exception:
            self._failed = True
            raise
        finally:
            self.listening.clear()
            try:
                raw.invalidate()  # autocommit was changed: never return it to the pool
            except Exception:
                log.debug("%s: closing the LISTEN connection failed", self.label, exc_info=True)
