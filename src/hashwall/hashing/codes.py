"""256-bit binary codes as values: the currency of the hashing and index layers.

A :class:`Hash256` is 32 bytes. Its canonical text form is 64 lowercase hex digits, most
significant bit first (for PDQ this is the reference ``Hash256::format()`` order). Bulk work
(indexes, benchmarks) uses numpy arrays of shape ``(n, 32)`` ``uint8`` in the same byte order;
single values cross public APIs as :class:`Hash256`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Self

import numpy as np
import numpy.typing as npt

from hashwall.errors import InvalidHash

HASH_BYTES = 32
HASH_BITS = 256
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def canonical_hex64(text: str) -> str:
    """``text`` as 64 lowercase hex digits, or ``InvalidHash`` unless it is exactly 64 hex
    digits (either case; no prefix, spaces or separators). No object is made: the check path
    runs this on every orientation of every upload."""
    if not isinstance(text, str) or _HEX64.fullmatch(text) is None:
        raise InvalidHash(
            "a 256-bit hash must be exactly 64 hexadecimal digits, e.g. "
            "'f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22'"
        )
    return text.lower()


@dataclass(frozen=True, slots=True)
class Hash256:
    """An immutable 256-bit code."""

    value: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.value, bytes) or len(self.value) != HASH_BYTES:
            raise InvalidHash(f"a 256-bit code is {HASH_BYTES} bytes")

    @classmethod
    def from_hex(cls, text: str) -> Self:
        """Parse exactly 64 hex digits (either case; no prefix, spaces or separators)."""
        return cls(bytes.fromhex(canonical_hex64(text)))

    @classmethod
    def from_bits(cls, bits: npt.ArrayLike) -> Self:
        """From 256 0/1 values, most significant bit first (the ``pdqhash`` vector order)."""
        arr = np.asarray(bits)
        if arr.shape != (HASH_BITS,):
            raise InvalidHash(f"expected {HASH_BITS} bits, got shape {arr.shape}")
        return cls(np.packbits(arr.astype(np.uint8) & 1).tobytes())

    @property
    def hex(self) -> str:
        """Canonical form: 64 lowercase hex digits."""
        return self.value.hex()

    def bits(self) -> npt.NDArray[np.uint8]:
        """The 256 bits as a 0/1 array, most significant bit first."""
        return np.unpackbits(np.frombuffer(self.value, dtype=np.uint8))

    def popcount(self) -> int:
        """Number of set bits."""
        return int.from_bytes(self.value, "big").bit_count()

    def distance(self, other: Hash256) -> int:
        """Hamming distance: the number of bits that differ."""
        a = int.from_bytes(self.value, "big")
        b = int.from_bytes(other.value, "big")
        return (a ^ b).bit_count()

    def __str__(self) -> str:
        return self.hex

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self.hex}')"


def hashes_to_array(hashes: list[Hash256] | tuple[Hash256, ...]) -> npt.NDArray[np.uint8]:
    """Stack codes into an ``(n, 32)`` uint8 array (the bulk form indexes take)."""
    if not hashes:
        return np.zeros((0, HASH_BYTES), dtype=np.uint8)
    buf = b"".join(h.value for h in hashes)
    return np.frombuffer(buf, dtype=np.uint8).reshape(len(hashes), HASH_BYTES).copy()


def array_to_hashes(array: npt.NDArray[np.uint8]) -> list[Hash256]:
    """Split an ``(n, 32)`` uint8 array into codes."""
    if array.ndim != 2 or array.shape[1] != HASH_BYTES:
        raise InvalidHash(f"expected an (n, {HASH_BYTES}) array, got shape {array.shape}")
    return [Hash256(bytes(row)) for row in np.ascontiguousarray(array, dtype=np.uint8)]
