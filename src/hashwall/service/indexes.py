"""The indexes a serving process holds in memory (:class:`LiveIndexes`): built from the
store, then kept current by following the event log. (``index/live.py`` is the holder of one
index that changes while it is searched; this module keeps one per signal family current.)

Usage::

    live = LiveIndexes(store, settings)
    live.start()              # build from a snapshot, then follow events in a background thread
    ctx = ServiceContext(store, settings, live=live)
    ...
    live.stop()

Tests drive it by hand: ``live.build()`` then ``live.catch_up()`` whenever they want the index
current (and not calling it simulates a lagging process).

**One index per distance type, index ids are item row ids.** Every registered signal type
matched by distance (``hashing/signals``: PDQ, and whatever else is registered) gets its own
Hamming index (:attr:`LiveIndexes.near`). An item holds at most one signal of each type
(intake enforces it), so the item id is a key for its value: ``item_added`` adds
``item_id -> value`` to the index of its type, and ``item_withdrawn``/``item_deleted`` remove
``item_id`` from every index. The exception is a type an item holds many values of (a video's
``vpdq_frame`` hashes): each frame has its own index id (``item_id << 24 | frame_number``,
``service/video.py``), the process notes each item's ids, and searches answer by item. Item
ids never leave the service; the check re-reads the items behind the ids from the store
before any answer other than ``allow``.

Each geometric type (``keypoints``) has a keypoint index of its own (:attr:`LiveIndexes.geometric`,
``service/keypoints.py``): an item's whole set under its item id, added by ``item_added`` and
removed by ``item_withdrawn``/``item_deleted`` like a PDQ value.

The values of the exact types (``md5``, ``sha256``) of the live items are held the same way
(``self.digests``, :mod:`hashwall.service.digests`): built from the same snapshot, changed by
the same events (added with ``item_added``, removed with ``item_withdrawn``/``item_deleted``).

Build: one read-only snapshot gives both the event cursor (``last_event_seq``) and the live
signals of each type, streamed as column-wise chunks (``Repository.iter_live_signals``) and
converted to ``(n, 32)`` uint8 arrays (the type's codes), never one Python object per row
(a geometric type's sets are read as one string an item, parsed in one join per chunk).
Follow: events with ``seq > cursor`` in batches, translated into index changes by
:mod:`hashwall.service.index_events`.

The background thread polls every ``settings.index_poll_interval`` seconds (at most 0.2). On
PostgreSQL it also wakes as soon as an event commits (``store/notify.py``: LISTEN on the
event log's channel; after a failure of the listener it polls meanwhile and LISTENs again,
with backoff). Appends are serialised in commit order
(``store/events.py``), so reading ``seq > cursor`` never skips an event.

**Faults.** Whatever stops the follower, the index only answers while it is :attr:`current`
(caught up within ``settings.index_max_lag``): the check refuses or scans the store otherwise
(``service/check.py``), never answers ``allow`` from a stale index. The follower heals itself:

- a pass that raises (the store is down, a bad event, a bug) is retried with backoff; the first
  failure of a streak is logged with its traceback, then one line per doubling of the streak,
  and one line when it follows again (not one traceback per poll);
- after ``REBUILD_AFTER`` failures in a row at the same cursor (an event it cannot apply), the
  index is rebuilt from a fresh snapshot of the store (which reads the items, not the events);
- a watchdog replaces a follower that died or made no progress for
  ``settings.index_follower_timeout`` seconds (a hung connection): a new thread follows; the
  old one, if it ever wakes, exits.

A read that started at time *t* makes the index current as of *t*, not as of its return (a read
that hung for a minute does not make a minute-old view look fresh). Counts for the metrics:
:attr:`follower_failures`, :attr:`follower_restarts`, :attr:`rebuilds`, :attr:`stale_checks`.

Tests own a seam for faults: ``read_events`` (the event reader, ``(repo, after, limit)``), and
an explicit ``clock``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import numpy.typing as npt

from hashwall.hashing.codes import Hash256
from hashwall.hashing.keypoints import Keypoints
from hashwall.hashing.signals import distance_types, geometric_types
from hashwall.index.base import DihedralMatch
from hashwall.index.live import IndexHolder
from hashwall.service.digests import DigestIndex, live_digest_parts
from hashwall.service.index_events import apply_digest_events, index_events
from hashwall.service.key_cache import KeyCache
from hashwall.service.keypoints import KeypointHit, KeypointHolder, read_live_sets
from hashwall.service.search import (
    by_item,
    distance_type,
    live_signal_chunks,
    search_orientations,
)
from hashwall.service.video import FRAME_BITS, item_of_index_id
from hashwall.settings import Settings
from hashwall.store.events import Event
from hashwall.store.notify import EventNotifications, supports_notifications
from hashwall.store.repo import Repository, Store

log = logging.getLogger(__name__)

#: Transactions of one snapshot that read the store's signals for a build, one thread each
#: (PostgreSQL; SQLite reads in one): two read 10 million PDQ hashes in ~4 s instead of ~6.
SNAPSHOT_READERS = 2
#: Events read per batch while catching up.
EVENT_BATCH = 1000
#: Failed passes in a row at one cursor after which the index is rebuilt from the store.
REBUILD_AFTER = 5
#: Longest wait between two attempts of a failing follower (seconds).
MAX_BACKOFF = 5.0
#: Hung followers left behind at most; past that, the watchdog waits for one of them to return.
MAX_ABANDONED = 3

#: Reads up to ``limit`` events after ``after`` (the follower's only read of the log).
EventReader = Callable[[Repository, int, int], Sequence[Event]]


def _noting_members(
    chunks: Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]],
    members: dict[int, npt.NDArray[np.int64]],
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]]:
    """The chunks as they are, noting each item's index ids on the way (video frames)."""
    parts: dict[int, list[npt.NDArray[np.int64]]] = {}
    for ids, codes in chunks:
        order = np.argsort(ids >> FRAME_BITS, kind="stable")
        items = (ids >> FRAME_BITS)[order]
        starts = np.flatnonzero(np.r_[True, items[1:] != items[:-1]])
        for item_id, part in zip(items[starts], np.split(ids[order], starts[1:]), strict=True):
            parts.setdefault(int(item_id), []).append(part)
        yield ids, codes
    for item_id, held in parts.items():
        members[item_id] = np.concatenate(held)


