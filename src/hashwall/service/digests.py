"""Exact digests (the types matched by equality) of the live bank, in memory: binary search.

A check with digests then needs no store read before deciding (the PDQ index already works
this way); candidates are still re-read from the store before any answer other than ``allow``.

Layout, per digest type (measured in ``docs/benchmarks.md``: ~64 B per banked file with both
digests, against ~340 B for the dicts this replaced):

- an immutable **main segment** in numpy, sorted by key: the digest's first 8 bytes as a
  ``uint64`` key (``np.searchsorted``), the remaining bytes as an ``(n, size - 8)`` uint8
  array and the item ids as ``int64``, all in key order. Two items may hold the same digest
  (two people banked the same file), and two digests may share a key: a lookup walks the
  equal keys and compares the remaining bytes.
- a small **delta** of values added since the main segment was built (``value -> item ids``
  and ``item id -> values``, dicts).
- **dead item ids**: a withdrawal's event no longer carries the values, and the main segment
  has no ``item -> position`` map (that map was most of the dicts' memory), so a removal marks
  the item id dead and drops its delta values. Lookups skip main-segment hits of dead items,
  so a removed item is never returned once its change is applied. An item added again after
  its removal holds only its new (delta) values. **The removed values themselves stay in
  memory until the next compaction.**

When the delta or the dead ids pass a threshold, the main segment is rebuilt (a linear merge,
not a sort) without the dead items' rows and with the delta folded in. Every change builds a
new immutable :class:`_Table` per type and publishes all types in one assignment (as
``hashwall.index.mih`` does for PDQ), so lookups take no lock and never see half a change;
changes are serialised by a lock. :meth:`DigestIndex.apply` takes a whole batch of events at
once, so the delta is copied once per batch, not once per event.

Built from the same snapshot as the PDQ index (streamed in chunks, never one Python object per
row: :meth:`DigestIndex.build`) and kept current by the same events (``service/indexes.py``):
``item_added`` adds the item's digests (erased or malformed values are skipped),
``item_withdrawn``/``item_deleted`` remove them.
"""

from __future__ import annotations

import binascii
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from hashwall.hashing.signals import SIGNAL_TYPES, ExactSignalType, exact_types
from hashwall.store.repo import Repository
from hashwall.store.repositories.signals import SignalBlock

#: Bytes of a digest used as its sort key.
KEY_BYTES: Final = 8

KeyArray = npt.NDArray[np.uint64]
ByteArray = npt.NDArray[np.uint8]
IdArray = npt.NDArray[np.int64]


def digest_size(signal_type: str) -> int | None:
    """Bytes of a value of ``signal_type`` if it is a registered exact type, else None."""
    kind = SIGNAL_TYPES.get(signal_type)
    return kind.size if kind is not None and issubclass(kind, ExactSignalType) else None


def digest_bytes(signal_type: str, value: str) -> bytes | None:
    """The raw bytes of a hex digest of ``signal_type``, or None if it is not one."""
    kind = SIGNAL_TYPES.get(signal_type)
    if kind is None or not issubclass(kind, ExactSignalType):
        return None
    return kind.digest_bytes(value)


@dataclass(frozen=True, slots=True)
class DigestChange:
    """One event's effect: add ``signals`` (``(type, hex value)``) to an item, or remove it."""

    item_id: int
    signals: tuple[tuple[str, str], ...] = ()
    removed: bool = False


@dataclass(frozen=True, slots=True)
class _Main:
    """The sorted, immutable rows of one digest type (see the module docstring)."""

    keys: KeyArray
    rest: ByteArray
    ids: IdArray

    @classmethod
    def empty(cls, size: int) -> _Main:
        return cls(
            np.zeros(0, np.uint64), np.zeros((0, size - KEY_BYTES), np.uint8), np.zeros(0, np.int64)
        )

    @classmethod
    def sorted_from(cls, keys: KeyArray, rest: ByteArray, ids: IdArray) -> _Main:
        order = np.argsort(keys, kind="stable")
        return cls(keys[order], rest[order], ids[order])

    def ids_of(self, key: bytes) -> list[int]:
        """Item ids of the rows holding the digest ``key`` (dead ones included)."""
        keys = self.keys
        k = np.uint64(int.from_bytes(key[:KEY_BYTES], sys.byteorder))
        i = int(np.searchsorted(keys, k))
        found: list[int] = []
        tail = key[KEY_BYTES:]
        while i < keys.size and keys[i] == k:
            if self.rest[i].tobytes() == tail:
                found.append(int(self.ids[i]))
            i += 1
        return found

    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.rest.nbytes + self.ids.nbytes)


