"""One contract for every HashIndex implementation: exactly the answers of an independent
reference scan (``index_codes.ReferenceScan``, which shares no code with the indexes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashwall.errors import InvalidHash, InvalidInput
from hashwall.hashing.codes import Hash256
from hashwall.index.base import MAX_ID, HashIndex, Match
from hashwall.index.brute import BruteForceIndex
from hashwall.index.mih import MihIndex
from hashwall.index.mih_tables import Layout, plan_radii

from index_codes import ReferenceScan, clustered_codes, flip_bits, random_codes

Factory = Callable[[], HashIndex]

FACTORIES: dict[str, Factory] = {
    "brute": BruteForceIndex,
    "mih": MihIndex,
    "mih_compacting": lambda: MihIndex(delta_max=7, removed_max=5),
    "mih_11x8": lambda: MihIndex(layout=Layout.split(11, 8), delta_max=16, removed_max=16),
    "mih_12x10": lambda: MihIndex(layout=Layout.split(12, 10), delta_max=0, removed_max=0),
    "mih_32x4": lambda: MihIndex(layout=Layout.split(32, 4)),
}


@pytest.fixture(params=sorted(FACTORIES))
def make(request: pytest.FixtureRequest) -> Factory:
    return FACTORIES[request.param]


def h(row: np.ndarray) -> Hash256:
    return Hash256(bytes(row))


def assert_same_as_oracle(
    index: HashIndex, oracle: ReferenceScan, queries: np.ndarray, radii: tuple[int, ...]
) -> None:
    assert len(index) == len(oracle)
    for r in radii:
        assert index.search_many(queries, r) == oracle.search_many(queries, r), f"radius {r}"
    assert index.search(h(queries[0]), radii[-1]) == oracle.search(queries[0], radii[-1])


@pytest.mark.parametrize("kind", ["random", "clustered"])
def test_answers_equal_the_oracle_for_every_radius(make: Factory, kind: str) -> None:
    rng = np.random.default_rng(1)
    gen = random_codes if kind == "random" else clustered_codes
    codes = gen(rng, 3000)
    ids = np.unique(rng.integers(0, 10**12, size=3100))[:3000]
    rng.shuffle(ids)
    index, oracle = make(), ReferenceScan()
    index.add(ids, codes)
    oracle.add(ids, codes)
    queries = np.concatenate([flip_bits(rng, codes[:20], 0, 63), gen(rng, 10)])
    assert_same_as_oracle(index, oracle, queries, (0, 1, 8, 15, 31, 32, 47, 63))


def test_a_query_finds_itself_at_distance_zero(make: Factory) -> None:
    codes = random_codes(np.random.default_rng(2), 500)
    index = make()
    index.add(np.arange(500), codes)
    for i in (0, 17, 499):
        assert Match(i, 0) in index.search(h(codes[i]), 0)


def test_empty_index_returns_nothing(make: Factory) -> None:
    index = make()
    q = random_codes(np.random.default_rng(3), 8)
    assert len(index) == 0
    assert index.search(h(q[0]), 63) == []
    assert index.search_many(q, 31) == [[] for _ in range(8)]
    assert index.search_dihedral(q, 31) == []


def test_index_with_exactly_one_hash_matches_it(make: Factory) -> None:
    code = random_codes(np.random.default_rng(4), 1)
    index = make()
    index.add([42], code)
    assert index.search(h(code[0]), 0) == [Match(42, 0)]
    near = flip_bits(np.random.default_rng(5), code, 31, 31)
    assert index.search(h(near[0]), 31) == [Match(42, 31)]
    assert index.search(h(near[0]), 30) == []


def test_duplicate_hashes_under_different_ids_all_match(make: Factory) -> None:
    code = random_codes(np.random.default_rng(6), 1)
    index = make()
    index.add([7, 3, 9], np.repeat(code, 3, axis=0))
    assert index.search(h(code[0]), 0) == [Match(3, 0), Match(7, 0), Match(9, 0)]
    index.remove([3])
    assert index.search(h(code[0]), 5) == [Match(7, 0), Match(9, 0)]


def test_adding_an_existing_id_replaces_its_hash(make: Factory) -> None:
    a, b = random_codes(np.random.default_rng(7), 2)
    index = make()
    index.add([1, 1], np.stack([a, b]))  # last one wins within a batch
    assert len(index) == 1
    assert index.search(h(a), 10) == []
    index.add([1], a[None, :])
    assert index.search(h(a), 0) == [Match(1, 0)]
    assert index.search(h(b), 10) == []


def test_removing_an_unknown_id_is_a_no_op(make: Factory) -> None:
    codes = random_codes(np.random.default_rng(8), 50)
    index = make()
    index.remove([1, 2, 3])
    index.add(np.arange(50), codes)
    index.remove([10**12, 50, MAX_ID])
    assert len(index) == 50
    assert index.search(h(codes[0]), 0) == [Match(0, 0)]


def test_removal_takes_effect_for_the_next_query(make: Factory) -> None:
    codes = random_codes(np.random.default_rng(9), 200)
    index = make()
    index.add(np.arange(200), codes)
    index.remove([5])
    assert index.search(h(codes[5]), 63) == []
    index.add([5], codes[5:6])
    assert index.search(h(codes[5]), 0) == [Match(5, 0)]


def test_ids_up_to_2_63_minus_1(make: Factory) -> None:
    codes = random_codes(np.random.default_rng(10), 3)
    ids = np.array([MAX_ID, 0, MAX_ID - 1], dtype=np.uint64)
    index = make()
    index.add(ids, codes)
    assert index.search(h(codes[0]), 0) == [Match(MAX_ID, 0)]
    assert isinstance(index.search(h(codes[0]), 0)[0].id, int)
    index.remove(np.array([MAX_ID], dtype=np.uint64))
    assert index.search(h(codes[0]), 0) == []


@pytest.mark.parametrize("bad", [[-1], [2**63], np.array([1.5])])
def test_out_of_range_ids_are_rejected(make: Factory, bad: object) -> None:
    with pytest.raises(InvalidInput):
        make().add(bad, random_codes(np.random.default_rng(0), 1))


@pytest.mark.parametrize("radius", [-1, 64, 256])
def test_radius_outside_0_to_63_is_rejected(make: Factory, radius: int) -> None:
    code = random_codes(np.random.default_rng(0), 1)
    with pytest.raises(InvalidInput):
        make().search(h(code[0]), radius)


def test_malformed_hash_arrays_are_rejected(make: Factory) -> None:
    with pytest.raises(InvalidHash):
        make().add([1], np.zeros((1, 31), dtype=np.uint8))
    with pytest.raises(InvalidInput):
        make().add([1, 2], np.zeros((1, 32), dtype=np.uint8))


def test_dihedral_reports_best_distance_and_its_orientation(make: Factory) -> None:
    rng = np.random.default_rng(11)
    codes = clustered_codes(rng, 2000)
    index, oracle = make(), ReferenceScan()
    index.add(np.arange(2000), codes)
    oracle.add(np.arange(2000), codes)
    for start in (0, 100, 1000):
        orientations = flip_bits(rng, codes[start : start + 8], 0, 40)
        orientations[3] = codes[start + 50]  # an exact copy seen in orientation 3
        got = index.search_dihedral([h(r) for r in orientations], 31)
        assert got == oracle.search_dihedral(orientations, 31)
        assert next(m for m in got if m.id == start + 50)[1:] == (0, 3)


def test_save_and_load_round_trip_without_pickle(make: Factory, tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    codes = clustered_codes(rng, 1500)
    index = make()
    index.add(np.arange(1500) * 3, codes)
    index.remove([0, 3, 6])
    index.add([1], codes[:1])
    index.save(tmp_path / "ix")
    assert all(p.suffix in {".npy", ".json"} for p in (tmp_path / "ix").iterdir())
    for mmap in (False, True):
        loaded = type(index).load(tmp_path / "ix", mmap=mmap)
        q = flip_bits(rng, codes[:10], 0, 40)
        assert len(loaded) == len(index)
        assert loaded.search_many(q, 31) == index.search_many(q, 31)
        loaded.add([10**15], codes[5:6])  # a loaded (even memory-mapped) index stays mutable
        assert Match(10**15, 0) in loaded.search(h(codes[5]), 0)


# --- random operation sequences (hypothesis) --------------------------------------------------

POOL = clustered_codes(np.random.default_rng(13), 400)

op = st.one_of(
    st.tuples(st.just("add"), st.lists(st.integers(0, 399), min_size=1, max_size=30)),
    st.tuples(st.just("remove"), st.lists(st.integers(0, 450), min_size=1, max_size=10)),
    st.tuples(st.just("search"), st.integers(0, 399), st.sampled_from([0, 5, 31, 32, 63])),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=25), name=st.sampled_from(sorted(FACTORIES)))
def test_interleaved_adds_removes_and_searches_match_the_oracle(
    ops: list[tuple], name: str
) -> None:
    index, oracle = FACTORIES[name](), ReferenceScan()
    rng = np.random.default_rng(len(ops))
    for o in ops:
        if o[0] == "add":
            ids = np.array(o[1]) % 300  # ids collide on purpose: re-adds replace
            codes = POOL[np.array(o[1])]
            index.add(ids, codes)
            oracle.add(ids, codes)
        elif o[0] == "remove":
            index.remove(o[1])
            oracle.remove(o[1])
        else:
            q = flip_bits(rng, POOL[o[1] : o[1] + 1], 0, 20)
            assert index.search_many(q, o[2]) == oracle.search_many(q, o[2])
        assert len(index) == len(oracle)


def _flip_in(code: np.ndarray, start: int, width: int, k: int, rng: np.random.Generator) -> None:
    bits = rng.choice(width, size=k, replace=False) + start
    for b in bits:
        code[b // 8] ^= np.uint8(0x80 >> (b % 8))


@pytest.mark.parametrize(
    ("layout", "radius"),
    [(None, 31), (None, 20), (None, 40), (Layout.split(16, 12), 31), (Layout.split(12, 10), 31)],
)
def test_every_table_finds_what_only_it_can_find(layout: Layout | None, radius: int) -> None:
    # Codes at distance exactly `radius` whose only substring within its probe radius is in
    # table t: missed unless table t probes the right buckets. Large enough that the tables,
    # not a scan, answer.
    rng = np.random.default_rng(7)
    n = 100_000
    codes = random_codes(rng, n)
    index = MihIndex.from_arrays(np.arange(n), codes, layout=layout)
    lay = index.layout
    taus, scan = plan_radii(lay, n, radius)
    assert not scan and int((taus + 1).sum()) == radius + 1
    queries = []
    for t in range(len(lay.widths)):
        if taus[t] < 0:
            continue
        for row in rng.choice(n, size=3, replace=False):
            q = codes[row].copy()
            for u, (start, width) in enumerate(zip(lay.starts, lay.widths, strict=True)):
                flips = int(taus[u]) if u == t else int(taus[u]) + 1
                if flips > 0:
                    _flip_in(q, start, width, flips, rng)
            queries.append(q)
    qs = np.stack(queries)
    oracle = ReferenceScan()
    oracle.add(np.arange(n), codes)
    found = index.search_many(qs, radius)
    assert found == oracle.search_many(qs, radius)
    assert all(any(m.distance == radius for m in hits) for hits in found)


@pytest.mark.parametrize("widths", [(32,) * 8, (25,) + (23,) * 10 + (1,), (16,) * 15])
def test_layouts_outside_the_limits_are_rejected(widths: tuple[int, ...]) -> None:
    # substrings of more than 24 bits would need bitmaps of over 2 MiB per table
    with pytest.raises(InvalidInput):
        Layout(widths, 8)


def test_sample_id_draws_only_ids_held_now() -> None:
    import random

    rng = np.random.default_rng(3)
    codes = random_codes(rng, 400)
    index = MihIndex.from_arrays(np.arange(400, dtype=np.int64), codes)
    draw = random.Random(1)
    assert MihIndex.from_arrays(np.zeros(0, np.int64), codes[:0]).sample_id(draw) is None
    index.remove(np.arange(0, 400, 2, dtype=np.int64))  # tombstones in the main segment
    index.add(np.array([1000, 1001], dtype=np.int64), random_codes(rng, 2))  # the delta
    seen = {index.sample_id(draw) for _ in range(2000)}
    held = set(range(1, 400, 2)) | {1000, 1001}
    assert None not in seen and seen <= held
    assert {1000, 1001} <= seen and len(seen) > 150  # main and delta both drawn


def test_tables_built_on_threads_equal_tables_built_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A big segment builds its tables one per thread; what it builds is the same."""
    from hashwall.index import mih_tables

    ids = np.arange(70_000, dtype=np.int64) * 3
    codes = clustered_codes(np.random.default_rng(8), 70_000)
    monkeypatch.setattr(mih_tables.os, "cpu_count", lambda: 4)
    threaded = MihIndex.from_arrays(ids, codes)._snap.main
    monkeypatch.setattr(mih_tables, "PARALLEL_BUILD_MIN", 1 << 62)
    in_order = MihIndex.from_arrays(ids, codes)._snap.main
    for name in ("ids", "words", "offsets", "entries", "bitmaps"):
        assert np.array_equal(getattr(threaded, name), getattr(in_order, name)), name
    assert threaded.bitmaps.any() and len(threaded.layout.widths) > 1


