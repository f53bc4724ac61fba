# mypy: ignore-errors
# (numba-compiled code is untyped; contentbox.py wraps these kernels behind typed functions)
"""numba kernels of the content boxes (``contentbox.py``): one pass each where the numpy
version made a dozen small calls.

Every kernel gives the numbers of the numpy expression it replaces, operation by operation: a
line's share of pixels is its count divided by its length in float64 (as ``mean`` of a boolean
array), medians and comparisons are those of numpy, float32 sums follow numpy's order
(pairwise along a contiguous axis, sequential across rows). Imported lazily: ``cache=True``
keeps the machine code on disk after the first run. A box is ``(x0, y0, x1, y1)``; ``x0 = -1``
means none.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_jit = nb.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")


@_jit
def sample(rgb, f):
    """``rgb[::f, ::f]`` as a contiguous copy (numpy copies a strided 3-byte pixel slowly)."""
    h, w = (rgb.shape[0] + f - 1) // f, (rgb.shape[1] + f - 1) // f
    out = np.empty((h, w, 3), np.uint8)
    for y in range(h):
        for x in range(w):
            for c in range(3):
                out[y, x, c] = rgb[y * f, x * f, c]
    return out


@_jit
def _far(small, y, x, c0, c1, c2, tol):
    """True when pixel (y, x) differs from the colour by more than ``tol`` in a channel."""
    d0 = abs(np.int32(small[y, x, 0]) - c0)
    d1 = abs(np.int32(small[y, x, 1]) - c1)
    d2 = abs(np.int32(small[y, x, 2]) - c2)
    return max(d0, d1, d2) > tol


@_jit
def side_colours(small, tol, ring_share):
    """``(k, 3)`` int16: the median colour of each outermost line (top, bottom, left, right)
    with at least ``ring_share`` of its pixels within ``tol`` of it, without repeats."""
    h, w = small.shape[0], small.shape[1]
    out = np.empty((4, 3), np.int16)
    k = 0
    for side in range(4):
        n = w if side < 2 else h
        line = np.empty((n, 3), np.int16)
        for i in range(n):
            if side == 0:
                y, x = 0, i
            elif side == 1:
                y, x = h - 1, i
            elif side == 2:
                y, x = i, 0
            else:
                y, x = i, w - 1
            for c in range(3):
                line[i, c] = small[y, x, c]
        colour = np.empty(3, np.int16)
        for c in range(3):
            v = np.sort(line[:, c])
            if n % 2 == 1:
                colour[c] = v[n // 2]
            else:  # np.median: the mean of the two middle values, truncated by astype
                colour[c] = np.int16((np.float64(v[n // 2 - 1]) + np.float64(v[n // 2])) / 2.0)
        near = 0
        for i in range(n):
            if (
                abs(line[i, 0] - colour[0]) <= tol
                and abs(line[i, 1] - colour[1]) <= tol
                and abs(line[i, 2] - colour[2]) <= tol
            ):
                near += 1
        if near / n < ring_share:
            continue
        new = True
        for j in range(k):
            d = max(
                abs(colour[0] - out[j, 0]),
                abs(colour[1] - out[j, 1]),
                abs(colour[2] - out[j, 2]),
            )
            if d <= tol:
                new = False
        if new:
            out[k, :] = colour
            k += 1
    return out[:k].copy()


@_jit
def _longest_run(counts, n, gap, line_share):
    """``(start, stop)`` of the longest run of lines whose share ``counts / n`` is at least
    ``line_share`` of the largest, jumping gaps of at most ``gap``; ``(-1, -1)`` if none."""
    top = 0.0
    for v in counts:
        s = v / n
        top = max(top, s)
    if top <= 0.0:
        return -1, -1
    limit = line_share * top
    best_start, best_stop, best_len = -1, -1, -1
    start, last = -1, -1
    for i in range(counts.size):
        if counts[i] / n >= limit:
            if start >= 0 and i - last > gap + 1:
                if last - start > best_len:
                    best_start, best_stop, best_len = start, last, last - start
                start = i
            elif start < 0:
                start = i
            last = i
    if start >= 0 and last - start > best_len:
        best_start, best_stop = start, last
    return best_start, best_stop + 1


@_jit
def dense_box(small, c0, c1, c2, tol, gap_x, gap_y, line_share):
    """The dense box of the pixels farther than ``tol`` from the colour: columns, then rows
    within them, then columns within those rows (``contentbox._dense_box``)."""
    h, w = small.shape[0], small.shape[1]
    mask = np.empty((h, w), np.int64)
    for y in range(h):
        for x in range(w):
            mask[y, x] = _far(small, y, x, c0, c1, c2, tol)
    x0, x1, y0, y1 = 0, w, 0, h
    cols = np.zeros(w, np.int64)
    rows = np.zeros(h, np.int64)
    for axis in (0, 1, 0):
        if axis == 0:
            cols[:] = 0
            for y in range(y0, y1):
                for x in range(w):
                    cols[x] += mask[y, x]
            a, b = _longest_run(cols, y1 - y0, gap_x, line_share)
            if a < 0:
                return -1, -1, -1, -1
            x0, x1 = a, b
        else:
            rows[:] = 0
            for y in range(h):
                for x in range(x0, x1):
                    rows[y] += mask[y, x]
            a, b = _longest_run(rows, x1 - x0, gap_y, line_share)
            if a < 0:
                return -1, -1, -1, -1
            y0, y1 = a, b
    return x0, y0, x1, y1


@_jit
def _grey_int(small, y, x):
    return (
        np.int64(small[y, x, 0]) * 299
        + np.int64(small[y, x, 1]) * 587
        + np.int64(small[y, x, 2]) * 114
    ) / 1000.0


@_jit
def ring_sharp_share(small, sharp):
    """The mean over the four outermost lines of their share of pixels whose grey differs by
    more than ``sharp`` from the next pixel inwards or the previous one along the line."""
    h, w = small.shape[0], small.shape[1]
    total = 0.0
    for side in range(4):
        n = w if side < 2 else h
        count = 0
        prev = 0.0
        for i in range(n):
            if side == 0:
                g = _grey_int(small, 0, i)
                inner = _grey_int(small, 1, i)
            elif side == 1:
                g = _grey_int(small, h - 1, i)
                inner = _grey_int(small, h - 2, i)
            elif side == 2:
                g = _grey_int(small, i, 0)
                inner = _grey_int(small, i, 1)
            else:
                g = _grey_int(small, i, w - 1)
                inner = _grey_int(small, i, w - 2)
            along = abs(g - prev) if i > 0 else 0.0
            if max(abs(inner - g), along) > sharp:
                count += 1
            prev = g
        total += count / n
    return total / 4.0


@_jit
def sharp_trim(grey, sharp, share):
    """Lines cut from every side while their share of sharp pixels (gradient to the left or
    upper neighbour above ``sharp``) is below ``share``, twice (``contentbox._trim_box``);
    an empty box at the corner reached when every line is cut."""
    h, w = grey.shape
    mask = np.zeros((h, w), np.bool_)
    for y in range(h):
        for x in range(w):
            g = np.float32(0.0)
            if x > 0:
                g = abs(grey[y, x] - grey[y, x - 1])
            if y > 0:
                g = max(g, abs(grey[y, x] - grey[y - 1, x]))
            mask[y, x] = g > sharp
    x0, x1, y0, y1 = 0, w, 0, h
    for _ in range(2):
        n = x1 - x0
        first, last = -1, -1
        for y in range(y0, y1):
            c = 0
            for x in range(x0, x1):
                c += mask[y, x]
            if c / n >= share:
                if first < 0:
                    first = y
                last = y
        if first < 0:
            return x0, y0, x0, y0
        y0, y1 = first, last + 1
        n = y1 - y0
        first, last = -1, -1
        for x in range(x0, x1):
            c = 0
            for y in range(y0, y1):
                c += mask[y, x]
            if c / n >= share:
                if first < 0:
                    first = x
                last = x
        if first < 0:
            return x0, y0, x0, y0
        x0, x1 = first, last + 1
    return x0, y0, x1, y1


@_jit
def _pairwise_sum(a, n):
    """numpy's float32 sum of ``a[:n]`` for ``n <= 128`` (``pairwise_sum`` in loops_utils: up
    to 128 values it is eight running sums, then the rest; above, it splits in halves, which
    is not needed here and not done: a recursive kernel does not survive numba's cache)."""
    if n > 128:
        raise ValueError("at most 128 values")
    if n < 8:
        s = np.float32(-0.0)
        for i in range(n):
            s += a[i]
        return s
    r0, r1, r2, r3 = a[0], a[1], a[2], a[3]
    r4, r5, r6, r7 = a[4], a[5], a[6], a[7]
    i = 8
    while i < n - (n % 8):
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        s += a[i]
        i += 1
    return s


