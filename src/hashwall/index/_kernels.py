"""numba inner loops of the multi-index hash (``mih.py``); every function is ``nogil``.

Hashes are ``(n, 4)`` uint64 big-endian words: bit 0 of the code is the top bit of word 0.
A substring is a contiguous bit range ``[start, start + width)`` (width <= 32).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

_ONE = np.uint64(1)


@intrinsic
def _ctpop(typingctx, x):  # type: ignore[no-untyped-def]
    # LLVM's ctpop: one popcnt instruction on x86-64
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.ctpop(args[0])

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _popc(x):  # type: ignore[no-untyped-def]
    return np.int64(_ctpop(np.uint64(x)))


@njit(cache=True, nogil=True, inline="always")
def substring(row, start, width):  # type: ignore[no-untyped-def]
    """The ``width`` bits of ``row`` starting at bit ``start`` as an integer."""
    word = start >> 6
    off = start & 63
    mask = (_ONE << np.uint64(width)) - _ONE
    if off + width <= 64:
        return (row[word] >> np.uint64(64 - off - width)) & mask
    hi_bits = 64 - off
    lo_bits = width - hi_bits
    hi = row[word] & ((_ONE << np.uint64(hi_bits)) - _ONE)
    lo = row[word + 1] >> np.uint64(64 - lo_bits)
    return (hi << np.uint64(lo_bits)) | lo


@njit(cache=True, nogil=True)
def build_table(words, start, width, high_bits, offsets, postings, lows):  # type: ignore[no-untyped-def]
    """Counting-sort positions by the top ``high_bits`` of one substring (stable)."""
    n = words.shape[0]
    low_bits = width - high_bits
    low_mask = (_ONE << np.uint64(low_bits)) - _ONE
    nb = offsets.shape[0] - 1
    counts = np.zeros(nb + 1, dtype=np.int64)
    keys = np.empty(n, dtype=np.uint32)
    for i in range(n):
        s = substring(words[i], start, width)
        keys[i] = np.uint32(s >> np.uint64(low_bits))
        counts[keys[i] + 1] += 1
    for b in range(nb):
        counts[b + 1] += counts[b]
    for b in range(nb + 1):
        offsets[b] = counts[b]
    for i in range(n):
        k = keys[i]
        e = counts[k]
        counts[k] = e + 1
        postings[e] = i
        if low_bits > 0:
            lows[e] = substring(words[i], start, width) & low_mask


@njit(cache=True, nogil=True, inline="always")
def _is_removed(removed, p):  # type: ignore[no-untyped-def]
    lo = 0
    hi = removed.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if removed[mid] < p:
            lo = mid + 1
        else:
            hi = mid
    return lo < removed.shape[0] and removed[lo] == p


@njit(cache=True, nogil=True)
def _grow(buf, size):  # type: ignore[no-untyped-def]
    out = np.empty(buf.shape[0] * 2, dtype=buf.dtype)
    out[:size] = buf[:size]
    return out


@njit(cache=True, nogil=True)
def search_tables(  # type: ignore[no-untyped-def]
    queries, radius, taus, starts, widths, high_bits, words, offsets, postings, lows, removed
):
    """Exact radius search of each query in the main segment via the substring tables.

    Table ``t`` is probed at substring radius ``taus[t]`` (``-1`` = unused); the radii satisfy
    ``sum(taus + 1) > radius`` so that, by the pigeonhole principle, every code within
    ``radius`` has some used substring within its ``tau``. A code is reported only from the
    first used table where it qualifies, so no visited-set is needed. Returns CSR
    ``(offsets (q+1,), positions, distances)``.
    """
    m = taus.shape[0]
    nq = queries.shape[0]
    out_off = np.zeros(nq + 1, dtype=np.int64)
    pos_buf = np.empty(64, dtype=np.int64)
    dist_buf = np.empty(64, dtype=np.int64)
    size = 0
    qsub = np.empty(m, dtype=np.uint64)
    comb = np.empty(64, dtype=np.int64)
    has_removed = removed.shape[0] > 0
    for qi in range(nq):
        q = queries[qi]
        q0 = q[0]
        q1 = q[1]
        q2 = q[2]
        q3 = q[3]
        for t in range(m):
            qsub[t] = substring(q, starts[t], widths[t])
        for t in range(m):
            tau = taus[t]
            if tau < 0:
                continue
            low_bits = widths[t] - high_bits
            low_mask = (_ONE << np.uint64(low_bits)) - _ONE
            qh = qsub[t] >> np.uint64(low_bits)
            ql = qsub[t] & low_mask
            off_t = offsets[t]
            post_t = postings[t]
            low_t = lows[t]
            for k in range(min(tau, high_bits) + 1):
                for i in range(k):
                    comb[i] = i
                while True:
                    flip = np.uint64(0)
                    for i in range(k):
                        flip |= _ONE << np.uint64(comb[i])
                    v = qh ^ flip
                    rem = tau - k
                    for e in range(off_t[v], off_t[v + 1]):
                        if low_bits > 0:
                            if rem < low_bits and _popc(np.uint64(low_t[e]) ^ ql) > rem:
                                continue
                        p = post_t[e]
                        row = words[p]
                        d = _popc(row[0] ^ q0)
                        if d > radius:
                            continue
                        d += _popc(row[1] ^ q1)
                        if d > radius:
                            continue
                        d += _popc(row[2] ^ q2)
                        if d > radius:
                            continue
                        d += _popc(row[3] ^ q3)
                        if d > radius:
                            continue
                        dup = False
                        for u in range(t):
                            if taus[u] >= 0:
                                xs = substring(row, starts[u], widths[u]) ^ qsub[u]
                                if _popc(xs) <= taus[u]:
                                    dup = True
                                    break
                        if dup:
                            continue
                        if has_removed and _is_removed(removed, p):
                            continue
                        if size == pos_buf.shape[0]:
                            pos_buf = _grow(pos_buf, size)
                            dist_buf = _grow(dist_buf, size)
                        pos_buf[size] = p
                        dist_buf[size] = d
                        size += 1
                    # next k-combination of high_bits bit positions
                    i = k - 1
                    while i >= 0 and comb[i] == high_bits - k + i:
                        i -= 1
                    if i < 0:
                        break
                    comb[i] += 1
                    for j in range(i + 1, k):
                        comb[j] = comb[j - 1] + 1
        out_off[qi + 1] = size
    return out_off, pos_buf[:size].copy(), dist_buf[:size].copy()


@njit(cache=True, nogil=True)
def scan(queries, radius, words, removed):  # type: ignore[no-untyped-def]
    """Exact radius search by scanning every code (the delta segment, and huge radii)."""
    nq = queries.shape[0]
    n = words.shape[0]
    out_off = np.zeros(nq + 1, dtype=np.int64)
    pos_buf = np.empty(64, dtype=np.int64)
    dist_buf = np.empty(64, dtype=np.int64)
    size = 0
    has_removed = removed.shape[0] > 0
    for qi in range(nq):
        q0 = queries[qi, 0]
        q1 = queries[qi, 1]
        q2 = queries[qi, 2]
        q3 = queries[qi, 3]
        for p in range(n):
            d = _popc(words[p, 0] ^ q0) + _popc(words[p, 1] ^ q1)
            if d > radius:
                continue
            d += _popc(words[p, 2] ^ q2) + _popc(words[p, 3] ^ q3)
            if d > radius:
                continue
            if has_removed and _is_removed(removed, p):
                continue
            if size == pos_buf.shape[0]:
                pos_buf = _grow(pos_buf, size)
                dist_buf = _grow(dist_buf, size)
            pos_buf[size] = p
            dist_buf[size] = d
            size += 1
        out_off[qi + 1] = size
    return out_off, pos_buf[:size].copy(), dist_buf[:size].copy()
