"""The compact local copy of a platform's feed, kept by ``hashwall feed sync --dir DIR``.

A copy of a bank of millions of items must not be one JSON document read and written whole at
every sync. The copy is a folder::

    meta.json                  format, server, platform, policy, cursor, head_seq, what is where
    base-<g>/items/            one row per item, in the order they came, a file per column:
                               ref.npy (S32), kind.npy, trust.npy, state.npy (u1 codes of
                               meta's ``vocab``), key.npy (a 64-bit key of the ref)
    base-<g>/refkeys.npy       the keys, sorted, and base-<g>/refrows.npy the row of each:
                               finding an item by ref is a binary search
    base-<g>/signals/<type>/   per signal type: values.npy (a distance type's (n, 32) uint8
                               codes, what the index loads as is; a packed type's bytes, u1,
                               one value after another, with lengths.npy the bytes of each;
                               else the text, S<w>), owners.npy (the item row), quality.npy,
                               frame_number.npy, frame_timestamp.npy (-1 / NaN: none)
    changes-<g>.log            what changed since the base, one JSON line per change, applied on
                               load; folded into a new base when it grows (:meth:`FeedCopy.compact`)

Every file is ``.npy`` (never pickled) or JSON, written with mode 0600 (signals are sensitive).
The first sync appends the feed's binary snapshot blocks to the base files as they come
(``meta.json`` records the rows that count, at each checkpoint: an interrupted sync resumes
from there); a re-sync appends its changes to the log and replaces ``meta.json`` (atomically)
with the new cursor and the log's length, so a change of a thousand items writes a thousand
lines, not the bank. A withdrawn or deleted item's values leave the copy with its ``del`` line
for the matcher and the export at once, and from the files at the next compaction (at the
latest when the log holds ``compact_after`` changes).

:class:`~hashwall.service.feed_copy_view.CopyView` (``service/feed_copy_view.py``) is the live set
read back: the base (memory-mapped) with the log applied. How a type's values are stored in
its files is in ``service/feed_values.py``.

The format is ``hashwall-feed-copy/3`` since packed values (a geometric type's keypoint sets,
``meta.json``'s ``types`` saying ``bytes``) came: a version before them cannot read such a copy
and says so. A ``/2`` copy is read as it is (it holds no packed type) and saved as ``/3``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from hashwall.domain import LIVE_ITEM_STATES
from hashwall.errors import InvalidInput
from hashwall.service.feed_blocks import ItemBlock
from hashwall.service.feed_copy_files import Appender, private, sync_dir, write_json_atomically
from hashwall.service.feed_copy_view import (
    ITEM_COLUMNS,
    CopyView,
    Packed,
    Part,
    TypeRows,
    block_of_items,
    fresh_vocab,
    item_columns,
    load_column,
    part_of_block,
    ref_keys,
)
from hashwall.service.feed_values import (
    COLUMN_DTYPES,
    stored_form,
    take_rows,
    values_columns,
    values_files,
)

FORMAT: Final = "hashwall-feed-copy/3"
#: The formats this version reads (``/2``: before packed values; the same files otherwise).
READABLE_FORMATS: Final = frozenset({"hashwall-feed-copy/2", FORMAT})
META_FILE: Final = "meta.json"
_ITEM_ROWS: Final = "items/ref.npy"
#: Reads of a copy's live set that find its files replaced by a compaction, at most, before
#: :meth:`FeedCopy.read_view` gives up.
READ_ATTEMPTS: Final = 5
#: Fold the log into a new base when it holds more changes than this (or than 2% of the base).
COMPACT_AFTER: Final = 50_000
_TYPE_NAME: Final = re.compile(r"[a-z0-9_]{1,32}")
_CHUNK: Final = 1 << 20

# --- the copy ----------------------------------------------------------------------------------


class FeedCopy:
    """A copy folder: read it (:meth:`view`), build its base from snapshot blocks, append
    changes to its log, compact. One writer at a time (``hashwall feed sync``)."""

    def __init__(self, directory: Path, meta: dict[str, Any]) -> None:
        self.directory = directory
        self.meta = meta
        self._writers: dict[str, Appender] = {}

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def read_view(
        cls, directory: Path, *, attempts: int = READ_ATTEMPTS
    ) -> tuple[FeedCopy, CopyView]:
        """The copy in ``directory`` and its live set, read while a sync may be writing it.

        A sync that compacts writes the next base generation, replaces ``meta.json``, then
        removes the old generation's files: a reader that read the old ``meta.json`` just
        before may find its files gone. It then reads again from the new ``meta.json`` (up to
        ``attempts`` times; an unreadable file with ``meta.json`` unchanged is an error as
        ever).
        Files already open (memory-mapped) stay readable after their removal.
        """
        for attempt in range(attempts):
            copy = cls.open(directory)
            try:
                return copy, copy.view()
            except (OSError, InvalidInput):  # a file missing: "cannot read ..." (load_column)
                moved = cls.open(directory).generation != copy.generation
                if not moved or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    @classmethod
    def open(cls, directory: Path, server: str | None = None) -> FeedCopy:
        """The copy in ``directory`` (a new empty one if there is none; with ``server``, an
        empty one too if it holds another server's). ``invalid_input`` if the folder holds
        something else."""
        directory = Path(directory)
        path = directory / META_FILE
        if not path.exists():
            if server is None:
                raise InvalidInput(f"{directory} holds no feed copy: run `hashwall feed sync`")
            return cls(directory, cls._fresh_meta(server))
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(
                f"cannot read {path}: {exc}; move the folder away to sync again"
            ) from None
        if not isinstance(meta, dict) or meta.get("format") not in READABLE_FORMATS:
            raise InvalidInput(
                f"{directory} is not a hashwall feed copy (format {FORMAT}); move it away"
            )
        copy = cls(directory, meta)
        if server is not None and meta.get("server") != server:
            return cls(directory, cls._fresh_meta(server, generation=copy.generation))
        return copy

    @staticmethod
    def _fresh_meta(server: str, generation: int = 0) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "server": server,
            "platform": None,
            "policy": None,
            "cursor": None,
            "head_seq": 0,
            "synced_at": None,
            "generation": generation,
            "building": False,
            "rows": {},
            "types": {},
            "vocab": fresh_vocab(),
            "log_bytes": 0,
            "log_records": 0,
        }

    @property
    def generation(self) -> int:
        return int(self.meta.get("generation", 0))

    @property
    def cursor(self) -> str | None:
        cursor = self.meta.get("cursor")
        return cursor if isinstance(cursor, str) else None

    @property
    def base(self) -> Path:
        return self.directory / f"base-{self.generation}"

    @property
    def log_path(self) -> Path:
        return self.directory / f"changes-{self.generation}.log"

    def save_meta(self) -> None:
        """Replace ``meta.json`` (atomically): what counts from now on."""
        self.meta["synced_at"] = datetime.now(UTC).isoformat()
        self.meta["format"] = FORMAT  # a /2 copy read as it is is saved as what it now is
        write_json_atomically(self.directory / META_FILE, self.meta)

    def _type_dir(self, name: str, base: Path | None = None) -> Path:
        if _TYPE_NAME.fullmatch(name) is None:
            raise InvalidInput(f"the feed sent a signal type this copy cannot name: {name!r}")
        return (base or self.base) / "signals" / name

    # --- the first sync: the base from snapshot blocks --------------------------------------

    def begin_snapshot(self, platform: str, policy: Mapping[str, Any]) -> None:
        """Start a new base (the old generation's files go at the next :meth:`save_meta`)."""
        self.close()
        old = self.generation
        server = str(self.meta["server"])
        self.meta = self._fresh_meta(server, generation=old + 1)
        self.meta.update(platform=platform, policy=dict(policy), building=True)
        shutil.rmtree(self.base, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)
        self.base.mkdir(parents=True, mode=0o700)

    def _writer(self, key: str, dtype: np.dtype, tail: tuple[int, ...] = ()) -> Appender:
        writer = self._writers.get(key)
        if writer is None:
            rows = int(self.meta["rows"].get(key, 0))
            writer = Appender(self.base / key, dtype, tail, rows)
            self._writers[key] = writer
        return writer

    def add_block(self, block: ItemBlock) -> None:
        """Append a snapshot block to the base being built."""
        if not self.meta.get("building"):
            raise InvalidInput("no snapshot is being built in this copy")
        vocab = self.meta["vocab"]
        part = part_of_block(block, vocab)
        first = self._writer(_ITEM_ROWS, ITEM_COLUMNS["ref"]).rows
        for name, (owners, values, quality, number, stamp) in part.signals.items():
            folder = self._type_dir(name).relative_to(self.base)
            stored = self.meta["types"].setdefault(name, stored_form(values))
            if stored != stored_form(values):
                raise InvalidInput(f"the feed sent {name} values of another form; sync again")
            for column, data in values_columns(values):
                dtype = COLUMN_DTYPES.get(column, data.dtype)
                self._writer(f"{folder}/{column}.npy", dtype, data.shape[1:]).append(data)
            self._writer(f"{folder}/owners.npy", COLUMN_DTYPES["owners"]).append(owners + first)
            for column, data in (("quality", quality), ("frame_number", number),
                                 ("frame_timestamp", stamp)):  # fmt: skip
                self._writer(f"{folder}/{column}.npy", COLUMN_DTYPES[column]).append(data)
        for column, data in item_columns(part, slice(None)):
            self._writer(f"items/{column}.npy", ITEM_COLUMNS[column]).append(data)

    def checkpoint(self, cursor: str, head_seq: int) -> None:
        """Make what was appended count, with the cursor to resume from."""
        for key, writer in self._writers.items():
            self.meta["rows"][key] = writer.commit()
        self.meta["cursor"] = cursor
        self.meta["head_seq"] = head_seq
        self.save_meta()

    def finish_snapshot(self, cursor: str, head_seq: int) -> None:
        """The base is whole: write its ref keys and count it."""
        for column, dtype in ITEM_COLUMNS.items():
            self._writer(f"items/{column}.npy", dtype)
        for name, stored in self.meta["types"].items():  # every type has all its columns
            folder = self._type_dir(name).relative_to(self.base)
            for column, dtype, tail in values_files(stored):
                self._writer(f"{folder}/{column}.npy", dtype, tail)
        self.checkpoint(cursor, head_seq)
        self.close()
        self._write_ref_index(self.base)
        self.meta["building"] = False
        self.meta["base_rows"] = int(self.meta["rows"].get(_ITEM_ROWS, 0))
        self.meta["rows"] = {}
        self.save_meta()
        self._remove_other_generations()

    @staticmethod
    def _write_ref_index(base: Path) -> None:
        """The sorted keys of the refs and their rows (from ``items/key.npy``, read whole:
        8 bytes an item, and as much again for the order)."""
        keys = load_column(base / "items" / "key.npy", mmap=False)
        order = np.argsort(keys, kind="stable")
        keys.sort(kind="stable")
        for name, data in (("refkeys.npy", keys), ("refrows.npy", order)):
            np.save(base / name, data, allow_pickle=False)
            private(base / name)

    def _remove_other_generations(self) -> None:
        keep = {self.base.name, self.log_path.name, META_FILE}
        for entry in self.directory.iterdir():
            if entry.name in keep or not re.fullmatch(r"(base-\d+|changes-\d+\.log)", entry.name):
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    # --- re-syncs: the log -------------------------------------------------------------------

    def append_changes(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append changes (``{"op": "put"|"del"|"set", "item": ref, ...}``) to the log; they
        count from the next :meth:`save_meta`."""
        if not records:
            return
        with open(self.log_path, "ab") as log:
            if log.tell() == 0:
                private(self.log_path)
            log.truncate(int(self.meta["log_bytes"]))
            log.seek(0, os.SEEK_END)
            log.write(b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n"
                               for r in records))  # fmt: skip
            log.flush()
            os.fsync(log.fileno())
            self.meta["log_bytes"] = log.tell()
        self.meta["log_records"] = int(self.meta["log_records"]) + len(records)

    def erase(self, records: Sequence[Mapping[str, Any]]) -> int:
        """Overwrite in the files the values of the items these changes remove or replace:
        their rows of the base (zeros, in place) and their earlier ``put`` lines in the log.
        The log's ``del`` lines already take them out of the live set; this takes the values
        off the disk. The number of values erased."""
        gone = {str(r["item"]) for r in records if r.get("op") in ("put", "del")}
        if not gone or self.meta.get("building"):
            return 0
        erased = self._erase_base(sorted(gone))
        deleted = {str(r["item"]) for r in records if r.get("op") == "del"}
        return erased + self._erase_log(deleted)

    def _erase_base(self, refs: list[str]) -> int:
        rows = [r for r in self._rows_of(load_column(self.base / _ITEM_ROWS), refs) if r >= 0]
        if not rows:
            return 0
        erased = 0
        for name, stored in self.meta.get("types", {}).items():
            folder = self._type_dir(name)
            owners = load_column(folder / "owners.npy")  # non-decreasing: values come in item order
            wanted = np.asarray(rows, dtype=owners.dtype)  # (the same dtype: no cast of owners)
            lo = np.searchsorted(owners, wanted, "left").tolist()
            hi = np.searchsorted(owners, wanted, "right").tolist()
            spans = [(a, b) for a, b in zip(lo, hi, strict=True) if b > a]
            if not spans:
                continue
            if stored == "bytes":  # a value's rows are its bytes: from where it starts to its end
                starts = np.zeros(int(owners.size) + 1, dtype=np.int64)
                np.cumsum(load_column(folder / "lengths.npy"), out=starts[1:])
                spans_of = {"values": [(int(starts[a]), int(starts[b])) for a, b in spans]}
            else:
                spans_of = {"values": spans}
            spans_of["quality"] = spans
            for column, where in spans_of.items():
                data = np.load(folder / f"{column}.npy", mmap_mode="r+", allow_pickle=False)
                for a, b in where:
                    data[a:b] = 0 if column == "values" else -1
                data.flush()
                del data
            erased += sum(b - a for a, b in spans)
        return erased

    def _erase_log(self, refs: set[str]) -> int:
        records = self.log_records()
        hits = [r for r in records if r.get("op") == "put" and r.get("item") in refs
                and r.get("signals")]  # fmt: skip
        if not hits:
            return 0
        for record in hits:
            record["signals"] = []
        fd, tmp = tempfile.mkstemp(prefix=".changes.", suffix=".tmp", dir=self.directory)
        with os.fdopen(fd, "wb") as out:
            out.write(b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n"
                               for r in records))  # fmt: skip
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
        private(Path(tmp))
        os.replace(tmp, self.log_path)
        sync_dir(self.directory)
        self.meta["log_bytes"] = size
        self.save_meta()
        return len(hits)

    def log_records(self) -> list[dict[str, Any]]:
        """The changes since the base, in order (the committed part of the log)."""
        size = int(self.meta.get("log_bytes", 0))
        if not size:
            return []
        try:
            with open(self.log_path, "rb") as log:
                data = log.read(size)
        except OSError as exc:
            raise InvalidInput(f"cannot read {self.log_path}: {exc}") from None
        if len(data) != size:
            raise InvalidInput(f"{self.log_path} is shorter than its copy says; sync again")
        try:
            return [json.loads(line) for line in data.splitlines()]
        except ValueError:
            raise InvalidInput(f"{self.log_path} is damaged; move the folder away") from None

    def needs_compaction(self, compact_after: int = COMPACT_AFTER) -> bool:
        records = int(self.meta.get("log_records", 0))
        base_rows = int(self.meta.get("base_rows", 0))
        return records > min(compact_after, max(1000, base_rows // 50))

    # --- reading -----------------------------------------------------------------------------

    def view(self) -> CopyView:
        """The live set: the base (memory-mapped) with the log applied."""
        if self.meta.get("building"):
            raise InvalidInput(
                f"the first sync into {self.directory} has not finished: run `hashwall feed "
                "sync` again to complete it"
            )
        if self.cursor is None:
            raise InvalidInput(
                f"{self.directory} holds no synced copy yet: run `hashwall feed sync`"
            )
        vocab: dict[str, list[str]] = {k: list(v) for k, v in self.meta["vocab"].items()}
        base = self._base_part(vocab)
        records = self.log_records()
        added: dict[str, dict[str, Any]] = {}
        state = base.state.copy()
        trust = base.trust.copy()
        live = base.live.copy()
        rows = self._rows_of(base.refs, [str(r.get("item")) for r in records])
        for record, row in zip(records, rows, strict=True):
            ref, op = str(record.get("item")), record.get("op")
            if op in ("put", "del"):
                if row >= 0:
                    live[row] = False
                added.pop(ref, None)
                if op == "put":
                    added[ref] = {k: record.get(k) for k in ("kind", "trust", "state", "signals")}
            elif op == "set":
                target = added.get(ref)
                for what in ("state", "trust"):
                    if what not in record:
                        continue
                    if target is not None:
                        target[what] = record[what]
                    elif row >= 0 and live[row]:
                        codes = state if what == "state" else trust
                        if record[what] not in vocab[what]:
                            vocab[what].append(str(record[what]))
                        codes[row] = vocab[what].index(record[what])
            else:
                raise InvalidInput(f"{self.log_path} holds a change this version cannot apply")
        live_codes = [vocab["state"].index(s) for s in LIVE_ITEM_STATES if s in vocab["state"]]
        live &= np.isin(state, live_codes)
        parts = [Part(base.refs, base.kind, trust, state, live, base.signals)]
        if added:
            parts.append(part_of_block(block_of_items(added.items()), vocab))
        return CopyView(parts, vocab, dict(self.meta.get("policy") or {}), dict(self.meta))

    def _base_part(self, vocab: dict[str, list[str]]) -> Part:
        base = self.base
        items = {column: load_column(base / "items" / f"{column}.npy") for column in ITEM_COLUMNS}
        n = int(items["ref"].shape[0])
        for column, data in items.items():
            if data.dtype != ITEM_COLUMNS[column] or data.shape != (n,):
                raise InvalidInput(f"{base / 'items'} is not a copy's item table; sync again")
        signals: dict[str, TypeRows] = {}
        for name, stored in self.meta.get("types", {}).items():
            folder = self._type_dir(name)
            files = {column: load_column(folder / f"{column}.npy") for column, _, _ in
                     values_files(stored)}  # fmt: skip
            columns = [load_column(folder / "owners.npy"), files.get("lengths", files["values"]),
                       *(load_column(folder / f"{c}.npy") for c in ("quality", "frame_number",
                                                            "frame_timestamp"))]  # fmt: skip
            count = columns[0].shape[0]
            shape_ok = all(c.shape[:1] == (count,) for c in columns) and all(
                files[column].shape[1:] == tail for column, _, tail in values_files(stored)
            )
            if not shape_ok or (
                count and not 0 <= int(columns[0].min()) <= int(columns[0].max()) < n
            ):
                raise InvalidInput(f"{folder} does not match the copy's items; sync again")
            values = (
                Packed.of(files["values"], files["lengths"]) if stored == "bytes"
                else files["values"]
            )  # fmt: skip
            signals[name] = TypeRows(columns[0], values, *columns[2:])
        live_codes = [vocab["state"].index(s) for s in LIVE_ITEM_STATES if s in vocab["state"]]
        return Part(
            refs=items["ref"],
            kind=items["kind"],
            trust=items["trust"],
            state=items["state"],
            live=np.isin(items["state"], live_codes),
            signals=signals,
        )

    def _rows_of(self, base_refs: np.ndarray, refs: Sequence[str]) -> list[int]:
        """The base row of each ref (-1: not in the base)."""
        if not refs or base_refs.size == 0:
            return [-1] * len(refs)
        keys = load_column(self.base / "refkeys.npy")
        order = load_column(self.base / "refrows.npy")
        wanted = np.array([r.encode()[:32] for r in refs], dtype="S32")
        want_keys = ref_keys(wanted)
        lo = np.searchsorted(keys, want_keys, side="left")
        hi = np.searchsorted(keys, want_keys, side="right")
        found = []
        for ref, a, b in zip(wanted.tolist(), lo.tolist(), hi.tolist(), strict=True):
            row = next((int(order[i]) for i in range(a, b) if base_refs[int(order[i])] == ref), -1)
            found.append(row)
        return found

    # --- compaction --------------------------------------------------------------------------

    def compact(self) -> None:
        """Fold the log into a new base generation (the live items only), in chunks."""
        view = self.view()
        base, added = view.parts[0], view.parts[1] if len(view.parts) > 1 else None
        new_gen = self.generation + 1
        target = self.directory / f"base-{new_gen}"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(mode=0o700)
        n = int(base.refs.size)
        gone = np.flatnonzero(~base.live)
        kept = n - int(gone.size)
        writers: list[Appender] = []

        def writer(key: str, dtype: np.dtype, tail: tuple[int, ...] = ()) -> Appender:
            out = Appender(target / key, dtype, tail)
            writers.append(out)
            return out

        items_out = {c: writer(f"items/{c}.npy", dtype) for c, dtype in ITEM_COLUMNS.items()}
        parts = [(base, 0)] + ([(added, kept)] if added is not None else [])
        for part, _ in parts:
            for lo in range(0, int(part.refs.size), _CHUNK):
                keep = np.flatnonzero(part.live[lo : lo + _CHUNK]) + lo
                for column, data in item_columns(part, keep):
                    items_out[column].append(data)
        types: dict[str, str] = {}
        for name in sorted({t for part, _ in parts for t in part.signals}):
            folder = self._type_dir(name, target).relative_to(target)
            outs: dict[str, Appender] = {}
            for part, first in parts:
                if name not in part.signals:
                    continue
                owners, values, *rest = part.signals[name]
                stored = types.setdefault(name, stored_form(values))
                if stored != stored_form(values):
                    raise InvalidInput(f"{name} values of two forms in {self.directory}")
                if not outs:
                    metadata = ("owners", "quality", "frame_number", "frame_timestamp")
                    columns = [*values_files(stored),
                               *((c, COLUMN_DTYPES[c], ()) for c in metadata)]  # fmt: skip
                    outs = {c: writer(f"{folder}/{c}.npy", dtype, tail)
                            for c, dtype, tail in columns}  # fmt: skip
                live_rows = np.flatnonzero(part.live)
                for lo in range(0, int(owners.size), _CHUNK):
                    own = np.asarray(owners[lo : lo + _CHUNK])
                    keep = np.flatnonzero(part.live[own])
                    # the item's new row: its rank among the part's live rows, after earlier parts
                    outs["owners"].append(np.searchsorted(live_rows, own[keep]) + first)
                    for column, data in values_columns(take_rows(values, keep + lo)):
                        outs[column].append(data)
                    for column, data in zip(("quality", "frame_number", "frame_timestamp"),
                                            rest, strict=True):  # fmt: skip
                        outs[column].append(np.asarray(data[lo : lo + _CHUNK])[keep])
        for out in writers:
            out.commit()
            out.close()
        self._write_ref_index(target)
        self.meta.update(
            generation=new_gen,
            types=types,
            vocab=view.vocab,
            log_bytes=0,
            log_records=0,
            base_rows=items_out["ref"].rows,
            rows={},
            building=False,
        )
        self.save_meta()
        self._remove_other_generations()


def write_base(copy: FeedCopy, items: Mapping[str, Mapping[str, Any]], cursor: str,
               head_seq: int) -> None:  # fmt: skip
    """A base made of items in the JSON copy's form (a migrated ``bank.json``)."""
    copy.add_block(block_of_items(items.items()))
    copy.checkpoint(cursor, head_seq)
