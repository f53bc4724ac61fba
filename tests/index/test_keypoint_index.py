"""``KeypointIndex``: the candidate stage finds exactly the items the hit rule names; a search
finds a banked picture from its copies and answers as brute force does; withdrawn items never
come back; empty cases answer empty."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageOps

from hashwall.bench.keypoints import random_keypoints
from hashwall.bench.pictures import scene
from hashwall.hashing.keypoint_verify import FIT_TOLERANCE
from hashwall.hashing.keypoints import (
    MIN_INLIERS,
    MIRROR_MASK,
    Keypoints,
    keypoints,
    match_inliers,
    upload_keypoints,
)
from hashwall.index.keypoints import MIN_HITS, KeypointIndex, quantise, rebuild

LOW = np.uint64(0xFFFFFFFF)


def upload(img: Image.Image) -> Keypoints:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    with Image.open(io.BytesIO(buf.getvalue())) as out:
        return upload_keypoints(np.asarray(out.convert("RGB")))


def banked(img: Image.Image) -> Keypoints:
    return keypoints(np.asarray(img))


def stored(kp: Keypoints) -> Keypoints:
    """What the index keeps of a banked set (16-bit geometry)."""
    return Keypoints.from_bytes(kp.to_bytes())


def random_codes(rng: np.random.Generator, n: int) -> npt.NDArray[np.uint64]:
    return rng.integers(0, 2**64, size=n, dtype=np.uint64)


def flip_bits(rng: np.random.Generator, code: np.uint64, bits: int, high: bool) -> np.uint64:
    at = rng.choice(32, size=bits, replace=False) + (32 if high else 0)
    out = int(code)
    for b in at.tolist():
        out ^= 1 << b
    return np.uint64(out)


def brute_hits(query: Keypoints, items: dict[int, Keypoints]) -> dict[int, int]:
    """Hits by the rule, pair by pair: low halves within 1 bit, or high halves within 1 bit;
    query codes counted per side (as is, mirrored), the larger side."""
    out: dict[int, int] = {}
    for item_id, kp in items.items():
        best = 0
        for codes in (query.codes, query.codes ^ MIRROR_MASK):
            x = codes[:, None] ^ kp.codes[None, :]
            low = np.bitwise_count(x & LOW) <= 1
            high = np.bitwise_count(x >> np.uint64(32)) <= 1
            best = max(best, int((low | high).any(axis=1).sum()) if kp.codes.size else 0)
        if best:
            out[item_id] = best
    return out


def test_quantised_geometry_is_what_to_bytes_stores() -> None:
    rng = np.random.default_rng(1)
    sets = [random_keypoints(rng, random_codes(rng, n)) for n in (5, 0, 17)]
    counts, codes, geometry = quantise(sets)
    assert counts.tolist() == [5, 0, 17]
    records = np.frombuffer(b"".join(s.to_bytes() for s in sets), dtype=np.uint16).reshape(-1, 8)
    assert np.array_equal(records[:, 4:], geometry)
    assert np.array_equal(records[:, :4].copy().view(np.uint64).ravel(), codes)
    back = rebuild(codes[:5], geometry[:5])
    ref = Keypoints.from_bytes(sets[0].to_bytes())
    for a, b in zip(
        (back.x, back.y, back.scale, back.angle), (ref.x, ref.y, ref.scale, ref.angle), strict=True
    ):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("delta_max", [None, 50])
def test_hits_are_exactly_the_pairs_within_the_rule(delta_max: int | None) -> None:
    rng = np.random.default_rng(7)
    items = {
        100 + i: random_keypoints(rng, random_codes(rng, int(rng.integers(0, 40))))
        for i in range(60)
    }
    # the upload: codes 1, 2, 3, 4 bits from banked ones in one half (some of them mirrored),
    # and random ones
    qcodes = []
    for item_id, kp in list(items.items())[:40]:
        if not len(kp):
            continue
        for _ in range(int(rng.integers(1, 4))):
            code = kp.codes[int(rng.integers(len(kp)))]
            near = flip_bits(rng, code, int(rng.integers(1, 5)), bool(rng.integers(2)))
            qcodes.append(near ^ MIRROR_MASK if item_id % 3 == 0 else near)
    qcodes.extend(random_codes(rng, 40).tolist())
    query = random_keypoints(rng, np.array(qcodes, dtype=np.uint64))
    index = KeypointIndex(delta_max_codes=delta_max)
    ids = list(items)
    for at in range(0, len(ids), 7):  # several adds: deltas and merges
        index.add(ids[at : at + 7], [items[i] for i in ids[at : at + 7]])
    truth = brute_hits(query, items)
    assert len(truth) > 20 and any(h >= 2 for h in truth.values())
    assert any(h == 1 for h in truth.values())
    got = dict(index.candidates(query, min_hits=1, vote=False))
    assert got == truth
    assert dict(index.candidates(query, min_hits=2, vote=False)) == {
        i: h for i, h in truth.items() if h >= 2
    }
    assert index.candidates(query, vote=False) == sorted(
        ((i, h) for i, h in truth.items() if h >= MIN_HITS), key=lambda t: (-t[1], t[0])
    )


def test_one_bit_off_in_a_half_is_a_hit_and_two_bits_in_each_are_not() -> None:
    rng = np.random.default_rng(3)
    base = random_codes(rng, 4)
    index = KeypointIndex()
    index.add([1], [random_keypoints(rng, base)])
    cases = {
        "1 low": flip_bits(rng, base[0], 1, False),
        "1 high": flip_bits(rng, base[0], 1, True),
        "2 low + 1 high": flip_bits(rng, flip_bits(rng, base[0], 2, False), 1, True),
    }
    for name, code in cases.items():
        assert index.candidates(
            random_keypoints(rng, np.array([code])), min_hits=1, vote=False
        ) == [(1, 1)], name
    for bit in range(64):  # one bit off anywhere: a hit; and one bit in each half too
        code = np.uint64(int(base[0]) ^ (1 << bit))
        assert index.candidates(
            random_keypoints(rng, np.array([code])), min_hits=1, vote=False
        ) == [(1, 1)], bit
        code = np.uint64(int(base[0]) ^ (1 << bit) ^ (1 << ((bit + 32) % 64)))
        assert index.candidates(
            random_keypoints(rng, np.array([code])), min_hits=1, vote=False
        ) == [(1, 1)], bit
    two_and_two = flip_bits(rng, flip_bits(rng, base[0], 2, False), 2, True)
    assert (
        index.candidates(random_keypoints(rng, np.array([two_and_two])), min_hits=1, vote=False)
        == []
    )
    # mirrored: the upload's code is the banked one with the mirror bits inverted
    mirrored = random_keypoints(rng, np.array([base[1] ^ MIRROR_MASK, base[2] ^ MIRROR_MASK]))
    assert index.candidates(mirrored, min_hits=2, vote=False) == [(1, 2)]


@pytest.fixture(scope="module")
def pictures() -> dict[int, Image.Image]:
    return {seed: scene(seed) for seed in (3, 11, 12, 13, 14, 15)}


@pytest.fixture(scope="module")
def bank(pictures: dict[int, Image.Image]) -> dict[int, Keypoints]:
    return {seed: banked(img) for seed, img in pictures.items()}


COPIES = {
    "crop 20% off-centre": lambda im: im.crop(
        (round(im.width * 0.18), round(im.height * 0.02), round(im.width * 0.98), im.height)
    ),
    "mirrored": ImageOps.mirror,
    "turned 90": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "turned 8 degrees": lambda im: im.rotate(8, resample=Image.Resampling.BICUBIC).crop(
        (
            round(im.width * 0.12),
            round(im.height * 0.12),
            round(im.width * 0.88),
            round(im.height * 0.88),
        )
    ),
}


@pytest.mark.parametrize("name", list(COPIES))
def test_a_copy_finds_its_picture_as_brute_force_does(
    name: str, pictures: dict[int, Image.Image], bank: dict[int, Keypoints]
) -> None:
    rng = np.random.default_rng(5)
    items = dict(bank)
    # and random items, so that the picture is not alone
    items.update({1000 + i: random_keypoints(rng, random_codes(rng, 83)) for i in range(200)})
    index = KeypointIndex()
    index.add(list(items), list(items.values()))
    query = upload(COPIES[name](pictures[3]))
    truth = sorted(
        (
            (i, n)
            for i, kp in items.items()
            if (n := match_inliers(query, stored(kp))) >= MIN_INLIERS
        ),
        key=lambda t: (-t[1], t[0]),
    )
    assert truth and truth[0][0] == 3
    assert index.search(query) == truth
    assert 3 in dict(index.candidates(query))


def test_removed_items_never_come_back(
    pictures: dict[int, Image.Image], bank: dict[int, Keypoints]
) -> None:
    rng = np.random.default_rng(9)
    query = upload(COPIES["mirrored"](pictures[3]))
    index = KeypointIndex(delta_max_codes=300)
    index.add([3, 11], [bank[3], bank[11]])
    assert [i for i, _ in index.search(query)] == [3]
    index.remove([3])
    assert len(index) == 1
    assert index.search(query) == []
    assert all(i != 3 for i, _ in index.candidates(query, min_hits=1))
    assert index.keypoints(3) is None
    # more adds (the delta is merged into the main segment), removals (compaction), a replay
    for k in range(6):
        index.add([50 + k], [random_keypoints(rng, random_codes(rng, 83))])
    index.remove([11, 999])
    index.compact()
    assert len(index) == 6
    for i, _ in index.candidates(query, min_hits=1):
        assert i != 3
    assert index.search(query) == []
    # banked again: found again; then replaced by other keypoints: gone
    index.add([3], [bank[3]])
    assert [i for i, _ in index.search(query)] == [3]
    index.add([3], [bank[12]])
    assert index.search(query) == []
    keep = index.keypoints(3)
    assert keep is not None and np.array_equal(keep.codes, bank[12].codes)


def test_empty_index_query_and_items() -> None:
    rng = np.random.default_rng(2)
    empty = KeypointIndex()
    some = random_keypoints(rng, random_codes(rng, 30))
    none = random_keypoints(rng, np.zeros(0, dtype=np.uint64))
    assert len(empty) == 0 and empty.candidates(some) == [] and empty.search(some) == []
    index = KeypointIndex()
    index.add([1, 2], [none, some])
    assert len(index) == 2
    assert index.candidates(none) == [] and index.search(none) == []
    assert index.candidates(some) == [(2, 30)]
    assert index.search(some) == [(2, match_inliers(some, stored(some)))]
    index.remove([2])
    assert index.candidates(some) == [] and len(index) == 1
    index.add([], [])
    assert len(index) == 1 and index.nbytes() > 0


def test_a_batch_with_a_repeated_id_keeps_the_last() -> None:
    rng = np.random.default_rng(4)
    a, b = (
        random_keypoints(rng, random_codes(rng, 10)),
        random_keypoints(rng, random_codes(rng, 12)),
    )
    index = KeypointIndex()
    index.add([7, 7], [a, b])
    assert len(index) == 1
    assert index.candidates(a, min_hits=1) == []
    assert index.candidates(b) == [(7, 12)]


@pytest.mark.parametrize("bits", [1, 4, 15, 16, 23, 24, 25])
def test_the_half_table_finds_every_key_within_one_bit(bits: int) -> None:
    from hashwall.index.keypoint_tables import _HalfTable

    rng = np.random.default_rng(bits)
    keys = rng.integers(0, 2**32, size=3000, dtype=np.uint64)
    keys[:300] = keys[300:600]  # repeated keys
    keys[600:700] = keys[700:800] ^ np.uint64(1 << int(rng.integers(32)))  # neighbours
    keys[800:810] = [0, 1, 2**31, 2**32 - 1, 2**32 - 2, 255, 256, 2**24, 2**24 - 1, 2**8 + 1]
    items = rng.integers(0, 500, size=keys.size, dtype=np.uint64)
    table = _HalfTable.build(keys << np.uint64(32), items, bits=bits)
    assert table.rest.dtype == (np.uint8 if bits >= 24 else np.uint16 if bits >= 16 else np.uint32)
    probes = np.concatenate(
        [
            keys[rng.integers(0, keys.size, 200)] ^ np.uint64(1 << int(rng.integers(32))),
            keys[rng.integers(0, keys.size, 100)],
            rng.integers(0, 2**32, size=100, dtype=np.uint64),
            np.array([0, 2**32 - 1], dtype=np.uint64),
        ]
    ).astype(np.uint32)
    owners, found = table.probe(probes)
    got = sorted(zip(owners.tolist(), found.tolist(), strict=True))
    near = np.bitwise_count(probes.astype(np.uint64)[:, None] ^ keys[None, :]) <= 1
    q, k = np.nonzero(near)
    assert got == sorted(zip(q.tolist(), items[k].tolist(), strict=True))
    assert len(got) > 300


def test_the_bench_runs_at_a_tiny_size() -> None:
    import json

    from typer.testing import CliRunner

    from hashwall.cli.main import app

    args = ["bench", "keypoints", "--n", "300", "--queries", "5", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["n"] == 300 and doc["data"] == "random"
    assert 80 < doc["codes_per_item"] < 90 and doc["bytes_per_item"] > 83 * 26
    assert doc["misses"]["checks"] == 5 and doc["misses"]["codes_per_check"] == 186
    assert doc["copies"] and all(r["first"] and r["inliers"] >= MIN_INLIERS for r in doc["copies"])
    assert all(r["hits"] >= 2 for r in doc["copies"])


def placed(
    codes: npt.NDArray[np.uint64],
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    scale: npt.NDArray[np.float64],
    angle: npt.NDArray[np.float64],
) -> Keypoints:
    f = np.float32
    wrapped = (angle + np.pi) % (2 * np.pi) - np.pi
    return Keypoints(x.astype(f), y.astype(f), scale.astype(f), wrapped.astype(f), codes)


def test_three_hits_that_one_placement_explains_make_a_candidate() -> None:
    # each item: random keypoints; its upload: three of them moved by a similarity (any
    # scale, turn and shift, mirrored for odd items), their scales, angles and places off by
    # up to the verification's tolerances (of its fit), codes one bit off
    rng = np.random.default_rng(21)
    items = {i: stored(random_keypoints(rng, random_codes(rng, 80))) for i in range(60)}
    index = KeypointIndex()
    index.add(list(items), list(items.values()))
    for i, kp in items.items():
        pick = rng.choice(len(kp), size=3, replace=False)
        zb = kp.x[pick] + 1j * kp.y[pick].astype(np.float64)
        a = np.exp(rng.uniform(np.log(0.3), np.log(2.0)) + 1j * rng.uniform(-np.pi, np.pi))
        t = rng.uniform(-0.3, 0.3) + 1j * rng.uniform(-0.3, 0.3)
        off = 0.99 * FIT_TOLERANCE * min(max(abs(a), 0.35), 1.0) * rng.uniform(0.8, 1, 3)
        zq = a * zb + t + off * np.exp(1j * rng.uniform(0, 2 * np.pi, 3))
        log_s = np.log(abs(a)) + rng.uniform(-0.24, 0.24, 3)
        turn = np.angle(a) + rng.uniform(-0.34, 0.34, 3)
        codes = np.array([flip_bits(rng, c, 1, bool(rng.integers(2))) for c in kp.codes[pick]])
        copy = placed(
            codes, zq.real, zq.imag, kp.scale[pick] * np.exp(log_s), kp.angle[pick] + turn
        )
        if i % 2:
            copy = copy.mirrored()
        noise = random_keypoints(rng, random_codes(rng, 150))
        query = Keypoints(
            *(
                np.concatenate([getattr(copy, f), getattr(noise, f)])
                for f in ("x", "y", "scale", "angle", "codes")
            )
        )
        assert i in dict(index.candidates(query)), i


def test_codes_common_to_every_photo_do_not_make_every_item_a_candidate() -> None:
    # 12 generic codes (a plain edge looks alike in any photo) in every banked photo and in
    # the upload, each time at other places, scales and angles
    rng = np.random.default_rng(8)
    common = random_codes(rng, 12)
    items = {
        i: random_keypoints(rng, np.concatenate([common, random_codes(rng, 70)]))
        for i in range(300)
    }
    index = KeypointIndex()
    index.add(list(items), list(items.values()))
    query = random_keypoints(rng, np.concatenate([common, random_codes(rng, 170)]))
    assert len(index.candidates(query, vote=False)) == 300
    # by chance, three of an item's 12 hits may agree (2 of 300 here); never most of them
    assert len(index.candidates(query)) <= 6
    assert index.candidates(query, min_hits=4) == []


def test_one_banked_point_hit_by_many_upload_codes_counts_once() -> None:
    rng = np.random.default_rng(6)
    banked_kp = random_keypoints(rng, random_codes(rng, 1))
    index = KeypointIndex()
    index.add([1], [banked_kp])
    codes = np.array([flip_bits(rng, banked_kp.codes[0], 1, False) for _ in range(5)])
    query = placed(
        codes,
        np.full(5, 0.5) + np.arange(5) * 0.01,
        np.full(5, 0.5),
        np.full(5, float(banked_kp.scale[0])),
        np.full(5, float(banked_kp.angle[0])),
    )
    assert index.candidates(query, vote=False) == [(1, 5)]
    assert index.candidates(query, min_hits=1) == [(1, 1)]
    assert index.candidates(query) == []
    # and a keypoint's second orientation (same place) is not a second point
    twice = Keypoints(
        np.repeat(banked_kp.x, 3),
        np.repeat(banked_kp.y, 3),
        np.repeat(banked_kp.scale, 3),
        np.repeat(banked_kp.angle, 3),
        random_codes(rng, 3),
    )
    index.add([2], [twice])
    assert index.candidates(twice, min_hits=1) == [(2, 1)]


def test_the_real_photo_bench_compares_both_rules_on_a_small_set(
    pictures: dict[int, Image.Image], bank: dict[int, Keypoints]
) -> None:
    from hashwall.bench.keypoint_photos import PhotoSet, bank_sizes, measure

    assert bank_sizes(1104) == [100, 200, 400, 800, 1104] and bank_sizes(50) == [50]
    order = list(bank)
    copies = [(order.index(3), name, upload(COPIES[name](pictures[3]))) for name in COPIES]
    photo = PhotoSet([bank[s] for s in order], copies, [("plain", upload(scene(40)))])
    rows, extra = measure(photo, [2, len(order)], MIN_HITS, lambda msg: None)
    assert [(r["n"], r["rule"]) for r in rows] == [
        (2, "plain"),
        (2, "vote"),
        (6, "plain"),
        (6, "vote"),
    ]
    assert len(extra["copy_inliers"]) == len(COPIES)
    for r in rows:
        assert r["copies_accepted"] == len(COPIES)
        assert r["recall"] == 1.0 and r["copies_found"] == r["copies_accepted"]
        assert r["bytes_per_item"] > 0


def test_the_placement_test_answers_alike_in_chunks(
    monkeypatch: pytest.MonkeyPatch, pictures: dict[int, Image.Image], bank: dict[int, Keypoints]
) -> None:
    import hashwall.index.keypoint_votes as module

    rng = np.random.default_rng(13)
    common = random_codes(rng, 12)
    items: dict[int, Keypoints] = dict(bank)
    items.update(
        {
            100 + i: random_keypoints(rng, np.concatenate([common, random_codes(rng, 70)]))
            for i in range(100)
        }
    )
    index = KeypointIndex()
    index.add(list(items), list(items.values()))
    copy = upload(COPIES["crop 20% off-centre"](pictures[3]))
    query = Keypoints(
        *(
            np.concatenate([getattr(copy, f), getattr(random_keypoints(rng, common), f)])
            for f in ("x", "y", "scale", "angle", "codes")
        )
    )
    whole = index.candidates(query, min_hits=3)
    assert whole and whole[0][0] == 3
    monkeypatch.setattr(module, "ALIGN_CHUNK", 1)
    assert index.candidates(query, min_hits=3) == whole
