"""numba kernels of :mod:`hashwall.hashing.keypoints`: blur, scale-space extrema, orientation
histograms and patch sampling. Plain loops over float32 arrays, written so that the browser's
JavaScript can repeat them operation by operation."""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_jit = nb.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")

ORIENTATION_BINS = 36
#: Secondary orientation peaks at least this share of the highest one make a keypoint too.
ORIENTATION_PEAK = 0.8


@_jit
def blur(img, weights):  # type: ignore[no-untyped-def]
    """Separable convolution with ``weights`` (odd length, centred), borders clamped: rows
    first, then columns. Each output sums its taps in order, from the first weight to the
    last, in float32 (rows are swept tap by tap so that the inner loop runs along memory)."""
    h, w = img.shape
    r = weights.shape[0] // 2
    tmp = np.zeros((h, w), dtype=np.float32)
    out = np.zeros((h, w), dtype=np.float32)
    for y in range(h):
        row = img[y]
        acc = tmp[y]
        for k in range(-r, r + 1):
            wk = weights[k + r]
            lo = min(max(-k, 0), w)  # x + k < 0 below lo: clamped to the first pixel
            hi = max(min(w - k, w), lo)  # x + k >= w from hi: clamped to the last
            for x in range(lo):
                acc[x] += wk * row[0]
            # Slices indexed from 0: an index that may be negative (x + k) makes numba wrap
            # it around on every read, which keeps the loop from being vectorised (6x slower).
            dst = acc[lo:hi]
            src = row[lo + k : hi + k]
            for i in range(hi - lo):
                dst[i] += wk * src[i]
            for x in range(hi, w):
                acc[x] += wk * row[w - 1]
    for y in range(h):
        acc = out[y]
        for k in range(-r, r + 1):
            wk = weights[k + r]
            src = tmp[min(max(y + k, 0), h - 1)]
            for x in range(w):
                acc[x] += wk * src[x]
    return out


@_jit
def _fit(a, b, c):  # type: ignore[no-untyped-def]
    """Offset of a parabola's vertex through (-1, a), (0, b), (1, c), within half a step."""
    den = a - 2.0 * b + c
    if den == 0.0:
        return 0.0
    return min(max(0.5 * (a - c) / den, -0.5), 0.5)


@_jit
def extrema(dog, threshold, edge_ratio):  # type: ignore[no-untyped-def]
    """Local extrema of a difference-of-Gaussians stack ``dog`` (levels, h, w) over their
    3 x 3 x 3 neighbourhood, in the inner levels, at least ``threshold`` in magnitude and not
    on an edge (``tr^2 / det`` of the spatial Hessian below ``(r + 1)^2 / r``).

    Returns rows of (level, y, x, y + offset, x + offset, level + offset, |response|)."""
    n_levels, h, w = dog.shape
    limit = (edge_ratio + 1.0) ** 2 / edge_ratio
    out = np.empty((1024, 7), dtype=np.float64)
    n = 0
    for lv in range(1, n_levels - 1):
        for y in range(2, h - 2):
            for x in range(2, w - 2):
                v = dog[lv, y, x]
                if abs(v) <= threshold:
                    continue
                is_max = True
                is_min = True
                for dl in range(-1, 2):
                    for dy in range(-1, 2):
                        for dx in range(-1, 2):
                            if dl == 0 and dy == 0 and dx == 0:
                                continue
                            u = dog[lv + dl, y + dy, x + dx]
                            if u > v:
                                is_max = False
                            if u < v:
                                is_min = False
                    if not is_max and not is_min:
                        break
                if not ((is_max and v > 0) or (is_min and v < 0)):
                    continue
                d = dog[lv]
                dxx = d[y, x + 1] + d[y, x - 1] - 2.0 * v
                dyy = d[y + 1, x] + d[y - 1, x] - 2.0 * v
                dxy = (d[y + 1, x + 1] - d[y + 1, x - 1] - d[y - 1, x + 1] + d[y - 1, x - 1]) / 4.0
                tr = dxx + dyy
                det = dxx * dyy - dxy * dxy
                if det <= 0.0 or tr * tr / det >= limit:
                    continue
                if n == out.shape[0]:
                    grown = np.empty((2 * n, 7), dtype=np.float64)
                    grown[:n] = out
                    out = grown
                out[n, 0] = lv
                out[n, 1] = y
                out[n, 2] = x
                out[n, 3] = y + _fit(d[y - 1, x], v, d[y + 1, x])
                out[n, 4] = x + _fit(d[y, x - 1], v, d[y, x + 1])
                out[n, 5] = lv + _fit(dog[lv - 1, y, x], v, dog[lv + 1, y, x])
                out[n, 6] = abs(v)
                n += 1
    return out[:n]


