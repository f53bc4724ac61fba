"""Numba kernels of PDQ, step by step as in the paper and the reference C++ (``pdqhashing.cpp``,
``downscaling.cpp``): luminance, Jarosz filter, decimation, quality, 16x16 DCT, median threshold,
dihedral transforms.

Imported lazily by :mod:`hashwall.hashing.fast` (compiling costs seconds; ``cache=True`` keeps
the machine code on disk after the first run). Nothing here is public: :mod:`~.fast` wraps it
with typed functions. ``fastmath`` stays off everywhere: the reference-order kernels reproduce
the C++ float32 arithmetic operation by operation, which fast-math reassociation would break.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

PDQ_NUM_JAROSZ_XY_PASSES = 2
_OUT = 64  # the decimated image is 64 x 64
_DCT = 16  # the hash keeps the 16 x 16 lowest non-DC DCT coefficients

_jit = nb.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")


def dct_matrix_64() -> np.ndarray:
    """The 16 x 64 DCT-II matrix of ``pdqhashing.cpp``, rounded to float32 the same way."""
    scale = float(np.float32(math.sqrt(2.0 / 64.0)))  # a float in the C++
    i = np.arange(1, _DCT + 1, dtype=np.float64)[:, None]
    j = np.arange(64, dtype=np.float64)[None, :]
    return (scale * np.cos((math.pi / 2.0 / 64.0) * i * (2.0 * j + 1.0))).astype(np.float32)


# ---------------------------------------------------------------- luminance


@_jit
def luminance(rgb):  # type: ignore[no-untyped-def]
    """Luminance (Y of YUV) as float32, computed in float64 then rounded, as ``pdqhash`` does
    (its Python binding evaluates ``r*0.299 + g*0.587 + b*0.114`` with numpy in float64)."""
    h, w = rgb.shape[0], rgb.shape[1]
    out = np.empty((h, w), dtype=np.float32)
    for i in range(h):
        for j in range(w):
            r = np.float64(rgb[i, j, 0])
            g = np.float64(rgb[i, j, 1])
            b = np.float64(rgb[i, j, 2])
            out[i, j] = np.float32(r * 0.299 + g * 0.587 + b * 0.114)
    return out


# ---------------------------------------------------------------- Jarosz filter (reference order)


@_jit
def _box_along_rows(src, dst, window):  # type: ignore[no-untyped-def]
    """``box1DFloat`` over every row: float32 running sum, the four phases of the reference."""
    h, n = src.shape
    half = (window + 2) // 2
    p1 = half - 1
    p2 = window - half + 1
    p3 = n - window
    p4 = half - 1
    for r in range(h):
        s = np.float32(0.0)
        cur = 0
        li = 0
        ri = 0
        oi = 0
        for _ in range(p1):
            s += src[r, ri]
            cur += 1
            ri += 1
        for _ in range(p2):
            s += src[r, ri]
            cur += 1
            dst[r, oi] = s / np.float32(cur)
            ri += 1
            oi += 1
        for _ in range(p3):
            s += src[r, ri]
            s -= src[r, li]
            dst[r, oi] = s / np.float32(cur)
            li += 1
            ri += 1
            oi += 1
        for _ in range(p4):
            s -= src[r, li]
            cur -= 1
            dst[r, oi] = s / np.float32(cur)
            li += 1
            oi += 1


@_jit
def _box_along_cols(src, dst, window):  # type: ignore[no-untyped-def]
    """``box1DFloat`` down every column; one running sum per column, swept row by row so the
    inner loop is contiguous (each column sees exactly the reference's sequence of operations)."""
    n, w = src.shape
    half = (window + 2) // 2
    p1 = half - 1
    p2 = window - half + 1
    p3 = n - window
    p4 = half - 1
    s = np.zeros(w, dtype=np.float32)
    cur = 0
    li = 0
    ri = 0
    oi = 0
    for _ in range(p1):
        for c in range(w):
            s[c] += src[ri, c]
        cur += 1
        ri += 1
    for _ in range(p2):
        cur += 1
        fc = np.float32(cur)
        for c in range(w):
            s[c] += src[ri, c]
            dst[oi, c] = s[c] / fc
        ri += 1
        oi += 1
    fc = np.float32(cur)
    for _ in range(p3):
        for c in range(w):
            s[c] += src[ri, c]
            s[c] -= src[li, c]
            dst[oi, c] = s[c] / fc
        li += 1
        ri += 1
        oi += 1
    for _ in range(p4):
        cur -= 1
        fc = np.float32(cur)
        for c in range(w):
            s[c] -= src[li, c]
            dst[oi, c] = s[c] / fc
        li += 1
        oi += 1


@_jit
def _decimation_indices(n):  # type: ignore[no-untyped-def]
    """``decimateFloat``: the 64 sample positions, at cell centres."""
    idx = np.empty(_OUT, dtype=np.int64)
    for o in range(_OUT):
        idx[o] = np.int64(((o + 0.5) * n) / _OUT)
    return idx


@_jit
def jarosz_decimate_reference(luma):  # type: ignore[no-untyped-def]
    """Jarosz filter (two X/Y passes of box filters) over the whole image, then decimation
    to 64 x 64: ``jaroszFilterFloat`` + ``decimateFloat``, same float32 operations."""
    h, w = luma.shape
    buf1 = luma.copy()
    buf2 = np.empty_like(luma)
    # computeJaroszFilterWindowSize: half of one output cell, rounded up (two passes each).
    wr = (w + 2 * _OUT - 1) // (2 * _OUT)
    wc = (h + 2 * _OUT - 1) // (2 * _OUT)
    for _ in range(PDQ_NUM_JAROSZ_XY_PASSES):
        _box_along_rows(buf1, buf2, wr)
        _box_along_cols(buf2, buf1, wc)
    ri = _decimation_indices(h)
    ci = _decimation_indices(w)
    out = np.empty((_OUT, _OUT), dtype=np.float32)
    for i in range(_OUT):
        for j in range(_OUT):
            out[i, j] = buf1[ri[i], ci[j]]
    return out


# ---------------------------------------------------------------- Jarosz filter (sample points)


@_jit
def tent_weights(n):  # type: ignore[no-untyped-def]
    """The Jarosz filter along one axis of length ``n``, restricted to the 64 decimation points.

    Two box passes are one linear map (a tent, with the reference's shrinking windows at the
    edges); only its 64 sampled rows matter. Returns ``(start, weights)``: sample ``o`` is
    ``sum_k weights[o, k] * x[start[o] + k]``. Exact in real arithmetic; differs from the
    reference only in float rounding.
    """
    window = (n + 2 * _OUT - 1) // (2 * _OUT)
    half = (window + 2) // 2
    back = window - half  # a box output o averages x[o - back .. o + half - 1], clipped
    fwd = half - 1
    idx = _decimation_indices(n)
    span = 2 * (back + fwd) + 1
    start = np.empty(_OUT, dtype=np.int64)
    weights = np.zeros((_OUT, span), dtype=np.float64)
    for o in range(_OUT):
        c = idx[o]
        first = max(0, c - back - back)
        start[o] = first
        # outer box at c averages the inner boxes at m in [c - back, c + fwd]
        m_lo = max(0, c - back)
        m_hi = min(n - 1, c + fwd)
        outer = 1.0 / (m_hi - m_lo + 1)
        for m in range(m_lo, m_hi + 1):
            k_lo = max(0, m - back)
            k_hi = min(n - 1, m + fwd)
            inner = outer / (k_hi - k_lo + 1)
            for k in range(k_lo, k_hi + 1):
                weights[o, k - first] += inner
    return start, weights


@_jit
def tent_weights_reduced(n_full, n_reduced):  # type: ignore[no-untyped-def]
    """:func:`tent_weights` of the full-resolution axis (``n_full`` pixels), carried over to the
    same axis decoded reduced to ``n_reduced`` pixels.

    A reduced pixel stands for the mean of the full-resolution pixels under it: a block of ``s``
    for libjpeg's 1/s DCT scaling (the last block clipped at the edge), or a fractional span of
    ``n_full / n_reduced`` for any other resize. So each full-resolution tap's weight moves to
    the reduced pixel(s) covering it, keeping the reference's sample positions and window sizes
    instead of re-deriving them (half a pixel off, a window too wide) from the smaller image.
    """
    full_start, full_w = tent_weights(n_full)
    step = n_full / n_reduced
    for s in (2, 4, 8):
        if (n_full + s - 1) // s == n_reduced:
            step = float(s)
            break
    taps = full_w.shape[1]
    span = math.ceil(taps / step) + 2
    start = np.empty(_OUT, dtype=np.int64)
    weights = np.zeros((_OUT, span), dtype=np.float64)
    for o in range(_OUT):
        first = min(int(full_start[o] / step), n_reduced - 1)
        start[o] = first
        for t in range(taps):
            wt = full_w[o, t]
            if wt == 0.0:
                continue
            k = full_start[o] + t
            p = min(int(k / step), n_reduced - 1)
            lo = float(k)
            while lo < k + 1.0:
                if p >= n_reduced - 1:
                    p = n_reduced - 1  # the last reduced pixel takes what is left
                    hi = k + 1.0
                else:
                    hi = min(k + 1.0, (p + 1) * step)
                if hi > lo:
                    weights[o, p - first] += wt * (hi - lo)
                    lo = hi
                p += 1
    return start, weights


@_jit
def jarosz_decimate_sampled(rgb, row_start, row_w, col_start, col_w):  # type: ignore[no-untyped-def]
    """Luminance, Jarosz filter and decimation computed only at the 64 x 64 sample points.

    Each needed image row is reduced to 64 column samples (luminance computed on the fly), then
    the 64 output rows combine those. Work is O(h * 64 * taps) instead of four full passes.
    """
    h, w = rgb.shape[0], rgb.shape[1]
    ctaps = col_w.shape[1]
    rtaps = row_w.shape[1]
    # rows of the image that any output row reads
    r_lo = row_start[0]
    r_hi = min(h, row_start[_OUT - 1] + rtaps)
    nrows = r_hi - r_lo
    cols = np.zeros((nrows, _OUT), dtype=np.float64)
    line = np.empty(w, dtype=np.float64)
    for r in range(nrows):
        y = r_lo + r
        for x in range(w):
            line[x] = (
                np.float64(rgb[y, x, 0]) * 0.299
                + np.float64(rgb[y, x, 1]) * 0.587
                + np.float64(rgb[y, x, 2]) * 0.114
            )
        for j in range(_OUT):
            s0 = col_start[j]
            acc = 0.0
            for k in range(min(ctaps, w - s0)):
                acc += col_w[j, k] * line[s0 + k]
            cols[r, j] = acc
    out = np.empty((_OUT, _OUT), dtype=np.float32)
    for i in range(_OUT):
        s0 = row_start[i] - r_lo
        for j in range(_OUT):
            acc = 0.0
            for k in range(min(rtaps, nrows - s0)):
                acc += row_w[i, k] * cols[s0 + k, j]
            out[i, j] = np.float32(acc)
    return out


# ---------------------------------------------------------------- quality, DCT, median threshold


@_jit
def quality_metric(a):  # type: ignore[no-untyped-def]
    """``pdqImageDomainQualityMetric``: sum of quantised vertical and horizontal gradients of
    the 64 x 64 image (in percent of full scale), divided by 90, capped at 100."""
    total = 0
    hundred = np.float32(100.0)
    full = np.float32(255.0)
    for i in range(_OUT - 1):
        for j in range(_OUT):
            d = int(((a[i, j] - a[i + 1, j]) * hundred) / full)
            total += abs(d)
    for i in range(_OUT):
        for j in range(_OUT - 1):
            d = int(((a[i, j] - a[i, j + 1]) * hundred) / full)
            total += abs(d)
    return min(total // 90, 100)


@_jit
def dct64_to_16(a, d):  # type: ignore[no-untyped-def]
    """``dct64To16``: B = D A D^T, float32, each dot product accumulated in increasing k."""
    t = np.zeros((_DCT, _OUT), dtype=np.float32)
    for i in range(_DCT):
        for k in range(_OUT):
            dik = d[i, k]
            for j in range(_OUT):
                t[i, j] += dik * a[k, j]
    b = np.empty((_DCT, _DCT), dtype=np.float32)
    for i in range(_DCT):
        for j in range(_DCT):
            s = np.float32(0.0)
            for k in range(_OUT):
                s += t[i, k] * d[j, k]
            b[i, j] = s
    return b


@_jit
def median_threshold_bits(b):  # type: ignore[no-untyped-def]
    """``pdqBuffer16x16ToBits``: bit i*16+j is set where B[i, j] exceeds the median (Torben's
    median of 256 values is the 128th smallest). Returned in ``pdqhash`` vector order (bit 255
    first), ready for ``PdqHash.from_bits``."""
    flat = b.ravel()
    med = np.sort(flat)[(flat.size + 1) // 2 - 1]
    bits = np.empty(flat.size, dtype=np.uint8)
    n = flat.size
    for k in range(n):
        bits[n - 1 - k] = 1 if flat[k] > med else 0
    return bits


@_jit
def dihedral_dcts(b):  # type: ignore[no-untyped-def]
    """The 16 x 16 DCT of each of the eight orientations, by sign flips and transposes
    (``dct16OriginalTo*``), in ``compute_dihedral`` order."""
    out = np.empty((8, _DCT, _DCT), dtype=np.float32)
    for i in range(_DCT):
        for j in range(_DCT):
            v = b[i, j]
            out[0, i, j] = v
            out[1, j, i] = v if j & 1 else -v  # rotate90
            out[2, i, j] = -v if (i + j) & 1 else v  # rotate180
            out[3, j, i] = v if i & 1 else -v  # rotate270
            out[4, i, j] = v if i & 1 else -v  # flip_x
            out[5, i, j] = v if j & 1 else -v  # flip_y
            out[6, j, i] = v  # flip_plus1 (transpose)
            out[7, j, i] = -v if (i + j) & 1 else v  # flip_minus1 (transverse)
    return out


@_jit
def hash_bits(a, d, dihedral):  # type: ignore[no-untyped-def]
    """From the 64 x 64 image: quality, then 2-D DCT and median threshold (one or eight hashes)."""
    quality = quality_metric(a)
    b = dct64_to_16(a, d)
    if dihedral:
        dcts = dihedral_dcts(b)
        bits = np.empty((8, _DCT * _DCT), dtype=np.uint8)
        for o in range(8):
            bits[o] = median_threshold_bits(dcts[o])
    else:
        bits = np.empty((1, _DCT * _DCT), dtype=np.uint8)
        bits[0] = median_threshold_bits(b)
    return bits, quality
