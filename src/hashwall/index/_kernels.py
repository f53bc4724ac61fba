# mypy: ignore-errors
# (numba-compiled code is untyped; mih.py wraps these kernels behind typed methods)
"""numba inner loops of the multi-index hash (``mih.py``); every function is ``nogil``.

Hashes are ``(n, 4)`` uint64 big-endian words: bit 0 of the code is the top bit of word 0.
A substring is a contiguous bit range ``[start, start + width)`` (width <= 24).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_ONE = np.uint64(1)
_POS40 = np.int64((1 << 40) - 1)
# How far ahead each phase of the search prefetches. Its loads are cache misses (DRAM for the
# bucket bounds, entries and codes; mostly L3 for the bitmap words); prefetching all of a
# phase's loads before the phase keeps only the last few in flight and leaves the loop waiting,
# a rolling window keeps ~16 misses in flight all along (8 photo-shaped queries: 395 -> 281 us
# at 1M, 2,424 -> 1,426 us at 10M, entries and codes; 8 and 24 ahead measured about the same).
# The bitmap words and bucket bounds moved to rolling windows too, and a bucket's last entry is
# prefetched with its first (a bucket of ~6 entries straddles two cache lines one time in
# three): about the same CPU time as prefetching them in a batch (8 orientations at 10M, 0.99x
# against the previous kernel in one process; a random read costs ~14 ns on the benchmark
# machine however far ahead it is prefetched, see docs/benchmarks.md).
_AHEAD = 16
_BITMAP_AHEAD = 32


@intrinsic
def _ctpop(typingctx, x):  # type: ignore[no-untyped-def]
    # LLVM's ctpop: one popcnt instruction on x86-64
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.ctpop(args[0])

    return sig, codegen


def _prefetch_codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
    # llvm.prefetch (read, high locality) of the element at the given indices
    aryty = signature.args[0]
    ary = context.make_array(aryty)(context, builder, args[0])
    idx = [
        context.cast(builder, a, ty, types.intp)
        for a, ty in zip(args[1:], signature.args[1:], strict=True)
    ]
    ptr = cgutils.get_item_pointer(context, builder, aryty, ary, idx, wraparound=False)
    i8p = ir.IntType(8).as_pointer()
    i32 = ir.IntType(32)
    fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
    builder.call(
        fn,
        [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)],
    )
    return context.get_dummy_value()


@intrinsic
def _prefetch(typingctx, arr, i, j):  # type: ignore[no-untyped-def]
    # start the cache miss of &arr[i, j] (2-d array) now, use the data later
    return types.void(arr, i, j), _prefetch_codegen


@intrinsic
def _prefetch_at(typingctx, arr, i):  # type: ignore[no-untyped-def]
    # start the cache miss of &arr[i] (1-d array) now, use the data later
    return types.void(arr, i), _prefetch_codegen


@njit(cache=True, nogil=True, inline="always")
def _popc(x):  # type: ignore[no-untyped-def]
    return np.int64(_ctpop(np.uint64(x)))


@njit(cache=True, nogil=True, inline="always")
def substring_at(words, p, start, width):  # type: ignore[no-untyped-def]
    """The ``width`` bits of code ``words[p]`` starting at bit ``start`` as an integer."""
    word = start >> 6
    off = start & 63
    mask = (_ONE << np.uint64(width)) - _ONE
    if off + width <= 64:
        return (words[p, word] >> np.uint64(64 - off - width)) & mask
    hi_bits = 64 - off
    lo_bits = width - hi_bits
    hi = words[p, word] & ((_ONE << np.uint64(hi_bits)) - _ONE)
    lo = words[p, word + 1] >> np.uint64(64 - lo_bits)
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
        s = substring_at(words, i, start, width)
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
        key = (substring_at(words, i, start, width) >> np.uint64(low_bits - key_bits)) & key_mask
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
def flip_masks(bits, tau):  # type: ignore[no-untyped-def]
    """Every mask over ``bits`` bits with at most ``tau`` bits set (by popcount, as uint32)."""
    total = 0
    c = 1
    for k in range(tau + 1):
        if k > 0:
            c = c * (bits - k + 1) // k
        total += c
    masks = np.empty(total, dtype=np.uint32)
    comb = np.empty(max(tau, 1), dtype=np.int64)
    j = 0
    for k in range(tau + 1):
        for i in range(k):
            comb[i] = i
        while True:
            flip = np.uint64(0)
            for i in range(k):
                flip |= _ONE << np.uint64(comb[i])
            masks[j] = np.uint32(flip)
            j += 1
            i = k - 1
            while i >= 0 and comb[i] == bits - k + i:
                i -= 1
            if i < 0:
                break
            comb[i] += 1
            for u in range(i + 1, k):
                comb[u] = comb[u - 1] + 1
    return masks


@njit(cache=True, nogil=True)
def build_bitmaps(words, starts, widths, bm_off, bitmaps):  # type: ignore[no-untyped-def]
    """Set bit ``s`` of table ``t``'s bitmap for every code whose substring ``t`` is ``s``."""
    for t in range(starts.shape[0]):
        base = bm_off[t]
        for i in range(words.shape[0]):
            s = substring_at(words, i, starts[t], widths[t])
            bitmaps[base + np.int64(s >> np.uint64(6))] |= _ONE << (s & np.uint64(63))


