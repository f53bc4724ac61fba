"""PDQ: the perceptual hash of an image, its eight orientations, and the reference hasher.

Steps follow the PDQ paper (luminance, Jarosz filter, 64x64 decimation, 16x16 DCT, median
threshold, quality). Reference mode runs the ``pdqhash`` C++ library on full-resolution pixels.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Self

import numpy as np
import numpy.typing as npt
import pdqhash

from hashwall.errors import InvalidHash
from hashwall.hashing.codes import Hash256

# PDQ sets a bit where a DCT coefficient exceeds the median of the 256 coefficients, so every
# hash of an image with any texture has 128 bits set; measured on the 1,264 reference and
# photo-corpus images, every image of quality >= 50 gave exactly 128, and only two blank
# (quality 0) images fell outside, at 60. Hashes from outside with a population count outside
# this band cannot come from a real image and are refused.
POPCOUNT_MIN = 112
POPCOUNT_MAX = 144

MIN_QUALITY = 50  # below this a PDQ hash is too featureless to match on


class Orientation(enum.StrEnum):
    """The eight dihedral orientations, in the order of ``pdqhash.compute_dihedral``."""

    ORIGINAL = "original"
    ROTATE90 = "rotate90"
    ROTATE180 = "rotate180"
    ROTATE270 = "rotate270"
    FLIP_X = "flip_x"
    FLIP_Y = "flip_y"
    FLIP_PLUS1 = "flip_plus1"  # transpose: mirror over the main diagonal
    FLIP_MINUS1 = "flip_minus1"  # transverse: mirror over the anti-diagonal


ORIENTATIONS: tuple[Orientation, ...] = tuple(Orientation)


@dataclass(frozen=True, slots=True, repr=False)
class PdqHash(Hash256):
    """A PDQ hash: 256 bits, canonical form 64 lowercase hex digits."""

    @classmethod
    def parse(cls, text: str) -> Self:
        """Strictly parse a PDQ hash from outside: 64 hex digits that a real image can produce."""
        h = cls.from_hex(text)
        check_popcount(h.popcount())
        return h


def check_popcount(count: int) -> None:
    """``InvalidHash`` unless ``count`` set bits are as many as a real image's PDQ hash has."""
    if not POPCOUNT_MIN <= count <= POPCOUNT_MAX:
        raise InvalidHash(
            f"a PDQ hash has about half of its 256 bits set (between {POPCOUNT_MIN} and "
            f"{POPCOUNT_MAX}); this one has {count}, which no real image produces"
        )


@dataclass(frozen=True, slots=True)
class PdqResult:
    """A PDQ hash, its quality (0-100), and optionally the hashes of all eight orientations."""

    hash: PdqHash
    quality: int
    orientations: tuple[PdqHash, ...] | None = None

    @property
    def usable(self) -> bool:
        """True when quality is high enough to bank or match on."""
        return self.quality >= MIN_QUALITY


def _from_vector(vec: npt.NDArray[np.integer]) -> PdqHash:
    return PdqHash.from_bits(vec)


def pdq_reference(rgb: npt.NDArray[np.uint8], *, dihedral: bool = False) -> PdqResult:
    """PDQ of an ``(h, w, 3)`` uint8 RGB array with the reference C++ library, full resolution."""
    pixels = np.ascontiguousarray(rgb, dtype=np.uint8)
    if dihedral:
        vectors, quality = pdqhash.compute_dihedral(pixels)
        hashes = tuple(_from_vector(v) for v in vectors)
        return PdqResult(hash=hashes[0], quality=int(quality), orientations=hashes)
    vector, quality = pdqhash.compute(pixels)
    return PdqResult(hash=_from_vector(vector), quality=int(quality))