@dataclass(frozen=True, slots=True)
class _Table:
    """Everything a lookup of one digest type reads; never changed once published."""

    main: _Main
    dead: frozenset[int]  # item ids whose main rows no longer count
    delta: Mapping[bytes, tuple[int, ...]]  # value -> item ids, added since the build
    delta_items: Mapping[int, tuple[bytes, ...]]  # item id -> its delta values (removal)

    def find(self, key: bytes) -> tuple[int, ...]:
        dead = self.dead
        found = {i for i in self.main.ids_of(key) if i not in dead}
        found.update(self.delta.get(key, ()))
        return tuple(sorted(found))


def _split(size: int, raw: bytes) -> tuple[KeyArray, ByteArray]:
    """``(keys, rest)`` of concatenated raw digests of ``size`` bytes (copies: no aliasing)."""
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, size)
    keys = np.ascontiguousarray(rows[:, :KEY_BYTES]).view(np.uint64).reshape(-1)
    return keys, np.ascontiguousarray(rows[:, KEY_BYTES:])


def parse_chunk(
    signal_type: str, item_ids: Sequence[int], values: Sequence[str]
) -> tuple[KeyArray, ByteArray, IdArray]:
    """A chunk of ``(item id, hex value)`` rows as arrays (one join and one parse, not per row).

    Values that are not digests of ``signal_type`` (erased, malformed) are skipped.
    """
    size = digest_size(signal_type)
    if size is None:
        raise ValueError(f"{signal_type!r} is not a registered exact signal type")
    ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
    if ids.size != len(values):
        raise ValueError(f"{ids.size} item ids for {len(values)} values")
    raw: bytes | None = None
    if all(len(v) == 2 * size for v in values):
        try:
            raw = bytes.fromhex("".join(values))
        except ValueError:
            raw = None
    if raw is None:  # some value is not a digest: keep the rows that are
        parsed = [digest_bytes(signal_type, v) for v in values]
        keep = np.array([p is not None for p in parsed], dtype=bool)
        raw = b"".join(p for p in parsed if p is not None)
        ids = ids[keep]
    keys, rest = _split(size, raw)
    return keys, rest, ids.copy()


def parse_joined(signal_type: str, block: SignalBlock) -> tuple[KeyArray, ByteArray, IdArray]:
    """:func:`parse_chunk` for a snapshot block (``Repository.live_signal_blocks``: the hex
    values concatenated, each of the type's width): one parse, or value by value when some
    value is not hex (those rows are skipped, as :func:`parse_chunk` skips them)."""
    size = digest_size(signal_type)
    if size is None:
        raise ValueError(f"{signal_type!r} is not a registered exact signal type")
    try:
        raw = binascii.unhexlify(block.values)
    except (binascii.Error, ValueError):
        return parse_chunk(signal_type, block.item_ids.tolist(), block.value_list())
    if len(raw) != size * len(block):
        raise ValueError(f"{len(block)} item ids for {len(raw)} bytes of {signal_type}")
    keys, rest = _split(size, raw)
    return keys, rest, block.item_ids.astype(np.int64, copy=True)


def live_digest_parts(
    repo: Repository | Sequence[Repository], signal_type: str
) -> list[tuple[KeyArray, ByteArray, IdArray]]:
    """The store's live digests of ``signal_type`` as parsed parts
    (:func:`hashwall.service.search.read_live`)."""
    from hashwall.service.search import read_live

    size = digest_size(signal_type)
    if size is None:
        raise ValueError(f"{signal_type!r} is not a registered exact signal type")
    return read_live(
        repo,
        signal_type,
        2 * size,
        lambda block: parse_joined(signal_type, block),
        lambda chunk: parse_chunk(signal_type, chunk.item_ids, chunk.values),
    )