@_jit
def step_profiles(grey):
    """``(rows, cols)``: the mean absolute grey step from each line to the next, as
    ``np.abs(np.diff(grey, axis)).mean(other axis)`` gives them in float32 (at most 128
    columns: the work copy)."""
    h, w = grey.shape
    rows = np.empty(max(h - 1, 0), np.float32)
    line = np.empty(w, np.float32)
    for y in range(h - 1):
        for x in range(w):
            line[x] = abs(grey[y + 1, x] - grey[y, x])
        rows[y] = _pairwise_sum(line, w) / np.float32(w)
    cols = np.zeros(max(w - 1, 0), np.float32)
    for y in range(h):
        for x in range(w - 1):
            cols[x] += abs(grey[y, x + 1] - grey[y, x])
    for x in range(w - 1):
        cols[x] = cols[x] / np.float32(h)
    return rows, cols


@_jit
def refine(rgb, x0, y0, x1, y1, c0, c1, c2, tol, reach, line_share):
    """The box with each side moved (by at most ``reach`` + 1 pixels) to the outermost line
    whose share of pixels unlike the colour is at least ``line_share`` of the strip's largest
    (``contentbox._refine``)."""
    h, w = rgb.shape[0], rgb.shape[1]
    r = reach + 1
    # left and right sides: columns of rows y0:y1
    lo, hi = max(0, x0 - r), min(w, x0 + r)
    k = _first_col(rgb, y0, y1, lo, hi, c0, c1, c2, tol, line_share, False)
    nx0 = lo + k if k >= 0 else x0
    lo, hi = max(0, x1 - r), min(w, x1 + r)
    k = _first_col(rgb, y0, y1, lo, hi, c0, c1, c2, tol, line_share, True)
    nx1 = lo + k + 1 if k >= 0 else x1
    lo, hi = max(0, y0 - r), min(h, y0 + r)
    k = _first_row(rgb, lo, hi, nx0, nx1, c0, c1, c2, tol, line_share, False)
    ny0 = lo + k if k >= 0 else y0
    lo, hi = max(0, y1 - r), min(h, y1 + r)
    k = _first_row(rgb, lo, hi, nx0, nx1, c0, c1, c2, tol, line_share, True)
    ny1 = lo + k + 1 if k >= 0 else y1
    if nx1 - nx0 < 2 or ny1 - ny0 < 2:
        return x0, y0, x1, y1
    return nx0, ny0, nx1, ny1


