"""Shared data for the index tests: random codes and clustered (near-duplicate) codes."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def random_codes(rng: np.random.Generator, n: int) -> npt.NDArray[np.uint8]:
    """``n`` uniform 256-bit codes as ``(n, 32)`` uint8."""
    return rng.integers(0, 256, size=(n, 32), dtype=np.uint8)


def flip_bits(
    rng: np.random.Generator, codes: npt.NDArray[np.uint8], lo: int, hi: int
) -> npt.NDArray[np.uint8]:
    """Each row with a random number (lo..hi inclusive) of distinct bits flipped."""
    bits = np.unpackbits(codes, axis=1)
    for row in bits:
        k = int(rng.integers(lo, hi + 1))
        row[rng.choice(256, size=k, replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def clustered_codes(rng: np.random.Generator, n: int) -> npt.NDArray[np.uint8]:
    """Codes in clusters of near-duplicates (0-40 bits apart), like a real bank."""
    centers = random_codes(rng, max(1, n // 8))
    picks = centers[rng.integers(0, centers.shape[0], size=n)]
    return flip_bits(rng, picks, 0, 40)
