"""The binary form of the feed's snapshot (``GET /v1/feed/snapshot``): frames of numpy arrays.

A first sync of a big bank as JSON pages builds millions of Python objects on both sides; this
form carries the same items as columns. The body is ``MAGIC`` then frames, each::

    u32 header length (little-endian) | header (JSON, UTF-8) | the header's arrays, raw

The header names its arrays in order (``{"name", "dtype", "shape"}``; a dtype is a plain
numeric or fixed-width bytes type, never an object), so a reader takes each array's bytes
as they are (``numpy.frombuffer``). Frames by ``kind``:

- ``start``: ``platform``, ``policy`` (as in a JSON page), ``snapshot_seq``, ``head_seq``.
- ``items``: one block of snapshot items, the same items a JSON snapshot page of that size
  holds. Arrays ``ref`` (``S32``), ``kind``, ``trust``, ``state`` (``u1``, positions in the
  header's ``vocab`` lists), then per signal type (the header's ``types``, in order) ``owner``
  (``i4``, the signal's item in this block), ``value`` (``S<w>``, the text value), ``quality``
  (``i2``, -1 for none), ``frame_number`` (``i4``, -1 for none) and ``frame_timestamp``
  (``f8``, NaN for none). ``cursor`` is where the next block (or a JSON page) starts.
  A type whose values vary in length (a geometric type's keypoint sets: 16 to 5,120 bytes) is
  *packed* (the header's ``packed`` lists it): its ``value`` is the bytes of its rows' values
  (hexadecimal on the wire, so half the size) one after another (``u1``), and ``value_length``
  (``u4``) the bytes of each row's value, so that no row is padded to the longest.
- ``end``: ``cursor``, the events phase after the snapshot (read with ``GET /v1/feed``).

A body that stops before ``end`` was cut: what was read up to the last whole frame holds, and
the reader resumes from that frame's cursor.

A bank without values of a packed type sends exactly what a reader written before packing
reads; such a reader cannot read a packed type's block (nor could it keep such values: it
refused text values past 128 bytes).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final

import numpy as np
import numpy.typing as npt

from hashwall.errors import InvalidInput
from hashwall.hashing.signals import SIGNAL_TYPES

MAGIC: Final = b"HWFEED-BLOCKS/1\n"
MEDIA_TYPE: Final = "application/vnd.hashwall.feed-blocks"
SIGNAL_COLUMNS: Final = ("owner", "value", "quality", "frame_number", "frame_timestamp")
#: The longest header a reader accepts (a block's header is a few hundred bytes).
MAX_HEADER: Final = 1 << 20
#: The most bytes of arrays one frame may announce.
MAX_FRAME_BYTES: Final = 1 << 31
_ALLOWED_KINDS: Final = frozenset("biufS")
_LENGTH: Final = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class SignalColumns:
    """One signal type's rows of a block: the item each belongs to, and its fields."""

    owner: npt.NDArray[np.int32]
    #: Each row's text (``S<w>``), or a packed type's bytes (``u1``, see ``value_length``).
    value: np.ndarray
    quality: npt.NDArray[np.int16]
    frame_number: npt.NDArray[np.int32]
    frame_timestamp: npt.NDArray[np.float64]
    #: A packed type's: the bytes of each row's value, ``value`` being their bytes (``u1``)
    #: one after another (None: ``value`` is each row's text, ``S<w>``).
    value_length: npt.NDArray[np.uint32] | None = None

    @property
    def packed(self) -> bool:
        """Whether the values are packed bytes (see the module docstring)."""
        return self.value_length is not None


@dataclass(frozen=True, slots=True)
class ItemBlock:
    """One block of snapshot items as columns (see the module docstring)."""

    refs: npt.NDArray[np.bytes_]
    kind: list[str]
    trust: list[str]
    state: list[str]
    kind_codes: npt.NDArray[np.uint8]
    trust_codes: npt.NDArray[np.uint8]
    state_codes: npt.NDArray[np.uint8]
    signals: dict[str, SignalColumns] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.refs.size)


def _codes(values: list[str], vocab: list[str]) -> npt.NDArray[np.uint8]:
    where = {name: i for i, name in enumerate(vocab)}
    for value in values:
        if value not in where:
            where[value] = len(vocab)
            vocab.append(value)
    return np.fromiter((where[v] for v in values), dtype=np.uint8, count=len(values))


def _none_as(values: Iterable[Any], missing: Any) -> list[Any]:
    return [missing if v is None else v for v in values]


