# mypy: ignore-errors
# (numba-compiled code is untyped; mih.py wraps these kernels behind typed methods)
"""numba inner loops of the multi-index hash (``mih.py``); every function is ``nogil``.

Hashes are ``(n, 4)`` uint64 big-endian words: bit 0 of the code is the top bit of word 0.
A substring is a contiguous bit range ``[start, start + width)`` (width <= 32).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_ONE = np.uint64(1)
_POS40 = np.int64((1 << 40) - 1)


@intrinsic
def _ctpop(typingctx, x):  # type: ignore[no-untyped-def]
    # LLVM's ctpop: one popcnt instruction on x86-64
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.ctpop(args[0])

    return sig, codegen


@intrinsic
def _prefetch(typingctx, arr, i, j):  # type: ignore[no-untyped-def]
    # llvm.prefetch of &arr[i, j] (2-d array): start a cache miss now, use the data later
    sig = types.void(arr, i, j)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = [
            context.cast(builder, args[1], signature.args[1], types.intp),
            context.cast(builder, args[2], signature.args[2], types.intp),
        ]
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, idx, wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(
            fn,
            [
                builder.bitcast(ptr, i8p),
                ir.Constant(i32, 0),
                ir.Constant(i32, 3),
                ir.Constant(i32, 1),
            ],
        )
        return context.get_dummy_value()

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
def build_table(words, start, width, high_bits, pos_bits, offsets, entries):  # type: ignore[no-untyped-def]
    """Counting-sort positions by the top ``high_bits`` of one substring (stable).

    Each entry packs ``position | key << pos_bits``, ``key`` being the next
    ``32 - pos_bits`` bits of the substring (as many as fit), used to reject entries before
    reading their code.
    """
    n = words.shape[0]
    low_bits = width - high_bits
    key_bits = min(low_bits, 32 - pos_bits)
    key_mask = (_ONE << np.uint64(key_bits)) - _ONE
    nb = offsets.shape[0] - 1
    counts = np.zeros(nb + 1, dtype=np.int64)
    buckets = np.empty(n, dtype=np.uint32)
    for i in range(n):
        s = substring(words[i], start, width)
        buckets[i] = np.uint32(s >> np.uint64(low_bits))
        counts[buckets[i] + 1] += 1
    for b in range(nb):
        counts[b + 1] += counts[b]
    for b in range(nb + 1):
        offsets[b] = counts[b]
    for i in range(n):
        b = buckets[i]
        e = counts[b]
        counts[b] = e + 1
        key = (substring(words[i], start, width) >> np.uint64(low_bits - key_bits)) & key_mask
        entries[e] = np.uint32((key << np.uint64(pos_bits)) | np.uint64(i))


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
    queries,
    radius,
    taus,
    starts,
    widths,
    high_bits,
    pos_bits,
    max_probes,
    words,
    offsets,
    entries,
    removed,
):
    """Exact radius search of each query in the main segment via the substring tables.

    Table ``t`` is probed at substring radius ``taus[t]`` (``-1`` = unused); the radii satisfy
    ``sum(taus + 1) > radius`` so that, by the pigeonhole principle, every code within
    ``radius`` has some used substring within its ``tau``. A code is reported only from the
    first used table where it qualifies, so no visited-set is needed.

    Each query runs in phases whose loads are independent of each other (bucket bounds, then
    bucket entries, then candidate codes) so the CPU overlaps the cache misses instead of
    waiting for each one. Returns CSR ``(offsets (q+1,), positions, distances)``.
    """
    m = taus.shape[0]
    nq = queries.shape[0]
    out_off = np.zeros(nq + 1, dtype=np.int64)
    pos_buf = np.empty(64, dtype=np.int64)
    dist_buf = np.empty(64, dtype=np.int64)
    size = 0
    qsub = np.empty(m, dtype=np.uint64)
    qkey = np.empty(m, dtype=np.uint64)
    key_bits = np.empty(m, dtype=np.int64)
    comb = np.empty(64, dtype=np.int64)
    pr_t = np.empty(max_probes, dtype=np.int64)
    pr_v = np.empty(max_probes, dtype=np.int64)
    pr_rem = np.empty(max_probes, dtype=np.int64)
    pr_lo = np.empty(max_probes, dtype=np.int64)
    pr_hi = np.empty(max_probes, dtype=np.int64)
    cand = np.empty(4096, dtype=np.int64)  # position | table << 40
    pos_mask = (_ONE << np.uint64(pos_bits)) - _ONE
    has_removed = removed.shape[0] > 0
    for t in range(m):
        key_bits[t] = min(widths[t] - high_bits, 32 - pos_bits)
    for qi in range(nq):
        q = queries[qi]
        q0 = q[0]
        q1 = q[1]
        q2 = q[2]
        q3 = q[3]
        # phase 1: the buckets to read (substring neighbours of the query)
        npr = 0
        for t in range(m):
            low_bits = widths[t] - high_bits
            qsub[t] = substring(q, starts[t], widths[t])
            qkey[t] = (qsub[t] >> np.uint64(low_bits - key_bits[t])) & (
                (_ONE << np.uint64(key_bits[t])) - _ONE
            )
            tau = taus[t]
            if tau < 0:
                continue
            qh = qsub[t] >> np.uint64(low_bits)
            for k in range(min(tau, high_bits) + 1):
                for i in range(k):
                    comb[i] = i
                while True:
                    flip = np.uint64(0)
                    for i in range(k):
                        flip |= _ONE << np.uint64(comb[i])
                    pr_t[npr] = t
                    pr_v[npr] = np.int64(qh ^ flip)
                    _prefetch(offsets, t, pr_v[npr])
                    pr_rem[npr] = tau - k
                    npr += 1
                    i = k - 1
                    while i >= 0 and comb[i] == high_bits - k + i:
                        i -= 1
                    if i < 0:
                        break
                    comb[i] += 1
                    for j in range(i + 1, k):
                        comb[j] = comb[j - 1] + 1
        # phase 2: bucket bounds (independent loads)
        for i in range(npr):
            pr_lo[i] = offsets[pr_t[i], pr_v[i]]
            pr_hi[i] = offsets[pr_t[i], pr_v[i] + 1]
            if pr_hi[i] > pr_lo[i]:
                _prefetch(entries, pr_t[i], pr_lo[i])
        # phase 3: scan buckets; keep entries whose key bits are within the remaining radius
        # (branch-free: every entry is written, the count only advances for kept ones)
        nc = 0
        for i in range(npr):
            t = pr_t[i]
            rem = pr_rem[i]
            qk = qkey[t]
            lo = pr_lo[i]
            hi = pr_hi[i]
            if nc + (hi - lo) > cand.shape[0]:
                grown = np.empty(max(cand.shape[0] * 2, nc + (hi - lo)), dtype=np.int64)
                grown[:nc] = cand[:nc]
                cand = grown
            tag = np.int64(t) << np.int64(40)
            for e in range(lo, hi):
                x = np.uint64(entries[t, e])
                cand[nc] = np.int64(x & pos_mask) | tag
                nc += _popc((x >> np.uint64(pos_bits)) ^ qk) <= rem
        # phase 4: verify candidates against the full code (independent loads)
        for c in range(nc):
            _prefetch(words, cand[c] & _POS40, 0)
        for c in range(nc):
            p = cand[c] & _POS40
            row = words[p]
            d = _popc(row[0] ^ q0) + _popc(row[1] ^ q1)
            if d > radius:
                continue
            d += _popc(row[2] ^ q2) + _popc(row[3] ^ q3)
            if d > radius:
                continue
            t = cand[c] >> np.int64(40)
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