@_jit
def _pick(counts, n, line_share, from_end):
    if counts.size == 0:
        return -1
    top = 0.0
    for v in counts:
        top = max(top, v / n)
    if top <= 0.0:
        return -1
    limit = line_share * top
    found = -1
    for i in range(counts.size):
        if counts[i] / n >= limit:
            found = i
            if not from_end:
                break
    return found


@_jit
def _first_col(rgb, y0, y1, lo, hi, c0, c1, c2, tol, line_share, from_end):
    counts = np.zeros(max(hi - lo, 0), np.int64)
    for y in range(y0, y1):
        for x in range(lo, hi):
            if _far(rgb, y, x, c0, c1, c2, tol):
                counts[x - lo] += 1
    return _pick(counts, y1 - y0, line_share, from_end)


@_jit
def _first_row(rgb, lo, hi, x0, x1, c0, c1, c2, tol, line_share, from_end):
    counts = np.zeros(max(hi - lo, 0), np.int64)
    for y in range(lo, hi):
        for x in range(x0, x1):
            if _far(rgb, y, x, c0, c1, c2, tol):
                counts[y - lo] += 1
    return _pick(counts, x1 - x0, line_share, from_end)


@_jit
def refine_step(rgb, x0, y0, x1, y1, reach):
    """The box with each side moved (by at most ``reach`` + 1 pixels) to the line with the
    largest mean green step from its outer neighbour (``contentbox._refine_step``)."""
    h, w = rgb.shape[0], rgb.shape[1]
    r = reach + 1
    bx0, by0, bx1, by1 = x0, y0, x1, y1
    lo, hi = max(1, x0 - r), min(w - 1, x0 + r)
    if hi > lo:
        x0 = lo + _col_step(rgb, y0, y1, lo, hi)
    lo, hi = max(1, x1 - r), min(w - 1, x1 + r)
    if hi > lo:
        x1 = lo + _col_step(rgb, y0, y1, lo, hi)
    lo, hi = max(1, y0 - r), min(h - 1, y0 + r)
    if hi > lo:
        y0 = lo + _row_step(rgb, lo, hi, x0, x1)
    lo, hi = max(1, y1 - r), min(h - 1, y1 + r)
    if hi > lo:
        y1 = lo + _row_step(rgb, lo, hi, x0, x1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return bx0, by0, bx1, by1
    return x0, y0, x1, y1


@_jit
def _argmax_share(sums, n):
    best, k = -1.0, 0
    for i in range(sums.size):
        v = sums[i] / n
        if v > best:  # the first of equal maxima, as np.argmax
            best, k = v, i
    return k


@_jit
def _col_step(rgb, y0, y1, lo, hi):
    """argmax over x in [lo, hi) of the mean |green[y, x] - green[y, x - 1]| over y0:y1."""
    sums = np.zeros(hi - lo, np.int64)
    for y in range(y0, y1):
        for x in range(lo, hi):
            sums[x - lo] += abs(np.int64(rgb[y, x, 1]) - np.int64(rgb[y, x - 1, 1]))
    return _argmax_share(sums, y1 - y0)


@_jit
def _row_step(rgb, lo, hi, x0, x1):
    sums = np.zeros(hi - lo, np.int64)
    for y in range(lo, hi):
        for x in range(x0, x1):
            sums[y - lo] += abs(np.int64(rgb[y, x, 1]) - np.int64(rgb[y - 1, x, 1]))
    return _argmax_share(sums, x1 - x0)