def packs(name: str) -> bool:
    """Whether a block carries the values of type ``name`` packed: those of a geometric type
    (a set of keypoint records, hexadecimal, of any length)."""
    kind = SIGNAL_TYPES.get(name)
    return kind is not None and kind.comparison == "geometric"


def _packed_values(
    name: str, texts: list[str]
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint32]]:
    """Hexadecimal values as their bytes one after another, and the bytes of each."""
    try:
        data = bytes.fromhex("".join(texts))
    except ValueError:
        data = b""
    lengths = np.fromiter((len(t) // 2 for t in texts), dtype=np.uint32, count=len(texts))
    if any(len(t) % 2 for t in texts) or len(data) != int(lengths.sum(dtype=np.int64)):
        raise InvalidInput(f"the feed sent a {name} value that is not hexadecimal")
    return np.frombuffer(data, dtype=np.uint8), lengths


def build_block(
    rows: list[tuple[str, str, str, str]], held: list[tuple[str, str, str, Any, Any, Any]]
) -> ItemBlock:
    """A block from the store's rows (``Repository.read_snapshot_rows``), or from items a
    JSON page carried (``invalid_input`` for a packed type's value that is not hex)."""
    kinds: list[str] = []
    trusts: list[str] = []
    states: list[str] = []
    refs = [r[0] for r in rows]
    position = {ref: i for i, ref in enumerate(refs)}
    by_type: dict[str, list[tuple[str, str, str, Any, Any, Any]]] = {}
    for row in held:
        by_type.setdefault(row[1], []).append(row)
    signals = {}
    for name, part in by_type.items():
        value: np.ndarray
        length: npt.NDArray[np.uint32] | None = None
        if packs(name):
            value, length = _packed_values(name, [r[2] for r in part])
        else:
            value = np.array([r[2].encode() for r in part], dtype=np.bytes_)
        signals[name] = SignalColumns(
            owner=np.fromiter((position[r[0]] for r in part), dtype=np.int32, count=len(part)),
            value=value,
            quality=np.array(_none_as((r[3] for r in part), -1), dtype=np.int16),
            frame_number=np.array(_none_as((r[4] for r in part), -1), dtype=np.int32),
            frame_timestamp=np.array(_none_as((r[5] for r in part), np.nan), dtype=np.float64),
            value_length=length,
        )
    return ItemBlock(
        refs=np.array([ref.encode() for ref in refs], dtype="S32"),
        kind=kinds,
        trust=trusts,
        state=states,
        kind_codes=_codes([r[1] for r in rows], kinds),
        trust_codes=_codes([r[2] for r in rows], trusts),
        state_codes=_codes([r[3] for r in rows], states),
        signals=signals,
    )


# --- writing -----------------------------------------------------------------------------------


def frame(header: Mapping[str, Any], arrays: Iterable[tuple[str, np.ndarray]] = ()) -> bytes:
    """One frame: the header (plus the arrays' descriptions) and the arrays' bytes."""
    listed = [(name, np.ascontiguousarray(a)) for name, a in arrays]
    body = dict(header)
    body["arrays"] = [{"name": n, "dtype": a.dtype.str, "shape": list(a.shape)} for n, a in listed]
    text = json.dumps(body, separators=(",", ":")).encode()
    return b"".join([_LENGTH.pack(len(text)), text, *(a.tobytes() for _, a in listed)])


def block_frame(block: ItemBlock, cursor: str) -> bytes:
    """The ``items`` frame of a block."""
    arrays: list[tuple[str, np.ndarray]] = [
        ("ref", block.refs),
        ("kind", block.kind_codes),
        ("trust", block.trust_codes),
        ("state", block.state_codes),
    ]
    for name, columns in block.signals.items():
        arrays.extend((f"{name}.{c}", getattr(columns, c)) for c in SIGNAL_COLUMNS)
        if columns.value_length is not None:
            arrays.append((f"{name}.value_length", columns.value_length))
    header: dict[str, Any] = {
        "kind": "items",
        "count": len(block),
        "cursor": cursor,
        "vocab": {"kind": block.kind, "trust": block.trust, "state": block.state},
        "types": list(block.signals),
    }
    packed = [name for name, columns in block.signals.items() if columns.packed]
    if packed:  # absent otherwise: the frame a reader written before packing reads
        header["packed"] = packed
    return frame(header, arrays)


def encode_stream(
    start: Mapping[str, Any], blocks: Iterable[tuple[ItemBlock, str]], events_cursor: str
) -> Iterator[bytes]:
    """The body: ``MAGIC`` and the ``start`` frame (its fields), the blocks, the ``end`` frame."""
    yield MAGIC + frame({"kind": "start", **start})
    for block, cursor in blocks:
        yield block_frame(block, cursor)
    yield frame({"kind": "end", "cursor": events_cursor})


# --- reading -----------------------------------------------------------------------------------


class CutShort(InvalidInput):
    """The body stopped inside a frame (the connection was cut): resume from the last one."""


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if data is None or len(data) != size:
        raise CutShort("the feed's snapshot stream stopped inside a frame; sync again to resume")
    return data


def read_frames(stream: BinaryIO) -> Iterator[tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """Each frame of a body as ``(header, arrays by name)``; ``invalid_input`` if it is not
    one (``CutShort`` if it stops inside a frame)."""
    if stream.read(len(MAGIC)) != MAGIC:
        raise InvalidInput("the server's answer is not a hashwall feed snapshot stream")
    while True:
        prefix = stream.read(_LENGTH.size)
        if not prefix:
            return
        if len(prefix) != _LENGTH.size:
            raise CutShort("the feed's snapshot stream stopped inside a frame; sync again")
        (size,) = _LENGTH.unpack(prefix)
        if size > MAX_HEADER:
            raise InvalidInput("a frame of the feed's snapshot stream is malformed")
        try:
            header = json.loads(_read_exactly(stream, size))
            described = header.pop("arrays")
            arrays = {}
            total = 0
            for spec in described:
                dtype = np.dtype(str(spec["dtype"]))
                shape = tuple(int(n) for n in spec["shape"])
                if dtype.kind not in _ALLOWED_KINDS or dtype.hasobject or min(shape, default=0) < 0:
                    raise ValueError("array type")
                nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                total += nbytes
                if total > MAX_FRAME_BYTES:
                    raise ValueError("frame size")
                raw = _read_exactly(stream, nbytes)
                arrays[str(spec["name"])] = np.frombuffer(raw, dtype=dtype).reshape(shape)
        except CutShort:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidInput(
                f"a frame of the feed's snapshot stream is malformed ({exc})"
            ) from None
        yield header, arrays


def block_of(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> ItemBlock:
    """The block an ``items`` frame holds (``invalid_input`` if its arrays disagree)."""
    try:
        count = int(header["count"])
        vocab = header["vocab"]
        signals = {}
        packed = {str(name) for name in header.get("packed", ())}
        for name in header["types"]:
            held = {c: arrays[f"{name}.{c}"] for c in SIGNAL_COLUMNS}
            columns = SignalColumns(
                owner=held["owner"],
                value=held["value"],
                quality=held["quality"],
                frame_number=held["frame_number"],
                frame_timestamp=held["frame_timestamp"],
                value_length=arrays[f"{name}.value_length"] if name in packed else None,
            )
            rows = columns.owner.size
            per_row = [c for c in SIGNAL_COLUMNS if c != "value" or not columns.packed]
            if any(getattr(columns, c).shape[:1] != (rows,) for c in per_row) or (
                rows and not 0 <= int(columns.owner.min()) <= int(columns.owner.max()) < count
            ):
                raise ValueError(f"{name} rows")
            if columns.value_length is not None and not _packed_ok(columns, rows):
                raise ValueError(f"{name} values")
            signals[str(name)] = columns
        block = ItemBlock(
            refs=arrays["ref"],
            kind=[str(v) for v in vocab["kind"]],
            trust=[str(v) for v in vocab["trust"]],
            state=[str(v) for v in vocab["state"]],
            kind_codes=arrays["kind"],
            trust_codes=arrays["trust"],
            state_codes=arrays["state"],
            signals=signals,
        )
        for codes, names in (
            (block.kind_codes, block.kind),
            (block.trust_codes, block.trust),
            (block.state_codes, block.state),
        ):
            if codes.shape != (count,) or (count and int(codes.max()) >= len(names)):
                raise ValueError("item columns")
        if block.refs.shape != (count,):
            raise ValueError("refs")
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"a block of the feed's snapshot stream is malformed ({exc})") from None
    return block


def _packed_ok(columns: SignalColumns, rows: int) -> bool:
    """A packed type's columns agree: a length per row, as many bytes as they add up to."""
    length, value = columns.value_length, columns.value
    assert length is not None
    return (
        length.shape == (rows,)
        and length.dtype.kind == "u"
        and value.dtype == np.uint8
        and value.ndim == 1
        and int(length.sum(dtype=np.int64)) == value.size
    )
