"""Verified API keys held in memory, kept current from the event log like the live index.

A check must not open a store transaction just to read its key again. :class:`KeyCache` holds,
per key id, what a verification read from the store: the hash of the secret, the
:class:`~hashwall.domain.Actor` and, for a platform key, its platform row (policy).

Rules (``service/auth.py`` fills it, :class:`~hashwall.service.indexes.LiveIndexes` owns it):

- Only a key that verified (right secret, not revoked) is put here; a failed verification
  leaves nothing behind, and an unknown key id or a wrong secret always goes to the store (the
  same work whether the key id exists or not).
- ``api_key_revoked`` (payload ``key_id``) drops the key and bars its id for the life of the
  process (revocation is final); ``platform_changed`` (payload ``platform_id``) drops every
  key of that platform, so the next request reads the new policy.
- The process that revokes or changes calls :meth:`KeyCache.revoke` / :meth:`platform_changed`
  itself right after its commit: there the change is immediate. Every other process applies
  the event when its follower reads it: within ``settings.index_poll_interval`` (at most
  0.2 s; milliseconds with PostgreSQL's NOTIFY). A process whose follower is further behind
  than ``settings.index_max_lag`` does not use the cache at all (see
  :meth:`LiveIndexes.keys_current`).
- A store read and an event can race: a request reads the key, the revocation commits and is
  applied, and only then does the request put what it read. So :meth:`put` takes the cursor
  the cache had *before* the read began (:attr:`cursor`), and refuses the entry if an event
  after that cursor already changed the key or its platform.

The check re-reads its key in the write transaction of any answer other than ``allow``, so a
revoked key never creates a match or sees a match ref, whatever this cache holds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from hashwall.domain import Actor, Platform
from hashwall.store.events import API_KEY_REVOKED, PLATFORM_CHANGED, Event

#: Most keys held (a deployment has a few hundred; past this the store is read every time).
MAX_CACHED_KEYS: Final = 100_000


@dataclass(frozen=True, slots=True)
class CachedKey:
    """What a successful verification read: the secret's stored hash, the actor, the platform."""

    secret_hash: str
    actor: Actor
    platform: Platform | None


class KeyCache:
    """Verified keys by key id, following revocations and platform changes (thread-safe)."""

    def __init__(self, *, max_keys: int = MAX_CACHED_KEYS) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, CachedKey] = {}
        self._revoked: set[str] = set()
        self._platform_seq: dict[int, int] = {}
        self._cursor = 0
        self._max_keys = max_keys

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def cursor(self) -> int:
        """The last event applied; read it before reading a key from the store (see put)."""
        return self._cursor

    def get(self, key_id: str) -> CachedKey | None:
        """The verified key, or None (then the store decides)."""
        return self._keys.get(key_id)

    def put(self, key_id: str, entry: CachedKey, read_after: int) -> bool:
        """Remember a key verified by a store read begun at cursor ``read_after``.

        Refused (False) if the key was revoked, or its platform changed by an event after
        ``read_after`` that was applied already (the read may predate it).
        """
        platform_id = entry.actor.platform_id
        with self._lock:
            if key_id in self._revoked:
                return False
            if platform_id is not None and self._platform_seq.get(platform_id, 0) > read_after:
                return False
            if key_id not in self._keys and len(self._keys) >= self._max_keys:
                return False
            self._keys[key_id] = entry
            return True

    def revoke(self, key_id: str) -> None:
        """Drop ``key_id`` now and never hold it again (revocation is final)."""
        with self._lock:
            self._revoked.add(key_id)
            self._keys.pop(key_id, None)

    def platform_changed(self, platform_id: int, seq: int) -> None:
        """Drop every key of ``platform_id``; refuse reads begun before event ``seq``."""
        with self._lock:
            self._platform_changed(platform_id, seq)

    def apply(self, events: Iterable[Event]) -> None:
        """Apply log events in order (others only move the cursor)."""
        with self._lock:
            for event in events:
                if event.seq <= self._cursor:
                    continue
                if event.type == API_KEY_REVOKED:
                    key_id = event.payload.get("key_id")
                    if isinstance(key_id, str):
                        self._revoked.add(key_id)
                        self._keys.pop(key_id, None)
                elif event.type == PLATFORM_CHANGED:
                    platform_id = event.payload.get("platform_id")
                    if isinstance(platform_id, int):
                        self._platform_changed(platform_id, event.seq)
                self._cursor = event.seq

    def start_at(self, cursor: int) -> None:
        """Set the cursor after a build (nothing is cached before any request)."""
        with self._lock:
            self._cursor = max(self._cursor, cursor)

    def _platform_changed(self, platform_id: int, seq: int) -> None:
        self._platform_seq[platform_id] = max(self._platform_seq.get(platform_id, 0), seq)
        for key_id in [k for k, v in self._keys.items() if v.actor.platform_id == platform_id]:
            del self._keys[key_id]
