"""Exact digests (``md5``, ``sha256``) of the live bank, in memory: equality in one dict probe.

A check with digests then needs no store read before deciding (the PDQ index already works
this way); candidates are still re-read from the store before any answer other than ``allow``.

Per digest type, two dicts share the same objects: ``value -> item id`` (the lookup) and
``item id -> value`` (so that a withdrawal, whose events no longer carry the values, can remove
them). Values are raw ``bytes`` (16 or 32), not hex text: about half the memory per entry
(see ``docs/benchmarks.md``). Two items may hold the same digest (two people banked the same
file): the value then maps to a tuple of ids.

Built from the same snapshot as the PDQ index and kept current by the same events
(``service/live.py``): ``item_added`` adds the item's digests (erased values are skipped),
``item_withdrawn``/``item_deleted`` remove them, so a withdrawn item's digests are not held
in memory after its event is applied. Thread-safe: the follower applies under a lock that the
lookups take too, so a lookup never sees half of one change.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Final

#: Digest types matched by equality, and their sizes in bytes.
DIGEST_SIZES: Final = {"md5": 16, "sha256": 32}

_Ids = int | tuple[int, ...]
_Values = bytes | tuple[bytes, ...]


def digest_bytes(signal_type: str, value: str) -> bytes | None:
    """The raw bytes of a hex digest of ``signal_type``, or None if it is not one."""
    size = DIGEST_SIZES.get(signal_type)
    if size is None or len(value) != 2 * size:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


class DigestIndex:
    """Live items' exact digests, by type: ``value -> item ids``, and back for removal."""

    def __init__(self, types: Iterable[str] = tuple(DIGEST_SIZES)) -> None:
        self._lock = threading.Lock()
        self._by_value: dict[str, dict[bytes, _Ids]] = {t: {} for t in types}
        self._by_item: dict[str, dict[int, _Values]] = {t: {} for t in self._by_value}

    @property
    def types(self) -> tuple[str, ...]:
        """The digest types held."""
        return tuple(self._by_value)

    def __len__(self) -> int:
        return sum(len(d) for d in self._by_item.values())

    def size(self, signal_type: str) -> int:
        """Items holding a digest of ``signal_type``."""
        return len(self._by_item.get(signal_type, {}))

    def find(self, signal_type: str, value: str) -> tuple[int, ...]:
        """Ids of the live items holding ``value`` (hex) of ``signal_type``."""
        key = digest_bytes(signal_type, value)
        table = self._by_value.get(signal_type)
        if key is None or table is None:
            return ()
        with self._lock:
            found = table.get(key)
        if found is None:
            return ()
        return found if isinstance(found, tuple) else (found,)

    def replace(self, signal_type: str, item_ids: Sequence[int], values: Sequence[str]) -> None:
        """Add a snapshot's rows (build): one call per chunk, under the lock."""
        with self._lock:
            for item_id, value in zip(item_ids, values, strict=True):
                self._add(signal_type, int(item_id), value)

    def add(self, item_id: int, signals: Iterable[tuple[str, str]]) -> None:
        """Add an item's ``(type, hex value)`` digests (other types are ignored)."""
        with self._lock:
            for signal_type, value in signals:
                self._add(signal_type, item_id, value)

    def remove(self, item_id: int) -> None:
        """Remove every digest of ``item_id`` (nothing if it held none)."""
        with self._lock:
            for signal_type, by_item in self._by_item.items():
                held = by_item.pop(item_id, None)
                if held is None:
                    continue
                table = self._by_value[signal_type]
                for key in held if isinstance(held, tuple) else (held,):
                    ids = table.get(key)
                    if ids is None:
                        continue
                    rest = tuple(
                        i for i in (ids if isinstance(ids, tuple) else (ids,)) if i != item_id
                    )
                    if not rest:
                        del table[key]
                    else:
                        table[key] = rest[0] if len(rest) == 1 else rest

    def clear(self) -> None:
        """Forget everything (before a rebuild)."""
        with self._lock:
            for table in self._by_value.values():
                table.clear()
            for by_item in self._by_item.values():
                by_item.clear()

    def _add(self, signal_type: str, item_id: int, value: str) -> None:
        table = self._by_value.get(signal_type)
        if table is None:
            return
        key = digest_bytes(signal_type, value)
        if key is None:
            return
        by_item = self._by_item[signal_type]
        held = by_item.get(item_id)
        if held is not None:
            if key == held or (isinstance(held, tuple) and key in held):
                return  # replayed
            by_item[item_id] = (*held, key) if isinstance(held, tuple) else (held, key)
        else:
            by_item[item_id] = key
        ids = table.get(key)
        if ids is None:
            table[key] = item_id
        elif isinstance(ids, tuple):
            table[key] = (*ids, item_id)
        else:
            table[key] = (ids, item_id)