@_jit
def orientations(img, cx, cy, sigma):  # type: ignore[no-untyped-def]
    """Dominant gradient directions around (cx, cy) at scale ``sigma`` (pixels of ``img``):
    a 36-bin histogram of gradient angles weighted by magnitude and a Gaussian of 1.5 sigma,
    smoothed, its peaks of at least :data:`ORIENTATION_PEAK` of the highest, refined by a
    parabola. Angles in radians in [-pi, pi); at most two, the strongest first."""
    h, w = img.shape
    nb_ = ORIENTATION_BINS
    hist = np.zeros(nb_, dtype=np.float64)
    sw = 1.5 * sigma
    r = math.floor(3.0 * sw + 0.5)
    x0 = max(1, int(cx) - r)
    x1 = min(w - 2, int(cx) + r)
    y0 = max(1, int(cy) - r)
    y1 = min(h - 2, int(cy) + r)
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            # in float64 (numba's float() of a float32 would stay float32, and atan2f and
            # sqrtf differ between C libraries and from the browser's)
            gx = np.float64(img[y, x + 1]) - np.float64(img[y, x - 1])
            gy = np.float64(img[y + 1, x]) - np.float64(img[y - 1, x])
            wgt = math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2.0 * sw * sw))
            a = math.atan2(gy, gx)
            b = int((a + math.pi) / (2.0 * math.pi) * nb_) % nb_
            hist[b] += math.sqrt(gx * gx + gy * gy) * wgt
    smooth = np.empty(nb_, dtype=np.float64)
    for i in range(nb_):
        smooth[i] = (
            hist[(i - 2) % nb_]
            + 4.0 * hist[(i - 1) % nb_]
            + 6.0 * hist[i]
            + 4.0 * hist[(i + 1) % nb_]
            + hist[(i + 2) % nb_]
        ) / 16.0
    top = smooth.max()
    out = np.empty(2, dtype=np.float64)
    strength = np.zeros(2, dtype=np.float64)
    n = 0
    if top <= 0.0:
        return out[:0]
    for i in range(nb_):
        a = smooth[(i - 1) % nb_]
        b = smooth[i]
        c = smooth[(i + 1) % nb_]
        if b >= ORIENTATION_PEAK * top and b > a and b > c:
            angle = (i + 0.5 + _fit(a, b, c)) / nb_ * 2.0 * math.pi - math.pi
            if n < 2:
                out[n] = angle
                strength[n] = b
                n += 1
            elif b > strength[1]:
                out[1] = angle
                strength[1] = b
            if n == 2 and strength[1] > strength[0]:
                out[0], out[1] = out[1], out[0]
                strength[0], strength[1] = strength[1], strength[0]
    return out[:n]


@_jit
def sample_patch(img, cx, cy, half, angle, size):  # type: ignore[no-untyped-def]
    """``size`` x ``size`` bilinear samples of the square of half side ``half`` centred on
    (cx, cy) and turned by ``angle``: row i, column j lies at u = (j + 0.5 - size / 2) * step
    along the direction and v = (i + 0.5 - size / 2) * step across it. Borders clamped."""
    h, w = img.shape
    step = 2.0 * half / size
    c = math.cos(angle)
    s = math.sin(angle)
    out = np.empty((size, size), dtype=np.float32)
    for i in range(size):
        v = (i + 0.5 - size / 2.0) * step
        for j in range(size):
            u = (j + 0.5 - size / 2.0) * step
            x = min(max(cx + u * c - v * s, 0.0), w - 1.0)
            y = min(max(cy + u * s + v * c, 0.0), h - 1.0)
            xi = min(int(x), w - 2) if w > 1 else 0
            yi = min(int(y), h - 2) if h > 1 else 0
            fx = x - xi
            fy = y - yi
            x2 = min(xi + 1, w - 1)
            y2 = min(yi + 1, h - 1)
            top = img[yi, xi] * (1.0 - fx) + img[yi, x2] * fx
            bottom = img[y2, xi] * (1.0 - fx) + img[y2, x2] * fx
            out[i, j] = top * (1.0 - fy) + bottom * fy
    return out


@_jit
def patch_code(patch, dct):  # type: ignore[no-untyped-def]
    """A patch's code: bit ``8 a + b`` set when DCT coefficient ``(a, b)`` is positive (the
    constant one left out). ``dct`` holds the first rows of the orthonormal DCT-II matrix
    (float64); the sums run in float64 in the browser's order (``dct @ patch`` row by row,
    then each coefficient), so both sides see the same signs."""
    side, size = dct.shape
    rows = np.zeros((side, size))
    for a in range(side):
        for j in range(size):
            s = 0.0
            for i in range(size):
                s += dct[a, i] * patch[i, j]
            rows[a, j] = s
    code = np.uint64(0)
    for a in range(side):
        for b in range(side):
            if a == 0 and b == 0:
                continue
            s = 0.0
            for j in range(size):
                s += rows[a, j] * dct[b, j]
            if s > 0.0:
                code |= np.uint64(1) << np.uint64(a * side + b)
    return code
