"""Fast mode for PDQ: the same algorithm, computed only where the hash looks.

PDQ (luminance, Jarosz filter, decimation to 64 x 64, 16 x 16 DCT, median threshold, quality)
spends nearly all of its time filtering every pixel of the full-resolution image, although only
64 x 64 filtered values are ever read. Fast mode makes two changes, and nothing else:

1. **Reduced decode.** JPEGs are decoded at 1/2, 1/4 or 1/8 scale in the DCT domain (libjpeg's
   scaled IDCT, ``Image.draft``) so that the shorter side stays at least
   :data:`FAST_DRAFT_MIN_SIDE` pixels; the caller does this (``decode_image(...,
   draft_min_side=FAST_DRAFT_MIN_SIDE)``). This is the only approximation.
2. **Sampled Jarosz filter.** Two passes of box filters along X and Y are one separable linear
   map (a tent, with PDQ's shrinking windows at the borders). :func:`pdq_fast` evaluates that map
   only at the 64 x 64 decimation points, with luminance computed on the fly: the same numbers
   as the reference in real arithmetic, within float rounding in practice.

:func:`pdq_full` is the whole reference pipeline re-implemented operation by operation
(full-image float32 box filters), reproducing ``pdqhash`` on the same pixels; it exists to
prove the kernels against the C++ and to hash in environments without the C++ extension.

Kernels are numba-compiled on first use (``cache=True``: a few seconds once per machine, then
well under a second per process to load); importing this module compiles nothing.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from hashwall.hashing.pdq import PdqHash, PdqResult

if TYPE_CHECKING:
    from types import ModuleType

# Shorter side of the reduced JPEG decode. PDQ looks at a 64 x 64 image through a tent of
# half-width size/64; 1/2 and 1/4 scale decodes that keep >= 128 px on the short side stay
# within a few bits of full resolution on the photo corpus (see docs/benchmarks.md), while
# going further (1/8, ~80 px) starts to lose detail the 64 x 64 grid still sees.
FAST_DRAFT_MIN_SIDE: int = 192

_MIN_HASHABLE_DIM = 5


@functools.cache
def _kernels() -> ModuleType:
    from hashwall.hashing import _pdq_kernels

    return _pdq_kernels


@functools.cache
def _dct_matrix() -> npt.NDArray[np.float32]:
    matrix: npt.NDArray[np.float32] = _kernels().dct_matrix_64()
    return matrix


@functools.lru_cache(maxsize=256)
def _tent(n_full: int, n_pixels: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    k = _kernels()
    if n_full == n_pixels:
        start, weights = k.tent_weights(n_full)
    else:
        start, weights = k.tent_weights_reduced(n_full, n_pixels)
    return start, weights


def _as_pixels(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) uint8 RGB array, got {arr.dtype} {arr.shape}")
    return arr


def _result(bits: npt.NDArray[np.uint8], quality: int, dihedral: bool) -> PdqResult:
    hashes = tuple(PdqHash.from_bits(row) for row in bits)
    return PdqResult(
        hash=hashes[0], quality=int(quality), orientations=hashes if dihedral else None
    )


def _empty(dihedral: bool) -> PdqResult:
    # The reference's answer for an image smaller than 5 x 5: all-zero hash(es), quality 0.
    zero = PdqHash(bytes(32))
    return PdqResult(hash=zero, quality=0, orientations=(zero,) * 8 if dihedral else None)


def _hash_from_64x64(buffer64x64: npt.NDArray[np.float32], dihedral: bool) -> PdqResult:
    bits: Any
    quality: Any
    bits, quality = _kernels().hash_bits(buffer64x64, _dct_matrix(), dihedral)
    return _result(bits, quality, dihedral)


def downsample_64x64(
    rgb: npt.NDArray[np.uint8], *, full_size: tuple[int, int] | None = None
) -> npt.NDArray[np.float32]:
    """The 64 x 64 luminance image PDQ hashes (luminance, Jarosz filter, decimation), computed
    only at the decimation points; see :func:`pdq_fast` for ``full_size``."""
    pixels = _as_pixels(rgb)
    h, w = pixels.shape[0], pixels.shape[1]
    full_h, full_w = full_size if full_size is not None else (h, w)
    if full_h < h or full_w < w:
        raise ValueError(f"full_size {full_size} is smaller than the pixels ({h}, {w})")
    row_start, row_w = _tent(full_h, h)
    col_start, col_w = _tent(full_w, w)
    out: npt.NDArray[np.float32] = _kernels().jarosz_decimate_sampled(
        pixels, row_start, row_w, col_start, col_w
    )
    return out


def pdq_fast(
    rgb: npt.NDArray[np.uint8],
    *,
    dihedral: bool = False,
    full_size: tuple[int, int] | None = None,
) -> PdqResult:
    """PDQ of an ``(h, w, 3)`` uint8 RGB array with the sampled Jarosz filter (fast mode).

    ``full_size`` is ``(height, width)`` of the full-resolution image when ``rgb`` was decoded
    reduced (``decode_image(..., draft_min_side=FAST_DRAFT_MIN_SIDE)`` gives it as
    ``(image.height, image.width)``): the filter then keeps the reference's geometry. Without
    it, ``rgb`` is taken as full resolution, where the result matches the reference within
    float rounding.
    """
    pixels = _as_pixels(rgb)
    full_h, full_w = full_size if full_size is not None else pixels.shape[:2]
    if min(full_h, full_w, pixels.shape[0], pixels.shape[1]) < _MIN_HASHABLE_DIM:
        return _empty(dihedral)
    return _hash_from_64x64(downsample_64x64(pixels, full_size=full_size), dihedral)


def pdq_full(rgb: npt.NDArray[np.uint8], *, dihedral: bool = False) -> PdqResult:
    """PDQ of an ``(h, w, 3)`` uint8 RGB array, re-implementing ``pdqhash`` step by step
    (full-image float32 Jarosz filter in the reference's order of operations)."""
    pixels = _as_pixels(rgb)
    if min(pixels.shape[0], pixels.shape[1]) < _MIN_HASHABLE_DIM:
        return _empty(dihedral)
    k = _kernels()
    luma = k.luminance(np.ascontiguousarray(pixels))
    return _hash_from_64x64(k.jarosz_decimate_reference(luma), dihedral)


def warm_up() -> None:
    """Compile (or load from cache) every kernel now, so no later call pays for it."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(70, 90, 3), dtype=np.uint8)
    pdq_fast(img, dihedral=True)
    pdq_full(img, dihedral=True)
