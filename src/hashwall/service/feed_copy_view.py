"""The live set of a feed copy read back as arrays (:class:`CopyView`), and what reading and
writing a copy share: its item columns, the ref keys, and values as codes or text.

A copy (``service/feed_copy.py``: its folder, its log, its syncs) stores the items of a base as
columns and each signal type's values as columns, a distance type's as the ``(n, 32)`` codes the
index loads, a packed type's (a geometric type's keypoint sets, of any length) as their bytes one
after another with the length of each (:class:`Packed`). :class:`CopyView` is its live set:
:class:`Part` s of items (the base, memory-mapped, with the log applied; then the items the log
added) and the vocabularies of their codes. A view is also made from items in the JSON copy's
form (:meth:`CopyView.from_items`), which is how the local matcher reads a ``bank.json``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from hashwall.domain import ITEM_KINDS, ITEM_STATES, ITEM_TRUSTS, LIVE_ITEM_STATES
from hashwall.errors import InvalidInput
from hashwall.hashing.codes import HASH_BYTES
from hashwall.hashing.signals import SIGNAL_TYPES, DistanceSignalType
from hashwall.service.feed_blocks import ItemBlock, SignalColumns, build_block

#: The format of the JSON copy (``bank.json``) that ``hashwall feed sync`` wrote before, and
#: that :meth:`CopyView.document` exports.
JSON_FORMAT: Final = "hashwall-feed-mirror/1"
#: The item columns of a base (``items/<name>.npy``).
ITEM_COLUMNS: Final[dict[str, np.dtype[Any]]] = {
    "ref": np.dtype("S32"),
    "kind": np.dtype("u1"),
    "trust": np.dtype("u1"),
    "state": np.dtype("u1"),
    "key": np.dtype("<u8"),
}
#: Bytes of a text value of a type stored as text (longer values are refused).
TEXT_WIDTH: Final = 128


def ref_keys(refs: npt.NDArray[np.bytes_]) -> npt.NDArray[np.uint64]:
    """A 64-bit key of each ref (``S32``), for finding refs by binary search."""
    words = np.ascontiguousarray(refs, dtype="S32").view("<u8").reshape(-1, 4)
    key = np.zeros(words.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i, mult in enumerate((0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                                  0xD6E8FEB86659FD93)):  # fmt: skip
            key ^= words[:, i] * np.uint64(mult)
            key ^= key >> np.uint64(29)
        key *= np.uint64(0xBF58476D1CE4E5B9)
        key ^= key >> np.uint64(32)
    return key


def load_column(path: Path, *, mmap: bool = True) -> np.ndarray:
    try:
        data: np.ndarray = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
        return data
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}; sync into a new --dir") from None


# --- values ------------------------------------------------------------------------------------


def _distance_type(name: str) -> type[DistanceSignalType] | None:
    kind = SIGNAL_TYPES.get(name)
    return kind if kind is not None and issubclass(kind, DistanceSignalType) else None


def text_to_codes(name: str, values: npt.NDArray[np.bytes_]) -> npt.NDArray[np.uint8]:
    """Text values of a distance type as its ``(n, 32)`` codes (``invalid_input`` if one is
    not a value of the type)."""
    kind = _distance_type(name)
    assert kind is not None
    digits = kind.digits()
    n = int(values.size)
    if n == 0:
        return np.zeros((0, HASH_BYTES), dtype=np.uint8)
    text = np.ascontiguousarray(values, dtype=f"S{digits}")
    try:
        raw = bytes.fromhex(text.tobytes().decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raw = b""
    if len(raw) != n * digits // 2 or bool(np.any(np.char.str_len(values) != digits)):
        raise InvalidInput(f"the feed sent a {name} value that is not {digits} hex digits")
    codes = np.zeros((n, HASH_BYTES), dtype=np.uint8)
    codes[:, : digits // 2] = np.frombuffer(raw, dtype=np.uint8).reshape(n, digits // 2)
    return codes


def codes_to_text(name: str, codes: npt.NDArray[np.uint8]) -> list[str]:
    """Codes of a distance type back as its (lower-case hex) values."""
    kind = _distance_type(name)
    assert kind is not None
    size = kind.digits() // 2
    return [row.hex() for row in (bytes(r[:size]) for r in np.asarray(codes))]


@dataclass(frozen=True, slots=True)
class Packed:
    """Values of varying length (a packed type's: ``service/feed_blocks.py``) as a copy holds
    them: their bytes one after another, the bytes of each, and where each starts."""

    data: npt.NDArray[np.uint8]
    lengths: npt.NDArray[np.uint32]
    #: ``len(self) + 1`` offsets into ``data``: value ``i`` is ``data[starts[i]:starts[i + 1]]``.
    starts: npt.NDArray[np.int64]

    @classmethod
    def of(cls, data: np.ndarray, lengths: np.ndarray) -> Packed:
        """Values from their bytes and lengths (``invalid_input`` if they disagree)."""
        starts = np.zeros(int(lengths.size) + 1, dtype=np.int64)
        np.cumsum(lengths.astype(np.int64, copy=False), out=starts[1:])
        if data.ndim != 1 or lengths.ndim != 1 or int(starts[-1]) != data.size:
            raise InvalidInput("a copy's packed values do not add up to their lengths; sync again")
        return cls(data, lengths, starts)

    @classmethod
    def empty(cls) -> Packed:
        return cls.of(np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.uint32))

    def __len__(self) -> int:
        return int(self.lengths.size)

    def take(self, rows: npt.ArrayLike) -> Packed:
        """The values of ``rows``, in that order (copied a run of consecutive rows at a time:
        the rows a matcher or a compaction keeps are long runs)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size == len(self) and bool(np.all(rows == np.arange(rows.size))):
            return self
        if rows.size == 0:
            return Packed.empty()
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        firsts = rows[np.r_[0, breaks]].tolist()
        lasts = rows[np.r_[breaks - 1, rows.size - 1]].tolist()
        starts = self.starts
        data = np.concatenate(
            [self.data[starts[a] : starts[b + 1]] for a, b in zip(firsts, lasts, strict=True)]
        )
        return Packed.of(data.astype(np.uint8, copy=False), self.lengths[rows].astype(np.uint32))

    def hex(self) -> list[str]:
        """Each value as lower-case hexadecimal text (its form in the feed's JSON)."""
        raw = np.asarray(self.data).tobytes()
        return [raw[a:b].hex() for a, b in itertools.pairwise(self.starts.tolist())]


# --- the view ----------------------------------------------------------------------------------


class TypeRows(NamedTuple):
    """One signal type's rows of a part: the item row of each, its value, its metadata."""

    owners: np.ndarray
    #: A distance type's ``(n, 32)`` codes, a packed type's :class:`Packed`, else the text.
    values: np.ndarray | Packed
    quality: np.ndarray
    frame_number: np.ndarray
    frame_timestamp: np.ndarray


@dataclass(frozen=True, slots=True)
class Part:
    """Items as columns (the base, or the items the log added) and which of them are live."""

    refs: npt.NDArray[np.bytes_]
    kind: npt.NDArray[np.uint8]
    trust: npt.NDArray[np.uint8]
    state: npt.NDArray[np.uint8]
    live: npt.NDArray[np.bool_]
    signals: Mapping[str, TypeRows]


@dataclass
class CopyView:
    """The live set of a copy: its parts (base with the log applied, then added items), the
    vocabularies of their codes, the policy and where the copy stands."""

    parts: list[Part]
    vocab: dict[str, list[str]]
    policy: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(int(np.count_nonzero(p.live)) for p in self.parts)

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Each live item as in the JSON copy: ref -> ``{kind, trust, state, signals}``."""
        for part in self.parts:
            rows = np.flatnonzero(part.live)
            held: dict[int, list[dict[str, Any]]] = {}
            for name, (owners, values, quality, number, stamp) in part.signals.items():
                keep = np.flatnonzero(part.live[owners]) if owners.size else owners
                if isinstance(values, Packed):
                    texts = values.take(keep).hex()
                elif values.ndim == 2:
                    texts = codes_to_text(name, values[keep])
                else:
                    texts = [v.decode() for v in values[keep].tolist()]
                for j, text in zip(keep.tolist(), texts, strict=True):
                    signal: dict[str, Any] = {"type": name, "value": text,
                                              "quality": int(quality[j]) if quality[j] >= 0
                                              else None}  # fmt: skip
                    if number[j] >= 0:
                        signal["frame_number"] = int(number[j])
                    if not np.isnan(stamp[j]):
                        signal["frame_timestamp"] = float(stamp[j])
                    held.setdefault(int(owners[j]), []).append(signal)
            for row in rows.tolist():
                yield (
                    part.refs[row].decode(),
                    {
                        "kind": self.vocab["kind"][part.kind[row]],
                        "trust": self.vocab["trust"][part.trust[row]],
                        "state": self.vocab["state"][part.state[row]],
                        "signals": held.get(row, []),
                    },
                )

    def document(self) -> dict[str, Any]:
        """The copy as one JSON document (the ``bank.json`` form, for export)."""
        return {
            "format": JSON_FORMAT,
            "server": self.meta.get("server"),
            "platform": self.meta.get("platform"),
            "policy": self.policy,
            "cursor": self.meta.get("cursor"),
            "head_seq": self.meta.get("head_seq", 0),
            "synced_at": self.meta.get("synced_at"),
            "items": dict(self.items()),
        }

    @classmethod
    def from_items(
        cls, items: Mapping[str, Mapping[str, Any]], policy: Mapping[str, Any]
    ) -> CopyView:
        """A view of items in the JSON copy's form (a ``bank.json``, a :class:`FeedMirror`)."""
        vocab = fresh_vocab()
        part = part_of_block(block_of_items(items.items()), vocab)
        return cls([part], vocab, dict(policy))


def item_columns(part: Part, rows: slice | np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The item columns of ``rows`` of a part, as a base stores them."""
    refs = np.ascontiguousarray(part.refs[rows], dtype="S32")
    return [("ref", refs), ("kind", np.asarray(part.kind[rows])),
            ("trust", np.asarray(part.trust[rows])), ("state", np.asarray(part.state[rows])),
            ("key", ref_keys(refs))]  # fmt: skip


def fresh_vocab() -> dict[str, list[str]]:
    return {"kind": list(ITEM_KINDS), "trust": list(ITEM_TRUSTS), "state": list(ITEM_STATES)}


def block_of_items(items: Iterable[tuple[str, Mapping[str, Any]]]) -> ItemBlock:
    rows: list[tuple[str, str, str, str]] = []
    held: list[tuple[str, str, str, Any, Any, Any]] = []
    for ref, item in items:
        rows.append((ref, str(item["kind"]), str(item["trust"]), str(item["state"])))
        for s in item.get("signals") or ():
            if (
                isinstance(s, Mapping)
                and isinstance(s.get("type"), str)
                and isinstance(s.get("value"), str)
            ):
                held.append((ref, s["type"], s["value"], s.get("quality"),
                             s.get("frame_number"), s.get("frame_timestamp")))  # fmt: skip
    return build_block(rows, held)


def _remap(
    codes: np.ndarray, names: Sequence[str], vocab: dict[str, list[str]], what: str
) -> npt.NDArray[np.uint8]:
    own = vocab[what]
    table = np.zeros(max(len(names), 1), dtype=np.uint8)
    for i, name in enumerate(names):
        if name not in own:
            own.append(name)
        table[i] = own.index(name)
    return table[codes] if codes.size else codes.astype(np.uint8)


def _signal_values(name: str, columns: SignalColumns) -> np.ndarray | Packed:
    """A block's values of a type as the copy stores them."""
    if columns.value_length is not None:
        return Packed.of(columns.value, columns.value_length)
    if _distance_type(name) is not None:
        return text_to_codes(name, columns.value)
    if columns.value.dtype.itemsize > TEXT_WIDTH:
        raise InvalidInput(f"the feed sent a {name} value longer than {TEXT_WIDTH} bytes")
    return columns.value.astype(f"S{TEXT_WIDTH}")


def part_of_block(block: ItemBlock, vocab: dict[str, list[str]]) -> Part:
    state = _remap(block.state_codes, block.state, vocab, "state")
    live_codes = [vocab["state"].index(s) for s in LIVE_ITEM_STATES if s in vocab["state"]]
    return Part(
        refs=block.refs.astype("S32"),
        kind=_remap(block.kind_codes, block.kind, vocab, "kind"),
        trust=_remap(block.trust_codes, block.trust, vocab, "trust"),
        state=state,
        live=np.isin(state, live_codes),
        signals={
            name: TypeRows(
                c.owner, _signal_values(name, c), c.quality, c.frame_number, c.frame_timestamp
            )
            for name, c in block.signals.items()
        },
    )
