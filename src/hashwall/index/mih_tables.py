"""The substring tables of multi-index hashing: how the 256 bits are split (:class:`Layout`),
which radius each table probes for a query radius (:func:`plan_radii`, a cost model), and the
immutable :class:`Segment` that holds the codes and the tables. :mod:`hashwall.index.mih` builds
its index from segments.

Layout (chosen by measurement, see ``docs/benchmarks.md``): the 256 bits are split into ``m``
contiguous substrings (11 of 23-24 bits for banks above 65,536 codes). Table ``t`` is a
counting sort of all positions by the top ``high_bits`` of substring ``t`` (about log2(n) - 2,
so buckets hold ~4 entries): an ``offsets`` array plus one uint32 per code in bucket order that
packs the code's position with the rest of its substring bits (as many as the position leaves
room for), and an occupancy bitmap of ``2**width`` bits (which substring values some code has;
at most 2 MiB per table, so substrings are at most 24 bits). Codes are stored once, sorted by
id (removal finds them by binary search).

Search at radius ``r`` gives each table a substring radius ``tau_t`` with
``sum(tau_t + 1) > r`` (the general pigeonhole principle): every code within ``r`` has some
substring ``t`` within ``tau_t``. The radii are chosen per query radius by a cost model; when
probing would cost more than a scan (large radii), the main segment is scanned.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hashwall.errors import InvalidInput
from hashwall.index import _kernels as k
from hashwall.index.base import (
    IdArray,
    WordArray,
)

PosArray = npt.NDArray[np.int64]
FORMAT_VERSION = 1

#: Widest substring: each table keeps a bitmap of 2**width bits (2 MiB at 24).
MAX_WIDTH = 24
#: Most substrings a query may look up across the tables before a scan is cheaper to run.
MAX_LOOKUPS = 1 << 18

# Cost model (ns, one core of the benchmark machine): a substring looked up in a bitmap, a
# bucket read (random reads of offsets and entries), an entry read in a bucket (sequential),
# a candidate (random 32-byte read), and a code in a full scan.
_BIT_NS = 3.0
_PROBE_NS = 50.0
_ENTRY_NS = 2.5
_CANDIDATE_NS = 20.0
_SCAN_NS = 1.0


@dataclass(frozen=True, slots=True)
class Layout:
    """Substring widths (contiguous, summing to 256) and the bits addressed by ``offsets``."""

    widths: tuple[int, ...]
    high_bits: int

    def __post_init__(self) -> None:
        if sum(self.widths) != 256 or not all(1 <= w <= MAX_WIDTH for w in self.widths):
            raise InvalidInput(f"substring widths must be 1..{MAX_WIDTH} bits and sum to 256")
        if not 1 <= self.high_bits <= min(self.widths) or self.high_bits > 24:
            raise InvalidInput("high_bits must be in 1..min(widths) and <= 24")

    @property
    def starts(self) -> tuple[int, ...]:
        """Bit offset of each substring."""
        out, acc = [], 0
        for w in self.widths:
            out.append(acc)
            acc += w
        return tuple(out)

    @property
    def bitmap_offsets(self) -> tuple[int, ...]:
        """Where each table's occupancy bitmap starts in the flat uint64 array (and its end)."""
        out, acc = [], 0
        for w in self.widths:
            out.append(acc)
            acc += max(1, (1 << w) // 64)
        return (*out, acc)

    @classmethod
    def split(cls, m: int, high_bits: int) -> Layout:
        """``m`` near-equal contiguous substrings (wider ones first)."""
        base, extra = divmod(256, m)
        widths = tuple(base + 1 if i < extra else base for i in range(m))
        return cls(widths, min(high_bits, *widths))

    @classmethod
    def for_size(cls, n: int) -> Layout:
        """The measured default for a bank of ``n`` codes (see docs/benchmarks.md)."""
        log_n = round(math.log2(max(n, 1)))
        if n <= 1 << 16:
            return cls.split(16, int(min(16, max(8, log_n - 3))))
        high = int(min(21, max(8, log_n - 2)))  # buckets of ~4 entries
        # 11 x 23-24 bits, tau = 2 at radius 31 (measured best from 1M to 10M, see docs)
        return cls.split(11, high)


def _release_free_memory() -> None:
    """Hand the build's freed scratch memory back to the OS (glibc keeps it otherwise)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


#: Codes from which a segment builds its tables on several threads.
PARALLEL_BUILD_MIN = 1 << 16


def _each_table(m: int, n: int, build: Callable[[int], None]) -> None:
    """``build(t)`` for every table ``t`` of a segment of ``n`` codes: on one thread per core
    for a big segment (the kernels release the GIL and each table writes only its own rows, so
    a 10M-code bank builds in about half the time on two cores), in order otherwise."""
    threads = min(m, os.cpu_count() or 1)
    if n < PARALLEL_BUILD_MIN or threads < 2:
        for t in range(m):
            build(t)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="mih-build") as pool:
        for done in [pool.submit(build, t) for t in range(m)]:
            done.result()  # re-raises a failed table's error


def pos_bits_for(n: int) -> int:
    """Bits needed for a position in a segment of ``n`` codes."""
    return max(1, (max(n, 1) - 1).bit_length())


def _combinations(n: int, k: int) -> float:
    return float(sum(math.comb(n, i) for i in range(k + 1))) if k >= 0 else 0.0


def plan_radii(layout: Layout, n: int, radius: int) -> tuple[npt.NDArray[np.int64], bool]:
    """Per-table substring radii for ``radius`` (``-1`` = unused) and whether to scan instead.

    Greedy on marginal cost; each unit of ``tau_t + 1`` counts one towards the ``radius + 1``
    the pigeonhole bound needs. Costs are convex in ``tau`` so greedy is optimal.
    """
    m = len(layout.widths)
    h = layout.high_bits
    key_bits = 32 - pos_bits_for(n)
    per_bucket = n / 2.0**h

    def cost(t: int, tau: int) -> float:
        if tau < 0:
            return 0.0
        w = layout.widths[t]
        lookups = _combinations(w, tau)
        occupied = lookups * -math.expm1(-n / 2.0**w)  # substrings some code has
        known = min(w, h + key_bits)  # bits compared before reading the code
        cands = lookups * n / 2.0**known
        return (
            lookups * _BIT_NS
            + occupied * (_PROBE_NS + per_bucket * _ENTRY_NS)
            + cands * _CANDIDATE_NS
        )

    taus = [-1] * m
    total = 0.0
    for _ in range(radius + 1):
        best_t, best_c = -1, math.inf
        for t in range(m):
            if taus[t] >= layout.widths[t]:
                continue
            c = cost(t, taus[t] + 1) - cost(t, taus[t])
            if c < best_c:
                best_t, best_c = t, c
        if best_t < 0:  # every bit enumerated: cannot happen for radius <= 63 and m >= 1
            return np.full(m, -1, dtype=np.int64), True
        taus[best_t] += 1
        total += best_c
    lookups = sum(_combinations(w, t) for w, t in zip(layout.widths, taus, strict=True))
    scan = n * _SCAN_NS < total or lookups > MAX_LOOKUPS
    return np.array(taus, dtype=np.int64), scan


def _near_masks() -> npt.NDArray[np.uint64]:
    """``near[r, x]``: the set of ``y`` in 0..63 with ``popcount(x ^ y) <= r``, as 64 bits."""
    x = np.arange(64, dtype=np.uint64)
    dist = np.bitwise_count(x[:, None] ^ x[None, :])
    bits = np.uint64(1) << x
    return np.array(
        [
            [np.bitwise_or.reduce(np.where(dist[i] <= r, bits, np.uint64(0))) for i in range(64)]
            for r in range(7)
        ],
        dtype=np.uint64,
    )


#: ``near[r, x]`` for low radii 0..6 (the search reads a bitmap 64 substring values a word).
NEAR = _near_masks()


def _groups(masks: npt.NDArray[np.uint32], tau: int) -> npt.NDArray[np.int64]:
    """The distinct high parts (bits above the low 6) of a table's flip masks, each packed as
    ``high << 8 | r`` with ``r`` the radius left for the low 6 bits (at most 6: all of them)."""
    high = np.unique(masks.astype(np.int64) >> 6)
    low = np.minimum(6, tau - np.bitwise_count(high).astype(np.int64))
    return (high << 8) | low


@dataclass(frozen=True, slots=True)
class Plan:
    taus: npt.NDArray[np.int64]
    scan: bool
    masks: npt.NDArray[np.uint32]  # each used table's flip masks (width w_t, <= tau_t bits)
    mask_off: npt.NDArray[np.int64]  # where table t's masks start
    mask_cnt: npt.NDArray[np.int64]  # how many (0 for unused tables)
    groups: npt.NDArray[np.int64]  # each used table's mask high parts (``_groups``)
    group_off: npt.NDArray[np.int64]  # where table t's groups start
    group_cnt: npt.NDArray[np.int64]  # how many (0 for unused tables)


@dataclass(frozen=True, slots=True)
class Segment:
    """The immutable main part: codes sorted by id, and the substring tables."""

    layout: Layout
    ids: IdArray  # sorted, unique
    words: WordArray  # (n, 4) uint64, aligned with ids
    offsets: npt.NDArray[np.uint32]  # (m, 2**high_bits + 1)
    entries: npt.NDArray[np.uint32]  # (m, n) position | key << pos_bits, in bucket order
    plans: dict[int, Plan] = field(default_factory=dict, compare=False)
    starts: npt.NDArray[np.int64] = field(init=False, compare=False)
    widths: npt.NDArray[np.int64] = field(init=False, compare=False)
    bm_off: npt.NDArray[np.int64] = field(init=False, compare=False)
    bitmaps: npt.NDArray[np.uint64] = field(init=False, compare=False)  # derived from words

    def __post_init__(self) -> None:
        lay = self.layout
        object.__setattr__(self, "starts", np.array(lay.starts, dtype=np.int64))
        object.__setattr__(self, "widths", np.array(lay.widths, dtype=np.int64))
        bm = lay.bitmap_offsets
        object.__setattr__(self, "bm_off", np.array(bm[:-1], dtype=np.int64))
        bitmaps = np.zeros(bm[-1], dtype=np.uint64)
        words, starts, widths, bm_off = self.words, self.starts, self.widths, self.bm_off

        def bitmap(t: int) -> None:  # one table's bitmap: its own range of ``bitmaps``
            s = slice(t, t + 1)
            k.build_bitmaps(words, starts[s], widths[s], bm_off[s], bitmaps)

        _each_table(len(lay.widths), int(self.ids.size), bitmap)
        object.__setattr__(self, "bitmaps", bitmaps)

    def plan(self, radius: int) -> Plan:
        """The probing plan for ``radius`` (memoised: it depends only on the layout and n)."""
        found = self.plans.get(radius)
        if found is None:
            taus, scan = plan_radii(self.layout, int(self.ids.size), radius)
            m = len(self.layout.widths)
            per_table = [
                k.flip_masks(w, int(t)) if t >= 0 and not scan else np.zeros(0, np.uint32)
                for w, t in zip(self.layout.widths, taus, strict=True)
            ]
            counts = np.array([a.size for a in per_table], dtype=np.int64)
            offsets = np.zeros(m, dtype=np.int64)
            offsets[1:] = np.cumsum(counts)[:-1]
            masks = np.concatenate(per_table) if counts.sum() else np.zeros(1, np.uint32)
            per_group = [
                _groups(a, int(t)) if a.size else np.zeros(0, np.int64)
                for a, t in zip(per_table, taus, strict=True)
            ]
            g_cnt = np.array([a.size for a in per_group], dtype=np.int64)
            g_off = np.zeros(m, dtype=np.int64)
            g_off[1:] = np.cumsum(g_cnt)[:-1]
            groups = np.concatenate(per_group) if g_cnt.sum() else np.zeros(1, np.int64)
            found = self.plans[radius] = Plan(
                taus, scan, masks, offsets, counts, groups, g_off, g_cnt
            )
        return found

    @property
    def pos_bits(self) -> int:
        """Bits of an entry that hold the position (the rest hold substring key bits)."""
        return pos_bits_for(int(self.ids.size))

    @classmethod
    def build(cls, ids: IdArray, words: WordArray, layout: Layout | None = None) -> Segment:
        n = int(ids.size)
        if n >= 2**32:
            raise InvalidInput("at most 2**32 - 1 codes per index segment")
        if n > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            order = np.argsort(ids, kind="stable")
            ids, words = ids[order], words[order]
        words = np.ascontiguousarray(words, dtype=np.uint64)
        lay = layout or Layout.for_size(n)
        m, h = len(lay.widths), lay.high_bits
        offsets = np.empty((m, (1 << h) + 1), dtype=np.uint32)
        entries = np.empty((m, n), dtype=np.uint32)
        starts, widths, pos_bits = lay.starts, lay.widths, pos_bits_for(n)

        def table(t: int) -> None:  # writes only row t of offsets and entries
            k.build_table(words, starts[t], widths[t], h, pos_bits, offsets[t], entries[t])

        _each_table(m, n, table)
        if n >= 1 << 16:
            _release_free_memory()
        return cls(lay, ids, words, offsets, entries)

    def nbytes(self) -> int:
        arrays = (self.ids, self.words, self.offsets, self.entries, self.bitmaps)
        return sum(int(a.nbytes) for a in arrays)


def empty_segment(layout: Layout | None) -> Segment:
    return Segment.build(np.zeros(0, np.int64), np.zeros((0, 4), np.uint64), layout)