@njit(cache=True, nogil=True)
def search_tables(  # type: ignore[no-untyped-def]
    queries,
    radius,
    taus,
    starts,
    widths,
    high_bits,
    pos_bits,
    masks,
    mask_off,
    mask_cnt,
    groups,
    group_off,
    group_cnt,
    near,
    bm_off,
    bitmaps,
    words,
    offsets,
    entries,
    removed,
    scratch,
):
    """Exact radius search of each query in the main segment via the substring tables.

    Table ``t`` is probed at substring radius ``taus[t]`` (``-1`` = unused); the radii satisfy
    ``sum(taus + 1) > radius`` so that, by the pigeonhole principle, every code within
    ``radius`` has some used substring within its ``tau``. The substrings to look up are the
    query's substring XOR each of the table's flip masks (every mask over the substring's width
    with at most ``tau`` bits set, ``mask_cnt[t]`` of them); the table's occupancy bitmap drops
    those no code has (most of them, unless the bank is dense) before any bucket is read. The
    bitmap is read a 64-bit word at a time: the masks share their bits above the low 6 in
    ``groups[group_off[t]:][:group_cnt[t]]`` (packed ``high << 8 | low_radius``), and the word
    of one such high part answers all its low variants at once (``near[low_radius, low 6 bits
    of the query's substring]`` are the bits within the radius left): at 23 bits and tau 2,
    154 words for 277 substrings. A surviving substring ``s`` reads the bucket of its top
    ``high_bits`` and keeps the entries whose packed key bits equal the rest of ``s``. A code is
    reported only from the first used table where it qualifies, so no visited-set is needed.

    Each query runs in phases whose loads are independent of each other (bitmap words, bucket
    bounds, bucket entries, candidate codes), each prefetched a few items ahead within its
    phase (``_BITMAP_AHEAD``, ``_AHEAD``; a bucket's first and last entry), so the CPU
    overlaps the cache misses instead of waiting for each one;
    arrays are indexed as flat rows (no per-row views). ``scratch`` is a caller-owned int64
    work array (reused across calls, so a query does not allocate and fault in fresh pages);
    it is grown here when too small. Returns CSR ``(offsets (q+1,), positions, distances)``
    and the scratch array.
    """
    m = taus.shape[0]
    nq = queries.shape[0]
    stride = offsets.shape[1]
    n = entries.shape[1]
    off_flat = offsets.reshape(-1)
    ent_flat = entries.reshape(-1)
    probes = 0
    for t in range(m):
        if taus[t] >= 0:
            probes += mask_cnt[t]
    out_off = np.zeros(nq + 1, dtype=np.int64)
    pos_buf = np.empty(64, dtype=np.int64)
    dist_buf = np.empty(64, dtype=np.int64)
    size = 0
    qsub = np.empty(m, dtype=np.uint64)
    if scratch.shape[0] < 4 * probes + 4096:
        scratch = np.empty(4 * probes + 8192, dtype=np.int64)
    pr_s = scratch[:probes]  # substring value
    pr_t = scratch[probes : 2 * probes]  # its table
    pr_lo = scratch[2 * probes : 3 * probes]
    pr_hi = scratch[3 * probes : 4 * probes]
    cand = scratch[4 * probes :]  # position | table << 40
    pos_mask = (_ONE << np.uint64(pos_bits)) - _ONE
    has_removed = removed.shape[0] > 0
    for qi in range(nq):
        q0 = queries[qi, 0]
        q1 = queries[qi, 1]
        q2 = queries[qi, 2]
        q3 = queries[qi, 3]
        # phase 1: the bitmap word of each high part within tau of the query's
        ng = 0
        for t in range(m):
            qsub[t] = substring_at(queries, qi, starts[t], widths[t])
            if taus[t] < 0:
                continue
            qh = np.int64(qsub[t] >> np.uint64(6))
            first = group_off[t]
            bo = bm_off[t]
            for j in range(first, first + group_cnt[t]):
                wi = qh ^ (groups[j] >> 8)
                pr_lo[ng] = wi
                pr_hi[ng] = (np.int64(t) << 8) | (groups[j] & 255)
                if ng < _BITMAP_AHEAD:
                    _prefetch_at(bitmaps, bo + wi)
                ng += 1
        # phase 2: the substrings some code has, from each word's bits within the low radius;
        # prefetch bucket bounds
        nb = 0
        for g in range(ng):
            if g + _BITMAP_AHEAD < ng:
                j = g + _BITMAP_AHEAD
                _prefetch_at(bitmaps, bm_off[pr_hi[j] >> 8] + pr_lo[j])
            t = pr_hi[g] >> 8
            wi = pr_lo[g]
            hits = bitmaps[bm_off[t] + wi] & near[pr_hi[g] & 255, np.int64(qsub[t] & np.uint64(63))]
            while hits:
                low = hits & (~hits + _ONE)  # lowest set bit
                hits ^= low
                pr_s[nb] = (wi << 6) | _popc(low - _ONE)
                pr_t[nb] = t
                nb += 1
        for i in range(nb):
            t = pr_t[i]
            b = t * stride + (pr_s[i] >> (widths[t] - high_bits))
            pr_lo[i] = b
            if i < _AHEAD:
                _prefetch_at(off_flat, b)
        # phase 3: bucket bounds (independent loads); prefetch each bucket's entries
        total = 0
        for i in range(nb):
            if i + _AHEAD < nb:
                _prefetch_at(off_flat, pr_lo[i + _AHEAD])
            b = pr_lo[i]
            base = pr_t[i] * n
            lo = np.int64(off_flat[b]) + base
            hi = np.int64(off_flat[b + 1]) + base
            pr_lo[i] = lo
            pr_hi[i] = hi
            total += hi - lo
            if i < _AHEAD and hi > lo:
                _prefetch_at(ent_flat, lo)
                _prefetch_at(ent_flat, hi - 1)
        if total > cand.shape[0]:
            grown = np.empty(4 * probes + total + total // 2, dtype=np.int64)
            grown[: 4 * probes] = scratch[: 4 * probes]
            scratch = grown
            pr_s = scratch[:probes]
            pr_t = scratch[probes : 2 * probes]
            pr_lo = scratch[2 * probes : 3 * probes]
            pr_hi = scratch[3 * probes : 4 * probes]
            cand = scratch[4 * probes :]
        # phase 4: entries whose key bits are the substring's (branch-free)
        nc = 0
        for i in range(nb):
            if i + _AHEAD < nb:
                _prefetch_at(ent_flat, pr_lo[i + _AHEAD])
                _prefetch_at(ent_flat, pr_hi[i + _AHEAD] - 1)
            t = pr_t[i]
            low_bits = widths[t] - high_bits
            key_bits = min(low_bits, 32 - pos_bits)
            key_mask = (_ONE << np.uint64(key_bits)) - _ONE
            qk = np.uint64(pr_s[i] >> (low_bits - key_bits)) & key_mask
            tag = np.int64(t) << np.int64(40)
            for e in range(pr_lo[i], pr_hi[i]):
                x = np.uint64(ent_flat[e])
                cand[nc] = np.int64(x & pos_mask) | tag
                nc += (x >> np.uint64(pos_bits)) == qk
        # phase 5: verify candidates against the full code (independent loads)
        for c in range(min(nc, _AHEAD)):
            _prefetch(words, cand[c] & _POS40, 0)
        for c in range(nc):
            if c + _AHEAD < nc:
                _prefetch(words, cand[c + _AHEAD] & _POS40, 0)
            p = cand[c] & _POS40
            d = _popc(words[p, 0] ^ q0) + _popc(words[p, 1] ^ q1)
            if d > radius:
                continue
            d += _popc(words[p, 2] ^ q2) + _popc(words[p, 3] ^ q3)
            if d > radius:
                continue
            t = cand[c] >> np.int64(40)
            dup = False
            for u in range(t):
                if taus[u] >= 0:
                    xs = substring_at(words, p, starts[u], widths[u]) ^ qsub[u]
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
    return out_off, pos_buf[:size].copy(), dist_buf[:size].copy(), scratch


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
