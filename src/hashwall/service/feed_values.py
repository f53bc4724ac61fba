"""A feed copy's signal values as files (``service/feed_copy.py``): how a type's values are
stored (a distance type's codes, a packed type's bytes with their lengths, text), the files and
columns that hold them, and the rows of them a compaction keeps.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from hashwall.hashing.codes import HASH_BYTES
from hashwall.service.feed_copy_view import TEXT_WIDTH, Packed

#: The dtypes of a type's columns (``signals/<type>/<column>.npy``) other than its values.
COLUMN_DTYPES: Final[dict[str, np.dtype[Any]]] = {
    "owners": np.dtype("<i4"),
    "quality": np.dtype("<i2"),
    "frame_number": np.dtype("<i4"),
    "frame_timestamp": np.dtype("<f8"),
    "lengths": np.dtype("<u4"),
}


def stored_form(values: np.ndarray | Packed) -> str:
    """How a type's values are stored: ``codes`` (a distance type's), ``bytes`` (packed),
    ``text``."""
    if isinstance(values, Packed):
        return "bytes"
    return "codes" if values.ndim == 2 else "text"


def values_files(stored: str) -> list[tuple[str, np.dtype[Any], tuple[int, ...]]]:
    """The files of a type's values stored so: name, dtype, the shape of a row."""
    if stored == "codes":
        return [("values", np.dtype(np.uint8), (HASH_BYTES,))]
    if stored == "bytes":
        return [("values", np.dtype(np.uint8), ()), ("lengths", COLUMN_DTYPES["lengths"], ())]
    return [("values", np.dtype(f"S{TEXT_WIDTH}"), ())]


def values_columns(values: np.ndarray | Packed) -> list[tuple[str, np.ndarray]]:
    """The files' columns of values: ``values``, and a packed type's ``lengths``."""
    if isinstance(values, Packed):
        return [("values", values.data), ("lengths", values.lengths)]
    return [("values", values)]


def take_rows(values: np.ndarray | Packed, rows: np.ndarray) -> np.ndarray | Packed:
    """The values of ``rows``."""
    return values.take(rows) if isinstance(values, Packed) else np.asarray(values[rows])
