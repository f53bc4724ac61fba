"""Values made of fixed-size binary records, stored as hex text (``keypoints``), read back as
bytes in blocks (``SignalRepository.live_record_blocks``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

#: One type's live whole-record values among a range of signal rows, packed into one row: the
#: count, then the row ids, item ids and value sizes (binary int8) and the values decoded from
#: hex, concatenated. Parameters: type, low, high, chars (hex digits a record), dead (states).
#: Sizes come from ``octet_length`` (hex is ASCII), which reads a long (TOASTed) value's
#: header only: each ``length`` would fetch the value and count its characters (3x slower).
PG_RECORDS: Final = """
SELECT count(*), string_agg(int8send(s.id), ''::bytea),
       string_agg(int8send(octet_length(s.value) / 2), ''::bytea),
       string_agg(int8send(s.item_id), ''::bytea),
       string_agg(decode(s.value, 'hex'), ''::bytea)
FROM signals AS s
WHERE s.type = %(type)s AND s.id >= %(low)s AND s.id < %(high)s
  AND octet_length(s.value) > 0 AND octet_length(s.value) %% %(chars)s = 0
  AND s.item_id NOT IN (SELECT items.id FROM items WHERE items.state = ANY(%(dead)s))
"""


@dataclass(frozen=True, slots=True)
class RecordBlock:
    """Live values of a record type as bytes, in signal row order: item ``item_ids[i]``'s
    value is the next ``sizes[i]`` bytes of ``data``."""

    item_ids: npt.NDArray[np.int64]
    sizes: npt.NDArray[np.int64]
    data: bytes

    def __len__(self) -> int:
        return int(self.item_ids.size)

    @classmethod
    def of_hex(cls, rows: Sequence[Any]) -> RecordBlock:
        """A block of ``(item_id, hex value)`` rows, in their order."""
        item_ids, values = zip(*rows, strict=True)
        return cls(
            np.asarray(item_ids, dtype=np.int64),
            np.fromiter((len(v) // 2 for v in values), np.int64, len(values)),
            bytes.fromhex("".join(values)),
        )

    @classmethod
    def of_packed(cls, row: Sequence[Any], record_bytes: int) -> RecordBlock:
        """A block of one row of :data:`PG_RECORDS`, put in signal row order (the order the
        rows were scanned in, most often already)."""
        _, row_ids, sizes, item_ids, data = row
        rows = np.frombuffer(row_ids, dtype=">i8")
        block = cls(
            np.frombuffer(item_ids, dtype=">i8").astype(np.int64),
            np.frombuffer(sizes, dtype=">i8").astype(np.int64),
            bytes(data),
        )
        if rows.size < 2 or bool((np.diff(rows) > 0).all()):
            return block
        order = np.argsort(rows, kind="stable")
        counts = block.sizes // record_bytes
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        moved = np.r_[0, np.cumsum(counts[order])[:-1]]
        take = np.repeat(starts[order] - moved, counts[order]) + np.arange(int(counts.sum()))
        records = np.frombuffer(block.data, dtype=np.dtype((np.void, record_bytes)))
        return cls(block.item_ids[order], block.sizes[order], records[take].tobytes())
