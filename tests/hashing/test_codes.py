"""Hash256 and PdqHash: canonical form, strict parsing, Hamming distance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hashwall.errors import InvalidHash
from hashwall.hashing.codes import Hash256, array_to_hashes, hashes_to_array
from hashwall.hashing.pdq import ORIENTATIONS, POPCOUNT_MAX, POPCOUNT_MIN, Orientation, PdqHash

BRIDGE = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
codes = st.binary(min_size=32, max_size=32).map(Hash256)


@given(codes)
def test_hex_round_trip_is_canonical_lowercase(code: Hash256) -> None:
    text = code.hex
    assert len(text) == 64 and text == text.lower()
    assert Hash256.from_hex(text) == code
    assert Hash256.from_hex(text.upper()) == code


@given(codes, codes)
def test_distance_is_symmetric_and_zero_only_on_equal(a: Hash256, b: Hash256) -> None:
    assert a.distance(b) == b.distance(a)
    assert a.distance(a) == 0
    assert (a.distance(b) == 0) == (a == b)


@given(codes, codes, codes)
def test_distance_satisfies_triangle_inequality(a: Hash256, b: Hash256, c: Hash256) -> None:
    assert a.distance(c) <= a.distance(b) + b.distance(c)


@given(codes)
def test_distance_counts_differing_bits(code: Hash256) -> None:
    bits = code.bits()
    flipped = bits.copy()
    flipped[[0, 7, 100, 255]] ^= 1
    assert code.distance(Hash256.from_bits(flipped)) == 4


def test_bit_order_is_most_significant_first() -> None:
    bits = np.zeros(256, dtype=np.uint8)
    bits[0] = 1
    assert Hash256.from_bits(bits).hex == "8" + "0" * 63


@pytest.mark.parametrize(
    "text",
    [
        "",
        BRIDGE[:-1],
        BRIDGE + "0",
        "0x" + BRIDGE[2:],
        " " + BRIDGE[1:],
        BRIDGE[:-1] + "g",
        BRIDGE[:32] + "-" + BRIDGE[33:],
        "\u0660" * 64,  # Arabic-Indic digits are str.isdigit() but not hex
    ],
)
def test_malformed_hex_is_invalid_hash(text: str) -> None:
    with pytest.raises(InvalidHash) as info:
        PdqHash.parse(text)
    assert info.value.code == "invalid_hash"


def test_non_string_is_invalid_hash() -> None:
    with pytest.raises(InvalidHash):
        PdqHash.parse(12345)  # type: ignore[arg-type]


@pytest.mark.parametrize("ones", [0, 1, 64, POPCOUNT_MIN - 1, POPCOUNT_MAX + 1, 200, 256])
def test_pdq_parse_refuses_population_counts_no_image_produces(ones: int) -> None:
    bits = np.zeros(256, dtype=np.uint8)
    bits[:ones] = 1
    text = Hash256.from_bits(bits).hex
    with pytest.raises(InvalidHash, match="bits set"):
        PdqHash.parse(text)
    assert Hash256.from_hex(text).popcount() == ones  # the generic code type has no band


@pytest.mark.parametrize("ones", [POPCOUNT_MIN, 128, POPCOUNT_MAX])
def test_pdq_parse_accepts_the_band(ones: int) -> None:
    bits = np.zeros(256, dtype=np.uint8)
    bits[-ones:] = 1
    assert PdqHash.parse(Hash256.from_bits(bits).hex).popcount() == ones


def test_reference_hash_parses() -> None:
    assert PdqHash.parse(BRIDGE.upper()).hex == BRIDGE


def test_wrong_length_bytes_are_refused() -> None:
    with pytest.raises(InvalidHash):
        Hash256(b"\x00" * 31)


def test_array_round_trip() -> None:
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, size=(5, 32), dtype=np.uint8)
    hashes = array_to_hashes(arr)
    assert [h.value for h in hashes] == [bytes(r) for r in arr]
    assert np.array_equal(hashes_to_array(hashes), arr)
    assert hashes_to_array([]).shape == (0, 32)


def test_orientation_names_and_order_follow_pdqhash_compute_dihedral() -> None:
    assert [o.value for o in ORIENTATIONS] == [
        "original",
        "rotate90",
        "rotate180",
        "rotate270",
        "flip_x",
        "flip_y",
        "flip_plus1",
        "flip_minus1",
    ]
    assert ORIENTATIONS[0] is Orientation.ORIGINAL