def read_log_events(repo: Repository, after: int, limit: int) -> Sequence[Event]:
    """The default :data:`EventReader`: the store's event log."""
    return repo.read_events(after, limit)


class LiveIndexes:
    """The in-memory indexes of one serving process (one per distance type, the exact
    digests, the key cache), kept current from the event log."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        read_events: EventReader = read_log_events,
    ) -> None:
        self.store = store
        self.settings = settings
        #: One Hamming index per registered distance type, by type name.
        self.near: dict[str, IndexHolder] = {kind.name: IndexHolder() for kind in distance_types()}
        #: For the types an item holds many values of (video frames): each item's index ids.
        self._members: dict[str, dict[int, npt.NDArray[np.int64]]] = {
            kind.name: {} for kind in distance_types() if kind.many_per_item
        }
        #: One keypoint index per geometric type (``keypoints``), by type name.
        self.geometric: dict[str, KeypointHolder] = {
            kind.name: KeypointHolder(kind) for kind in geometric_types()
        }
        #: Values of the exact types (md5, sha256) of the live items, following the same events.
        self.digests = DigestIndex()
        self._cursor = 0
        self._built = False
        #: Verified API keys, following revocations and platform changes (service/key_cache.py).
        self.keys = KeyCache()
        #: Follower passes that raised (each one retried).
        self.follower_failures = 0
        #: Follower threads replaced by the watchdog (dead, or no progress in time).
        self.follower_restarts = 0
        #: Rebuilds from the store after an event the follower could not get past.
        self.rebuilds = 0
        #: Checks asked while the index was not current, by what they got (``check.py``).
        self.stale_checks: dict[str, int] = {"store_scan": 0, "refused": 0}
        self._clock = clock
        self._read_events = read_events
        self._catch_up_lock = threading.Lock()
        self._synced_at: float | None = None
        self._rebuilding = False
        self._progress_at = clock()
        self._generation = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self._abandoned: list[threading.Thread] = []
        #: PostgreSQL's word of each new event (store/notify.py); None on SQLite (poll only).
        self.notify: EventNotifications | None = None
        if supports_notifications(store.engine):
            self.notify = EventNotifications(
                store.engine,
                self._wake.set,
                poll_interval=settings.index_poll_interval,
                max_backoff=MAX_BACKOFF,
                label="live index",
            )

    # -- state for readyz ---------------------------------------------------------------------

    @property
    def built(self) -> bool:
        """True once the initial build from the store finished."""
        return (
            self._built
            and all(holder.ready for holder in self.near.values())
            and all(holder.ready for holder in self.geometric.values())
        )

    @property
    def last_seq(self) -> int:
        """The last event applied (the snapshot's cursor right after the build)."""
        return self._cursor

    @property
    def lag_seconds(self) -> float | None:
        """Seconds since the index last reached the end of the log (None before the build)."""
        if self._synced_at is None:
            return None
        return max(0.0, self._clock() - self._synced_at)

    @property
    def ready(self) -> bool:
        """Built, and caught up with the log within ``settings.index_max_lag`` seconds."""
        lag = self.lag_seconds
        return (
            self.built
            and not self._rebuilding
            and lag is not None
            and lag <= self.settings.index_max_lag
        )

    @property
    def current(self) -> bool:
        """Whether the index may answer a check: :attr:`ready` (never stale past max lag)."""
        return self.ready

    def count_stale_check(self, answer: str) -> None:
        """Count a check asked while the index was not current (``store_scan``/``refused``)."""
        self.stale_checks[answer] = self.stale_checks.get(answer, 0) + 1

    @property
    def keys_current(self) -> bool:
        """Whether the key cache may answer: :attr:`ready` (the log read within max lag)."""
        return self.ready

    @property
    def listening(self) -> threading.Event:
        """Set while a LISTEN connection is open (PostgreSQL; never set on SQLite)."""
        return self.notify.listening if self.notify is not None else threading.Event()

    @property
    def notifications(self) -> int:
        """Notifications of new events received (PostgreSQL)."""
        return self.notify.notifications if self.notify is not None else 0

    @property
    def listen_reconnects(self) -> int:
        """LISTEN connections opened again after a failure (PostgreSQL)."""
        return self.notify.reconnects if self.notify is not None else 0

    @property
    def size(self) -> int:
        """Hashes in the distance types' indexes."""
        return sum(holder.size for holder in self.near.values())

    def sizes(self) -> dict[str, int]:
        """Values in the index of each distance type, and sets in each geometric one."""
        held = {name: holder.size for name, holder in self.near.items()}
        held.update((name, holder.size) for name, holder in self.geometric.items())
        return held

    # -- building and following ---------------------------------------------------------------

    def build(self) -> None:
        """Build every index from one snapshot of the store (cursor and signals agree).

        The snapshot is read whole first (the read-only transaction ends before the indexes are
        built: a long one would hold back the store's vacuum), then the indexes are built.
        """
        started = time.perf_counter()
        with self._catch_up_lock:
            with self.store.read_shared(SNAPSHOT_READERS) as repos:
                cursor = repos[0].last_event_seq()
                digests = {
                    digest_type: live_digest_parts(repos, digest_type)
                    for digest_type in self.digests.types
                }
                coded = {name: live_signal_chunks(repos, distance_type(name)) for name in self.near}
                sets = {
                    name: read_live_sets(repos[0], holder.kind)
                    for name, holder in self.geometric.items()
                }
            read = time.perf_counter() - started
            for digest_type, parts in digests.items():
                self.digests.build_parts(digest_type, parts)
            del digests
            for name, holder in self.near.items():
                chunks: Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]]
                chunks = iter(coded.pop(name))
                members = self._members.get(name)
                if members is not None:
                    members.clear()
                    chunks = _noting_members(chunks, members)
                holder.build_from(chunks, last_event=cursor)
            for name, geometric in self.geometric.items():
                geometric.build_from(sets.pop(name))
            self.keys.start_at(cursor)
            self._cursor = cursor
            self._built = True
            self._synced_at = self._clock()
        log.info(  # digests by their arrays' size: counting items is O(n log n)
            "live index built: %s hashes, %.1f MB of digests at event %d "
            "(read in %.1f s, built in %.1f s)",
            ", ".join(f"{size} {name}" for name, size in self.sizes().items()) or "no",
            self.digests.nbytes() / 1e6,
            cursor,
            read,
            time.perf_counter() - started - read,
        )

    def catch_up(self) -> int:
        """Apply every event visible now after the cursor; return how many were applied.

        The read happens outside the lock (a read that hangs holds no lock another follower
        needs); what another pass applied meanwhile is skipped.
        """
        total = 0
        while True:
            started = self._clock()
            with self.store.read() as repo:
                events = self._read_events(repo, self._cursor, EVENT_BATCH)
            with self._catch_up_lock:
                fresh = [e for e in events if e.seq > self._cursor]
                if fresh:
                    for name, holder in self.near.items():
                        kind = distance_type(name)
                        holder.apply(index_events(fresh, kind, self._members.get(name)))
                    for geometric in self.geometric.values():
                        geometric.apply(fresh)
                    apply_digest_events(self.digests, fresh)
                    self.keys.apply(fresh)
                    self._cursor = fresh[-1].seq
                    total += len(fresh)
                self._progress_at = max(self._progress_at, started)
                if len(events) < EVENT_BATCH:
                    # Current as of when this read started, not when it returned.
                    if self._synced_at is None or started > self._synced_at:
                        self._synced_at = started
                    return total

    def rebuild(self) -> None:
        """Build again from a fresh snapshot (past an event the follower cannot apply).

        The index is not :attr:`current` meanwhile; the key cache starts empty.
        """
        self._rebuilding = True
        try:
            self.keys = KeyCache()
            self.build()
        finally:
            self._rebuilding = False
        self.rebuilds += 1

    def find_digest(self, signal_type: str, value: str) -> tuple[int, ...]:
        """Item ids holding this exact digest (``md5``/``sha256``, hex), from memory."""
        return self.digests.find(signal_type, value)

    def search(
        self, signal_type: str, orientations: Sequence[Hash256], radius: int
    ) -> list[DihedralMatch]:
        """Item ids whose value of ``signal_type`` (a distance type) is within ``radius`` of
        any of the upload's orientations (codes: 1, or all of the type's orientations)."""
        holder = self.near.get(signal_type)
        if holder is None:
            raise ValueError(f"no live index holds {signal_type!r}")
        return by_item(
            distance_type(signal_type), search_orientations(holder, orientations, radius)
        )

    def search_keypoints(self, signal_type: str, query: Keypoints) -> list[KeypointHit]:
        """Items whose set of ``signal_type`` (a geometric type) one placement verifies in
        the upload's keypoints, with the bank's required inliers."""
        holder = self.geometric.get(signal_type)
        if holder is None:
            raise ValueError(f"no live index holds {signal_type!r}")
        return holder.search(query)

    def sample_id(self, prefer: str | None = None) -> int | None:
        """A random item id of the distance indexes (None when they are empty): the decoy of
        a check that must cost what a hit costs (``service/check.py``). ``prefer``: a type
        whose index is tried first (a video check's decoy is a video)."""
        names = sorted(self.near, key=lambda name: name != prefer)
        for name in names:
            found = self.near[name].sample_id()
            if found is not None:
                return item_of_index_id(found) if name in self._members else found
        return None

    def start(self) -> None:
        """Build (if not built yet) and follow the log in a background daemon thread."""
        if self._thread is not None:
            return
        if not self.built:
            self.build()
        self._stop.clear()
        self._progress_at = self._clock()
        self._spawn_follower()
        self._watchdog = threading.Thread(
            target=self._watch, name="hashwall-index-watchdog", daemon=True
        )
        self._watchdog.start()
        if self.notify is not None:
            self.notify.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop following (the index stays searchable, and stale)."""
        self._stop.set()
        self._wake.set()
        if self.notify is not None:
            self.notify.stop(timeout)
        for thread in (self._watchdog, self._thread):
            if thread is not None:
                thread.join(timeout)
        self._thread = self._watchdog = None

    def __enter__(self) -> LiveIndexes:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn_follower(self) -> None:
        self._generation += 1
        self._thread = threading.Thread(
            target=self._follow, args=(self._generation,), name="hashwall-index", daemon=True
        )
        self._thread.start()

    def _follow(self, generation: int) -> None:
        interval = self.settings.index_poll_interval
        streak = 0
        streak_cursor = -1
        while not self._stop.is_set() and generation == self._generation:
            wait = interval
            try:
                self.follow_once(streak)
            except Exception:  # keep following; the index is not current meanwhile
                self.follower_failures += 1
                cursor = self._cursor
                streak = streak + 1 if cursor == streak_cursor else 1
                streak_cursor = cursor
                self._log_failure(streak, cursor)
                wait = min(interval * 2 ** min(streak, 10), MAX_BACKOFF)
            else:
                if streak:
                    log.warning(
                        "live index: following the event log again after %d failed attempts "
                        "(at event %d)",
                        streak,
                        self._cursor,
                    )
                streak, streak_cursor = 0, -1
            self._progress_at = max(self._progress_at, self._clock())
            self._wake.wait(wait)
            self._wake.clear()

    def follow_once(self, failures: int = 0) -> int:
        """One pass of the follower: catch up, or rebuild from the store after
        ``REBUILD_AFTER`` failures in a row at one cursor (``failures``)."""
        if failures >= REBUILD_AFTER:
            log.warning(
                "live index: %d failures in a row at event %d; rebuilding from the store",
                failures,
                self._cursor,
            )
            self.rebuild()
            return 0
        return self.catch_up()

    def _log_failure(self, streak: int, cursor: int) -> None:
        if streak == 1:
            log.exception(
                "live index: following the event log failed at event %d; checks answer from "
                "the store or refuse until it follows again; retrying",
                cursor,
            )
        elif streak & (streak - 1) == 0:  # 2, 4, 8...: a line per doubling, not per poll
            log.warning(
                "live index: following the event log still fails at event %d (%d attempts)",
                cursor,
                streak,
            )

    def check_follower(self) -> bool:
        """Replace the follower thread if it died or made no progress in
        ``settings.index_follower_timeout`` seconds; True if it was replaced (the watchdog)."""
        thread = self._thread
        if thread is None or self._stop.is_set() or self._rebuilding:  # a rebuild takes long
            return False
        stuck_for = self._clock() - self._progress_at
        if thread.is_alive() and stuck_for <= self.settings.index_follower_timeout:
            return False
        self._abandoned = [t for t in self._abandoned if t.is_alive()]
        if len(self._abandoned) >= MAX_ABANDONED:  # each holds a connection: wait for them
            return False
        if thread.is_alive():
            self._abandoned.append(thread)
        self.follower_restarts += 1
        log.warning(
            "live index: the follower %s; starting a new one (restart %d)",
            "died" if not thread.is_alive() else f"made no progress for {stuck_for:.0f} s",
            self.follower_restarts,
        )
        self._progress_at = self._clock()
        self._spawn_follower()
        return True

    def _watch(self) -> None:
        while not self._stop.wait(self.settings.index_poll_interval):
            try:
                self.check_follower()
            except Exception:  # the watchdog itself must not die
                log.exception("live index: the follower watchdog failed")