def _merge(main: _Main, keys: KeyArray, rest: ByteArray, ids: IdArray) -> _Main:
    """``main`` with these rows inserted in key order (a linear merge when main is large)."""
    if keys.size == 0:
        return main
    order = np.argsort(keys, kind="stable")
    keys, rest, ids = keys[order], rest[order], ids[order]
    at = np.searchsorted(main.keys, keys, side="right")
    return _Main(
        np.insert(main.keys, at, keys),
        np.insert(main.rest, at, rest, axis=0),
        np.insert(main.ids, at, ids),
    )


def _compact(size: int, table: _Table) -> _Table:
    """The main segment rebuilt without dead items' rows and with the delta folded in."""
    main = table.main
    if table.dead:
        dead = np.fromiter(table.dead, dtype=np.int64, count=len(table.dead))
        alive = ~np.isin(main.ids, dead)
        main = _Main(main.keys[alive], main.rest[alive], main.ids[alive])
    values = [value for value, ids in table.delta.items() for _ in ids]
    delta_ids = np.fromiter(
        (i for ids in table.delta.values() for i in ids), dtype=np.int64, count=len(values)
    )
    keys, rest = _split(size, b"".join(values))
    return _Table(_merge(main, keys, rest, delta_ids), frozenset(), {}, {})


class _Changes:
    """A writer's working copy of one table while a batch is applied (then frozen)."""

    def __init__(self, table: _Table) -> None:
        self.base = table
        self.dead = set(table.dead)
        self.delta = dict(table.delta)
        self.delta_items = dict(table.delta_items)

    def add(self, item_id: int, key: bytes) -> None:
        held = self.delta_items.get(item_id, ())
        if key in held:
            return  # replayed
        if item_id not in self.dead and item_id in self.base.main.ids_of(key):
            return  # replayed, still in the main segment
        self.delta_items[item_id] = (*held, key)
        self.delta[key] = (*self.delta.get(key, ()), item_id)

    def remove(self, item_id: int) -> None:
        # The main segment cannot tell cheaply whether it holds the item: mark it dead anyway.
        self.dead.add(item_id)
        for key in self.delta_items.pop(item_id, ()):
            rest = tuple(i for i in self.delta[key] if i != item_id)
            if rest:
                self.delta[key] = rest
            else:
                del self.delta[key]

    def frozen(self) -> _Table:
        return _Table(self.base.main, frozenset(self.dead), self.delta, self.delta_items)


