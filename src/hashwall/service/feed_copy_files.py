"""The files of a feed copy (``service/feed_copy.py``): readable by their owner only, JSON
replaced atomically, and ``.npy`` columns appended to in place (:class:`Appender`: the header's
row count is written at each commit, so an interrupted write leaves the rows that counted).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Final

import numpy as np

from hashwall.errors import InvalidInput

__all__ = ["Appender", "private", "sync_dir", "write_json_atomically"]

#: Bytes of an appended column's ``.npy`` header (fixed, so that it is rewritten in place).
_HEADER_BYTES: Final = 256


def private(path: Path) -> None:
    os.chmod(path, 0o600)


def write_json_atomically(path: Path, document: Any) -> None:
    """Replace ``path`` with ``document`` as JSON, all or nothing, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        private(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    sync_dir(path.parent)


def sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """A ``.npy`` (1.0) header of exactly ``_HEADER_BYTES`` bytes."""
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                 "shape": shape})  # fmt: skip
    room = _HEADER_BYTES - 10 - 1
    if len(text) > room:
        raise InvalidInput("an array of the copy is too wide for its header")
    body = (text + " " * (room - len(text)) + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


class Appender:
    """Rows appended to a ``.npy`` file whose header (the row count) is written at each
    :meth:`commit`; reopened with the rows that counted, the rest is cut off."""

    def __init__(self, path: Path, dtype: np.dtype, tail: tuple[int, ...] = (), rows: int = 0):
        self.path = path
        self.dtype = np.dtype(dtype)
        self.tail = tail
        self.row_bytes = self.dtype.itemsize * int(np.prod(tail, dtype=np.int64))
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists()
        self._file: BinaryIO = open(path, "w+b" if fresh else "r+b")  # noqa: SIM115
        if fresh:
            private(path)
        self.rows = rows
        self._file.truncate(_HEADER_BYTES + rows * self.row_bytes)
        self._file.seek(0, os.SEEK_END)
        self._write_header()

    def append(self, rows: np.ndarray) -> None:
        """Append rows (``(k, *tail)`` of the file's dtype)."""
        data = np.ascontiguousarray(rows, dtype=self.dtype)
        if data.shape[1:] != self.tail:
            raise InvalidInput(f"rows of shape {data.shape[1:]} for {self.path.name}")
        self._file.write(data.tobytes())
        self.rows += int(data.shape[0])

    def _write_header(self) -> None:
        end = self._file.tell()
        self._file.seek(0)
        self._file.write(_npy_header(self.dtype, (self.rows, *self.tail)))
        self._file.seek(end)

    def commit(self) -> int:
        """Write the header for the rows so far and flush them to disk; the row count."""
        self._write_header()
        self._file.flush()
        os.fsync(self._file.fileno())
        return self.rows

    def close(self) -> None:
        self._file.close()
