"""The signals of items: stored as given, erased with everything hash-like of a withdrawn or
deleted item, and streamed to build the in-memory indexes."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, func, insert, select, text, update

from hashwall.domain import ITEM_STATES, LIVE_ITEM_STATES
from hashwall.hashing.signals import Signal
from hashwall.store.engine import erase_on_commit
from hashwall.store.repositories.base import RepositoryBase, build_row
from hashwall.store.repositories.records import PG_RECORDS, RecordBlock
from hashwall.store.tables import (
    cases,
    events,
    exemptions,
    items,
    matches,
    short_value,
    signals,
    verdicts,
)

#: Values per ``IN`` list of one statement (SQLite allows 32,766 parameters).
IN_CHUNK: Final = 5000
#: Signal row ids per statement of :meth:`SignalRepository.live_signal_blocks`.
BLOCK_SPAN: Final = 262_144
#: ... of :meth:`SignalRepository.live_record_blocks` (a keypoints value is ~1.3 kB).
RECORD_SPAN: Final = 65_536
#: The item states whose signals are not banked (their rows are erased anyway).
_DEAD_STATES: Final = tuple(state for state in ITEM_STATES if state not in LIVE_ITEM_STATES)


@dataclass(frozen=True, slots=True)
class SignalRecord:
    """A signal to store: type, canonical value, quality; frame fields for video frames."""

    type: str
    value: str
    quality: int | None = None
    frame_number: int | None = None
    frame_timestamp: float | None = None

    @classmethod
    def of(cls, signal: Signal | SignalRecord) -> SignalRecord:
        """A record from a validated :class:`~hashwall.hashing.signals.Signal` (or itself)."""
        if isinstance(signal, SignalRecord):
            return signal
        return cls(type=signal.type, value=signal.value, quality=signal.quality)

    def to_dict(self) -> dict[str, Any]:
        """The wire form ``{"type", "value", "quality"}`` (plus frame fields when set)."""
        body: dict[str, Any] = {"type": self.type, "value": self.value, "quality": self.quality}
        if self.frame_number is not None:
            body["frame_number"] = self.frame_number
        if self.frame_timestamp is not None:
            body["frame_timestamp"] = self.frame_timestamp
        return body


@dataclass(frozen=True, slots=True)
class StoredSignal:
    """A signal row of an item."""

    id: int
    item_id: int
    type: str
    value: str
    quality: int | None
    frame_number: int | None
    frame_timestamp: float | None

    def to_record(self) -> SignalRecord:
        """The signal without its row ids."""
        return SignalRecord(
            self.type, self.value, self.quality, self.frame_number, self.frame_timestamp
        )


@dataclass(frozen=True, slots=True)
class SignalChunk:
    """Live signals of one type, column-wise (one list per column, not one object per row)."""

    item_ids: list[int]
    values: list[str]
    qualities: list[int | None]
    frame_numbers: list[int | None]

    def __len__(self) -> int:
        return len(self.item_ids)


@dataclass(frozen=True, slots=True)
class SignalBlock:
    """Live signals of one type among a range of signal rows, as arrays and one string: the
    fast form of a snapshot (:meth:`SignalRepository.live_signal_blocks`)."""

    item_ids: npt.NDArray[np.int64]
    #: Each signal's frame number, -1 where it has none.
    frame_numbers: npt.NDArray[np.int64]
    #: The values, concatenated: each exactly ``width`` characters.
    values: str
    width: int
    #: The first signal row id of the block's range.
    low: int = 0

    def __len__(self) -> int:
        return int(self.item_ids.size)

    def value_list(self) -> list[str]:
        """The values one by one."""
        w = self.width
        return [self.values[i : i + w] for i in range(0, len(self.values), w)]


class UnevenValues(Exception):
    """A live value of a type is not of the width asked for (the caller reads row by row)."""


#: One type's live signals among a range of signal rows, packed into one row (binary ids).
_PG_BLOCK: Final = """
SELECT count(*), count(*) FILTER (WHERE length(s.value) <> %(width)s),
       string_agg(int8send(s.item_id), ''::bytea), {frames}, string_agg(s.value, '')