class DigestIndex:
    """Live items' exact digests, by type: lookups by value; see the module docstring."""

    def __init__(
        self,
        types: Iterable[str] | None = None,
        *,
        delta_max: int | None = None,
        dead_max: int | None = None,
    ) -> None:
        """``types``: the exact types to hold (every registered one if None)."""
        names = [t.name for t in exact_types()] if types is None else list(types)
        sizes = {t: digest_size(t) for t in names}
        self._sizes = {t: size for t, size in sizes.items() if size is not None}
        short = [t for t, size in self._sizes.items() if size < KEY_BYTES]
        if short:
            raise ValueError(f"digests of {short} are shorter than the {KEY_BYTES}-byte sort key")
        self._delta_max = delta_max
        self._dead_max = dead_max
        self._lock = threading.Lock()
        self._tables: Mapping[str, _Table] = self._empty()

    def _empty(self) -> dict[str, _Table]:
        return {
            t: _Table(_Main.empty(size), frozenset(), {}, {}) for t, size in self._sizes.items()
        }

    @property
    def types(self) -> tuple[str, ...]:
        """The digest types held."""
        return tuple(self._sizes)

    def __len__(self) -> int:
        return sum(self.size(t) for t in self._sizes)

    def size(self, signal_type: str) -> int:
        """Items holding a digest of ``signal_type`` (O(n): for logs and tests, not lookups)."""
        table = self._tables.get(signal_type)
        if table is None:
            return 0
        main_ids = np.unique(table.main.ids)
        if table.dead:
            dead = np.fromiter(table.dead, dtype=np.int64, count=len(table.dead))
            main_ids = main_ids[~np.isin(main_ids, dead)]
        delta_ids = np.fromiter(table.delta_items, dtype=np.int64, count=len(table.delta_items))
        return int(np.union1d(main_ids, delta_ids).size)

    def nbytes(self) -> int:
        """Bytes held by the main segments' arrays (the delta and dead ids are bounded)."""
        return sum(t.main.nbytes() for t in self._tables.values())

    def find(self, signal_type: str, value: str) -> tuple[int, ...]:
        """Ids of the live items holding ``value`` (hex) of ``signal_type``, ascending."""
        key = digest_bytes(signal_type, value)
        table = self._tables.get(signal_type)  # one read: a consistent snapshot
        if key is None or table is None:
            return ()
        return table.find(key)

    def build(
        self, signal_type: str, chunks: Iterable[tuple[Sequence[int], Sequence[str]]]
    ) -> None:
        """Replace the ``signal_type`` digests with a snapshot's ``(item ids, hex values)`` chunks.

        Each chunk becomes arrays at once; one sort at the end; published in one assignment.
        """
        if signal_type not in self._sizes:
            for _ in chunks:  # consume the stream anyway: the caller's read may need it
                pass
            return
        self.build_parts(
            signal_type, (parse_chunk(signal_type, ids, values) for ids, values in chunks)
        )

    def build_parts(
        self, signal_type: str, chunks: Iterable[tuple[KeyArray, ByteArray, IdArray]]
    ) -> None:
        """:meth:`build` from parsed parts (:func:`parse_chunk`, :func:`live_digest_parts`)."""
        size = self._sizes.get(signal_type)
        if size is None:
            for _ in chunks:  # consume the stream anyway: the caller's read may need it
                pass
            return
        parts = list(chunks)
        if parts:
            keys, rest, ids = (np.concatenate(col) for col in zip(*parts, strict=True))
            main = _Main.sorted_from(keys, rest, ids)
        else:
            main = _Main.empty(size)
        del parts
        with self._lock:
            self._tables = {**self._tables, signal_type: _Table(main, frozenset(), {}, {})}

    def add(self, item_id: int, signals: Iterable[tuple[str, str]]) -> None:
        """Add an item's ``(type, hex value)`` digests (other types are ignored)."""
        self.apply([DigestChange(item_id, tuple(signals))])

    def remove(self, item_id: int) -> None:
        """Remove every digest of ``item_id`` (nothing if it held none)."""
        self.apply([DigestChange(item_id, removed=True)])

    def apply(self, changes: Iterable[DigestChange]) -> None:
        """Apply changes in order and publish them together (one snapshot per batch)."""
        with self._lock:
            work = {t: _Changes(table) for t, table in self._tables.items()}
            for change in changes:
                item_id = int(change.item_id)
                if change.removed:
                    for w in work.values():
                        w.remove(item_id)
                    continue
                for signal_type, value in change.signals:
                    w_type = work.get(signal_type)
                    key = digest_bytes(signal_type, value)
                    if w_type is not None and key is not None:
                        w_type.add(item_id, key)
            tables = {t: self._maybe_compact(t, w.frozen()) for t, w in work.items()}
            self._tables = tables

    def compact(self) -> None:
        """Fold the delta into rebuilt main segments and drop dead items' rows now."""
        with self._lock:
            self._tables = {t: _compact(self._sizes[t], tb) for t, tb in self._tables.items()}

    def _maybe_compact(self, signal_type: str, table: _Table) -> _Table:
        n = int(table.main.ids.size)
        delta_max = (
            self._delta_max if self._delta_max is not None else min(65536, max(4096, n // 256))
        )
        dead_max = self._dead_max if self._dead_max is not None else max(4096, n // 64)
        if len(table.delta_items) > delta_max or len(table.dead) > dead_max:
            return _compact(self._sizes[signal_type], table)
        return table