@pytest.mark.parametrize("radius", [3, 12, 31])
def test_substrings_narrower_than_a_bitmap_word_are_probed_exactly(
    radius: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Substrings of 4-7 bits (one bitmap word or a few: the search reads the bitmap a word of
    64 values at a time) find what a scan finds, with the tables forced on (no scan)."""
    from hashwall.index import mih_tables

    layout = Layout((4, 5, 6, 7) + (24,) * 9 + (18,), 4)
    taus = np.array([1, 2, 2, 3] + [-1] * 10, dtype=np.int64)  # the narrow ones all probed
    t = 4
    while int((taus + 1).sum()) <= radius:  # the pigeonhole bound, over the wide ones
        taus[t] += 1
        t = 4 + (t - 3) % 10
    monkeypatch.setattr(mih_tables, "plan_radii", lambda *a: (taus, False))
    rng = np.random.default_rng(11)
    codes = clustered_codes(rng, 3000)
    index = MihIndex.from_arrays(np.arange(codes.shape[0]), codes, layout=layout)
    assert not index._snap.main.plan(radius).scan
    oracle = ReferenceScan()
    oracle.add(np.arange(codes.shape[0]), codes)
    qs = flip_bits(rng, codes[rng.choice(codes.shape[0], size=40, replace=False)], 0, radius + 2)
    found = index.search_many(qs, radius)
    assert found == oracle.search_many(qs, radius)
    assert sum(len(f) for f in found) >= 20