FROM signals AS s
WHERE s.type = %(type)s AND s.id >= %(low)s AND s.id < %(high)s
  AND s.item_id NOT IN (SELECT items.id FROM items WHERE items.state = ANY(%(dead)s))
"""
_PG_FRAMES: Final = "string_agg(int8send(coalesce(s.frame_number, -1)::bigint), ''::bytea)"


class SignalRepository(RepositoryBase):
    """Reads and writes of signal rows."""

    def add_signals(
        self, item_id: int, signal_list: Iterable[Signal | SignalRecord]
    ) -> list[StoredSignal]:
        """Store an item's signals (any type: the type is a free string)."""
        records = [SignalRecord.of(s) for s in signal_list]
        if not records:
            return []
        rows = self.conn.execute(
            insert(signals).returning(*signals.c, sort_by_parameter_order=True),
            [{"item_id": item_id, **_record_columns(r)} for r in records],
        )
        return [build_row(StoredSignal, row) for row in rows]

    def add_signals_bulk(
        self, per_item: Iterable[tuple[int, Iterable[Signal | SignalRecord]]]
    ) -> int:
        """Store the signals of many items (``(item_id, signals)`` pairs) in one executemany;
        return how many rows were written."""
        rows = [
            {"item_id": item_id, **_record_columns(SignalRecord.of(s))}
            for item_id, signal_list in per_item
            for s in signal_list
        ]
        if rows:
            self.conn.execute(insert(signals), rows)
        return len(rows)

    def live_values_of_partner(
        self, signal_type: str, values: Collection[str], partner_id: int
    ) -> set[str]:
        """Which of ``values`` (of ``signal_type``) a live item of partner ``partner_id``'s
        cases holds: set-based, two statements per 5,000 values.

        First the signal rows holding the values (the (type, value) index), then their items
        by row id; the partner is compared here, not in SQL: with a partner condition in one
        join, PostgreSQL's statistics of tables that just grew (a bulk import) made it walk
        every item of the partner and probe the signals per item (15 s for 1,000 values).
        """
        wanted = list(set(values))
        found: set[str] = set()
        for start in range(0, len(wanted), IN_CHUNK):
            hits = self.conn.execute(
                select(signals.c.item_id, signals.c.value).where(
                    signals.c.type == signal_type,
                    signals.c.value.in_(wanted[start : start + IN_CHUNK]),
                    short_value(signals.c.value),
                )
            ).all()
            if not hits:
                continue
            owners = {
                item_id: owner
                for item_id, owner in self.conn.execute(
                    select(items.c.id, cases.c.partner_id)
                    .join(cases, cases.c.id == items.c.case_id)
                    .where(
                        items.c.id.in_({item_id for item_id, _ in hits}),
                        items.c.state.in_(LIVE_ITEM_STATES),
                    )
                )
            }
            found.update(value for item_id, value in hits if owners.get(item_id) == partner_id)
        return found

    def analyze_bank_tables(self) -> None:
        """After a bulk write, on PostgreSQL: ``ANALYZE`` items, signals and events, so that the
        planner knows their new size (autovacuum's analyze comes later, or never where it is
        off; a plan made for an empty table walks the whole bank per row: the export's cursor
        took 12 s for 10,000 signals). Nothing on SQLite."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(text(f"ANALYZE {items.name}, {signals.name}, {events.name}"))

    def list_signals(self, item_id: int) -> list[StoredSignal]:
        """An item's signals, in insertion order."""
        return self._all(
            StoredSignal,
            select(signals).where(signals.c.item_id == item_id).order_by(signals.c.id),
        )

    def read_item_frames(
        self, item_ids: Collection[int], signal_type: str
    ) -> dict[int, list[tuple[str, float | None]]]:
        """The ``(value, timestamp)`` of the frames of ``signal_type`` (video frames) of each of
        ``item_ids``, in frame order, in one statement."""
        out: dict[int, list[tuple[str, float | None]]] = {}
        if not item_ids:
            return out
        rows = self.conn.execute(
            select(signals.c.item_id, signals.c.value, signals.c.frame_timestamp)
            .where(signals.c.item_id.in_(set(item_ids)), signals.c.type == signal_type)
            .order_by(signals.c.item_id, signals.c.frame_number, signals.c.id)
        )
        for item_id, value, timestamp in rows:
            out.setdefault(item_id, []).append((value, timestamp))
        return out

    def delete_item_signals(self, item_id: int) -> int:
        """Delete an item's signal rows (withdrawal, deletion); return how many were deleted."""
        return self.conn.execute(delete(signals).where(signals.c.item_id == item_id)).rowcount

    def erase_item_hashes(self, item_id: int) -> None:
        """Everything hash-like kept for an item (withdrawal, deletion): its signal rows, the
        exemptions on it, and the upload hashes of the matches and verdicts on it (near copies
        of it)."""
        erase_on_commit(self.conn)  # no copy left in the files of the store either
        self.delete_item_signals(item_id)
        self.conn.execute(delete(exemptions).where(exemptions.c.item_id == item_id))
        for table in (matches, verdicts):
            self.conn.execute(
                update(table)
                .where(table.c.item_id == item_id)
                .values(upload_pdq=None, upload_sha256=None)
            )

    def iter_live_signals(
        self, signal_type: str, *, chunk_size: int = 50_000
    ) -> Iterator[SignalChunk]:
        """Stream the live bank's signals of one type in column-wise chunks (index building).

        Read it inside :meth:`Store.read` together with :meth:`last_event_seq`: the snapshot
        and the cursor then agree, and the index follows events after that cursor.
        """
        stmt = (
            select(signals.c.item_id, signals.c.value, signals.c.quality, signals.c.frame_number)
            .join(items, items.c.id == signals.c.item_id)
            .where(signals.c.type == signal_type, items.c.state.in_(LIVE_ITEM_STATES))
            .order_by(signals.c.id)
        )
        result = self.conn.execute(
            stmt, execution_options={"yield_per": chunk_size, "stream_results": True}
        )
        for part in result.partitions():
            item_ids, values, qualities, frames = (list(col) for col in zip(*part, strict=True))
            yield SignalChunk(item_ids, values, qualities, frames)

    def signal_id_ranges(self, span: int = BLOCK_SPAN) -> list[tuple[int, int]]:
        """The signal row ids in ranges ``[low, high)`` of ``span`` ids, first to last (the
        blocks of :meth:`live_signal_blocks`)."""
        low, high = self.conn.execute(select(func.min(signals.c.id), func.max(signals.c.id))).one()
        if low is None:
            return []
        return [(start, start + span) for start in range(int(low), int(high) + 1, span)]

    def live_signal_blocks(
        self,
        signal_type: str,
        width: int,
        *,
        frames: bool = False,
        span: int = BLOCK_SPAN,
        ranges: Sequence[tuple[int, int]] | None = None,
    ) -> Iterator[SignalBlock]:
        """The live bank's signals of ``signal_type``, whose values are ``width`` characters
        each, a block per range of signal row ids (``ranges``, by default all of them in
        ranges of ``span``: :meth:`signal_id_ranges`); ``frames``: with their frame numbers
        (-1 otherwise). The order of rows is not kept.

        The fast read of an index build (``service/indexes.py``): on PostgreSQL each statement
        packs a range's rows into one row (``string_agg`` of the binary ids and of the values,
        sent in binary), so 10 million signals cost ~40 round trips and no Python object per
        row. Raises :class:`UnevenValues` when a live value is not ``width`` characters (the
        caller then reads row by row, :meth:`iter_live_signals`). Read it inside
        :meth:`Store.read` with :meth:`last_event_seq`, as :meth:`iter_live_signals` (or split
        the ranges between the transactions of :meth:`Store.read_shared`).
        """
        held = select(signals.c.id).where(signals.c.type == signal_type).limit(1)
        if self.conn.execute(held).first() is None:  # the (type, value) index: at once
            return
        if ranges is None:
            ranges = self.signal_id_ranges(span)
        if self.conn.dialect.name != "postgresql":
            for low, high in ranges:
                yield from self._blocks_row_by_row(signal_type, width, low, high)
            return
        sql = _PG_BLOCK.format(frames=_PG_FRAMES if frames else "NULL")
        params: dict[str, Any] = {"type": signal_type, "width": width, "dead": list(_DEAD_STATES)}
        for low, (count, uneven, ids, frame_numbers, joined) in self._pg_range_rows(
            sql, params, ranges
        ):
            if uneven:
                raise UnevenValues(f"{uneven} {signal_type} values are not {width} wide")
            if count:
                yield SignalBlock(
                    np.frombuffer(ids, dtype=">i8").astype(np.int64),
                    np.frombuffer(frame_numbers, dtype=">i8").astype(np.int64)
                    if frames
                    else np.full(count, -1, dtype=np.int64),
                    joined,
                    width,
                    low,
                )

    def live_record_blocks(
        self, signal_type: str, record_bytes: int, *, span: int = RECORD_SPAN
    ) -> Iterator[RecordBlock]:
        """The live bank's values of ``signal_type`` that are whole records of ``record_bytes``
        (hex text; empty values and others are skipped), as bytes, a block per ``span`` signal
        row ids, in signal row order (the rows of :meth:`iter_live_signals`).

        The read of a keypoint index build (``service/keypoints.py``): on PostgreSQL the store
        decodes the hex and packs a range's rows into one row sent in binary (no Python string
        per row, half the bytes on the wire); elsewhere the hex is read row by row and parsed
        here. Read it inside :meth:`Store.read` with :meth:`last_event_seq`.
        """
        chars = 2 * record_bytes
        ranges = self.signal_id_ranges(span)
        if self.conn.dialect.name != "postgresql":
            for low, high in ranges:
                rows = self.conn.execute(
                    select(signals.c.item_id, signals.c.value)
                    .join(items, items.c.id == signals.c.item_id)
                    .where(
                        signals.c.type == signal_type,
                        signals.c.id >= low,
                        signals.c.id < high,
                        items.c.state.in_(LIVE_ITEM_STATES),
                        func.length(signals.c.value) > 0,
                        func.length(signals.c.value) % chars == 0,
                    )
                    .order_by(signals.c.id)
                ).all()
                if rows:
                    yield RecordBlock.of_hex(rows)
            return
        params: dict[str, Any] = {"type": signal_type, "chars": chars, "dead": list(_DEAD_STATES)}
        for _, row in self._pg_range_rows(PG_RECORDS, params, ranges):
            if row[0]:
                yield RecordBlock.of_packed(row, record_bytes)

    def _pg_range_rows(
        self, sql: str, params: dict[str, Any], ranges: Sequence[tuple[int, int]]
    ) -> Iterator[tuple[int, Any]]:
        """``(low, row)``: the one row of ``sql`` for each range ``[low, high)`` of signal row
        ids, read in binary through the connection's own driver cursor (same transaction)."""
        cursor: Any = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            for low, high in ranges:
                row = cursor.execute(sql, {**params, "low": low, "high": high}, binary=True)
                yield low, row.fetchone()
        finally:
            cursor.close()

    def _blocks_row_by_row(
        self, signal_type: str, width: int, low: int, high: int
    ) -> Iterator[SignalBlock]:
        """:meth:`live_signal_blocks` for one range, on a store without ``string_agg``."""
        rows = self.conn.execute(
            select(signals.c.item_id, signals.c.frame_number, signals.c.value)
            .join(items, items.c.id == signals.c.item_id)
            .where(
                signals.c.type == signal_type,
                signals.c.id >= low,
                signals.c.id < high,
                items.c.state.in_(LIVE_ITEM_STATES),
            )
        ).all()
        if not rows:
            return
        item_ids, frame_numbers, values = zip(*rows, strict=True)
        if any(len(value) != width for value in values):
            raise UnevenValues(f"a {signal_type} value is not {width} wide")
        yield SignalBlock(
            np.asarray(item_ids, dtype=np.int64),
            np.asarray([-1 if f is None else f for f in frame_numbers], dtype=np.int64),
            "".join(values),
            width,
            low,
        )


def _record_columns(record: SignalRecord) -> dict[str, Any]:
    return {
        "type": record.type,
        "value": record.value,
        "quality": record.quality,
        "frame_number": record.frame_number,
        "frame_timestamp": record.frame_timestamp,
    }
