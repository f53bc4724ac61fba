"""A revealed distance is coarse and keyed by the banked hash: no hill-climbing to rebuild it."""

from __future__ import annotations

import numpy as np

from hashwall.hashing.pdq import PdqHash
from hashwall.service.check import REVEAL_BAND, coarse_distance


def _flip(code: PdqHash, bit: int) -> PdqHash:
    bits = code.bits().copy()
    bits[bit] ^= 1
    return PdqHash.from_bits(bits)


def _one_step(reveal: object, banked: PdqHash, start: PdqHash) -> tuple[float, float]:
    """The attack's step (flip bit i, ask, keep it if the answer went down), for every bit:
    how often the answer went down for the bits that bring ``start`` closer (its recall), and
    for the others (its false alarms)."""
    assert callable(reveal)
    here = reveal(start)
    wrong = banked.bits() != start.bits()  # flipping these brings start closer
    down = np.array([reveal(_flip(start, bit)) < here for bit in range(256)])
    return float(down[wrong].mean()), float(down[~wrong].mean())


def test_coarse_distance_is_a_band_within_seven_bits_and_stable() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        banked = PdqHash.from_bits(rng.integers(0, 2, 256))
        upload = PdqHash.from_bits(rng.integers(0, 2, 256))
        true = banked.distance(upload)
        shown = coarse_distance(true, banked, upload)
        assert shown % REVEAL_BAND == 0 and abs(shown - true) < REVEAL_BAND
        assert coarse_distance(true, banked, upload) == shown  # asking again teaches nothing


def test_one_bit_steps_of_a_hill_climb_learn_little_from_coarse_distances() -> None:
    rng = np.random.default_rng(9)
    exact, coarse = [], []
    for _ in range(16):
        banked = PdqHash.from_bits(rng.integers(0, 2, 256))
        bits = banked.bits().copy()
        bits[rng.choice(256, size=20, replace=False)] ^= 1  # an upload 20 bits away
        start = PdqHash.from_bits(bits)
        exact.append(_one_step(lambda u, b=banked: b.distance(u), banked, start))
        coarse.append(
            _one_step(lambda u, b=banked: coarse_distance(b.distance(u), b, u), banked, start)
        )
    assert all(step == (1.0, 0.0) for step in exact)  # the exact distance gives every bit away
    # Coarse: a bit that brings the upload closer makes the answer go down a little more often
    # than one that does not (about 0.24 against 0.14 at 20 bits): many uploads per bit, each
    # a match on record, instead of one.
    recall = float(np.mean([r for r, _ in coarse]))
    false_alarms = float(np.mean([f for _, f in coarse]))
    assert recall - false_alarms < 0.25
