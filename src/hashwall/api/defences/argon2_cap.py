"""The fair cap on concurrent argon2 checks (PIN checks, and the hash of a new PIN).

A few checks run at once and a bounded number wait, served fairly by client address (the
address that asked least lately goes first), so that a flood of wrong PINs from many addresses
delays a person checking their own case by a few argon2 checks instead of refusing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from hashwall.api.defences.keys import CLEANUP_EVERY
from hashwall.errors import Overloaded
from hashwall.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")

#: Half-life (s) of an address's demand for PIN checks: what it asked a minute ago counts half.
DEMAND_HALF_LIFE = 60.0
_GRANTED, _WAITING, _REFUSED = "granted", "waiting", "refused"


@dataclass(slots=True, eq=False)
class _Waiter:
    flow: str
    seq: int
    wake: Callable[[str], None]  # called with _GRANTED or _REFUSED, from any thread
    state: str = _WAITING


#: How much nicer than the rest of the process argon2 work runs (Linux thread priority).
ARGON2_NICENESS = 10


def _yield_the_cpu() -> None:
    """Make this thread (one of a cap's argon2 threads) give way to the rest of the process:
    on a core shared with the event loop, a check then waits for an argon2 hash a few percent
    of the time instead of half of it. Where threads have no priority of their own, nothing."""
    with contextlib.suppress(AttributeError, OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + ARGON2_NICENESS)


class ConcurrencyCap:
    """At most ``limit`` calls run at once (argon2 PIN checks); ``max_waiting`` more may wait.

    Waiting is fair between *flows* (client addresses): the next slot goes to the waiting call
    whose flow asked least lately (a count of its calls that halves every
    :data:`DEMAND_HALF_LIFE` seconds), oldest first among equals. When the waiting room is full,
    a newcomer takes the place of the waiting call whose flow asked most, if that flow asked
    more than the newcomer's; whichever loses is refused at once with :class:`Overloaded` (503)
    and ran nothing. So a flood from many addresses delays, and cannot refuse, a person who
    asks once: their call waits at most for the calls already running and for waiting calls of
    addresses that asked as little as they did.
    """

    def __init__(
        self,
        limit: int,
        max_waiting: int = 0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or max_waiting < 0:
            raise ValueError("a concurrency cap needs limit >= 1 and max_waiting >= 0")
        self._limit = limit
        self._max_waiting = max_waiting
        self._clock = clock
        self._lock = threading.Lock()
        self._running = 0
        self._waiters: list[_Waiter] = []
        self._demand: dict[str, tuple[float, float]] = {}  # flow -> (demand, as of when)
        self._seq = 0
        self._threads = ThreadPoolExecutor(
            max_workers=limit, thread_name_prefix="hashwall-cap", initializer=_yield_the_cpu
        )

    @classmethod
    def for_pin_checks(cls, settings: Settings) -> ConcurrencyCap:
        """The cap on argon2 PIN checks configured in ``settings``."""
        return cls(settings.pin_check_concurrency, settings.pin_check_max_waiting)

    @property
    def admitted(self) -> int:
        """Calls running or waiting now."""
        with self._lock:
            return self._running + len(self._waiters)

    @property
    def waiting(self) -> int:
        """Calls waiting for a slot now."""
        with self._lock:
            return len(self._waiters)

    def waiting_for(self, flow: str) -> int:
        """Calls of ``flow`` waiting for a slot now."""
        with self._lock:
            return sum(1 for w in self._waiters if w.flow == flow)

    # -- the waiting room (_demand_of, _asked, _rank and _enter: with the lock held) -------

    def _demand_of(self, flow: str, now: float) -> float:
        value, since = self._demand.get(flow, (0.0, now))
        return value * math.exp2(-(now - since) / DEMAND_HALF_LIFE)

    def _asked(self, flow: str, now: float) -> None:
        self._demand[flow] = (self._demand_of(flow, now) + 1.0, now)
        if self._seq % CLEANUP_EVERY == 0:
            waiting = {w.flow for w in self._waiters}
            self._demand = {
                f: d
                for f, d in self._demand.items()
                if f in waiting or self._demand_of(f, now) >= 0.01
            }

    def _rank(self, waiter: _Waiter, now: float) -> tuple[float, int]:
        return (self._demand_of(waiter.flow, now), waiter.seq)

    def _enter(self, flow: str, wake: Callable[[str], None]) -> tuple[_Waiter, _Waiter | None]:
        """Admit a call: granted a slot, or waiting; and the waiter it displaced, if any."""
        now = self._clock()
        self._seq += 1
        self._asked(flow, now)
        waiter = _Waiter(flow, self._seq, wake)
        if self._running < self._limit:
            self._running += 1
            waiter.state = _GRANTED
            return waiter, None
        if len(self._waiters) < self._max_waiting:
            self._waiters.append(waiter)
            return waiter, None
        if self._waiters:
            worst = max(self._waiters, key=lambda w: self._rank(w, now))
            if self._rank(waiter, now) < self._rank(worst, now):
                self._waiters.remove(worst)
                worst.state = _REFUSED
                self._waiters.append(waiter)
                return waiter, worst
        waiter.state = _REFUSED
        return waiter, None

    def _leave(self, *_: object) -> None:
        """A call ended: hand its slot to the best waiting call, or free it."""
        with self._lock:
            if not self._waiters:
                self._running -= 1
                return
            now = self._clock()
            best = min(self._waiters, key=lambda w: self._rank(w, now))
            self._waiters.remove(best)
            best.state = _GRANTED
        best.wake(_GRANTED)

    def _withdraw(self, waiter: _Waiter) -> bool:
        """Take a waiting call out of the room (its caller gave up); False if it got a slot."""
        with self._lock:
            if waiter.state == _WAITING:
                self._waiters.remove(waiter)
                waiter.state = _REFUSED
                return True
            return waiter.state == _REFUSED

    @staticmethod
    def _overloaded() -> Overloaded:
        return Overloaded("too many PIN checks at once; retry in a moment", retry_after=1)

    # -- callers ---------------------------------------------------------------------------

    async def run_fair(
        self, flow: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Call ``fn`` on one of the cap's threads once a slot is free, for ``flow`` (a client
        address): slots are shared fairly by flow. The event loop never blocks."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[str] = loop.create_future()

        def settle(state: str) -> None:
            if not woken.done():
                woken.set_result(state)

        def wake(state: str) -> None:
            try:
                loop.call_soon_threadsafe(settle, state)
            except RuntimeError:  # the loop is closed: nobody will use the slot
                if state == _GRANTED:
                    self._leave()

        with self._lock:
            waiter, displaced = self._enter(flow, wake)
        if displaced is not None:
            displaced.wake(_REFUSED)
        if waiter.state == _WAITING:
            try:
                await woken
            except asyncio.CancelledError:
                if not self._withdraw(waiter):
                    self._leave()  # a slot was handed over as the caller gave up
                raise
        if waiter.state != _GRANTED:
            raise self._overloaded()
        call = functools.partial(fn, *args, **kwargs)
        try:
            future = self._threads.submit(contextvars.copy_context().run, call)
        except BaseException:
            self._leave()
            raise
        # Released when the call ends (or is cancelled before it starts), not when the awaiting
        # task is cancelled: a running argon2 check keeps its slot until it is done.
        future.add_done_callback(self._leave)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Stop the cap's threads (calls already running finish)."""
        self._threads.shutdown(wait=False, cancel_futures=True)
