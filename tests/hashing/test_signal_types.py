"""One suite for every registered signal type, run with the type's own examples (pytx's
``get_examples``): what the rest of hashwall relies on a type to do."""

from __future__ import annotations

import numpy as np
import pytest

from hashwall.errors import InvalidHash, InvalidInput
from hashwall.hashing.signals import (
    SIGNAL_TYPES,
    DistanceSignalType,
    ExactSignalType,
    GeometricSignalType,
    Signal,
    SignalType,
    signal_type,
)

TYPES = sorted(SIGNAL_TYPES.values(), key=lambda t: t.name)


def _ids(t: type[SignalType]) -> str:
    return t.name


def test_the_built_in_types_are_registered() -> None:
    assert set(SIGNAL_TYPES) == {"pdq", "md5", "sha256", "vpdq_frame", "keypoints"}


@pytest.mark.parametrize("kind", TYPES, ids=_ids)
def test_examples_are_canonical_and_parse_as_signals(kind: type[SignalType]) -> None:
    examples = kind.get_examples()
    assert len(examples) >= 2 and len(set(examples)) == len(examples)
    for value in examples:
        assert kind.canonical(value) == value
        assert kind.canonical(value.upper()) == value
        parsed = Signal.parse({"type": kind.name, "value": value.upper(), "quality": 100})
        assert parsed == Signal(kind.name, value, 100)
        assert signal_type(kind.name) is kind


@pytest.mark.parametrize("kind", TYPES, ids=_ids)
def test_a_value_matches_itself_and_not_an_other_example(kind: type[SignalType]) -> None:
    a, b = kind.get_examples()[:2]
    assert kind.compare(a, a).match and kind.compare(a, a).distance == 0
    assert not kind.compare(a, b).match
    assert kind.compare(a, b).distance > 0


@pytest.mark.parametrize("kind", TYPES, ids=_ids)
def test_malformed_values_are_invalid_hash(kind: type[SignalType]) -> None:
    value = kind.get_examples()[0]
    for bad in (value[:-1], value + "0", "z" + value[1:], "", " " + value[1:]):
        with pytest.raises(InvalidHash):
            kind.canonical(bad)


@pytest.mark.parametrize("kind", TYPES, ids=_ids)
def test_a_type_is_exactly_one_family(kind: type[SignalType]) -> None:
    if kind.comparison == "exact":
        assert issubclass(kind, ExactSignalType) and kind.index_family == "digest"
        assert not kind.orientations and kind.max_threshold == 0
        value = kind.get_examples()[0]
        assert kind.digest_bytes(value) == bytes.fromhex(value)
        assert len(value) == 2 * kind.size
    elif kind.comparison == "geometric":
        assert issubclass(kind, GeometricSignalType) and kind.index_family == "keypoints"
        assert not kind.orientations and kind.max_threshold == 0 and not kind.many_per_item
        assert len(kind.decode(kind.get_examples()[0])) >= kind.default_inliers
    else:
        assert issubclass(kind, DistanceSignalType) and kind.index_family == "hamming"
        assert 0 < kind.bits <= 256 and kind.bits % 8 == 0
        assert 0 <= kind.default_threshold <= kind.max_threshold < kind.bits


@pytest.mark.parametrize("kind", [t for t in TYPES if t.comparison == "distance"], ids=_ids)
def test_distance_is_hamming_and_codes_keep_it(kind: type[DistanceSignalType]) -> None:
    a, b = kind.get_examples()[:2]
    expected = bin(int(a, 16) ^ int(b, 16)).count("1")
    assert kind.distance(a, b) == expected
    codes = kind.codes([a, b])
    assert codes.shape == (2, 32) and codes.dtype == np.uint8
    assert kind.code(a).distance(kind.code(b)) == expected
    assert bytes(codes[0]) == kind.code(a).value
    near = format(int(a, 16) ^ (1 << (kind.bits - 1)), f"0{kind.digits()}x")
    assert kind.compare(a, near, threshold=1).match
    assert not kind.compare(a, near, threshold=0).match


class _Short(DistanceSignalType):
    """A 64-bit type (not registered): its codes are padded with zero bits."""

    name = "short_test"
    bits = 64
    default_threshold = 8
    max_threshold = 16

    @classmethod
    def get_examples(cls) -> tuple[str, ...]:
        return ("0123456789abcdef", "fedcba9876543210")


@pytest.mark.parametrize(
    "kind", [*(t for t in TYPES if t.comparison == "distance"), _Short], ids=_ids
)
def test_codes_of_joined_values_equal_the_codes_of_the_values(
    kind: type[DistanceSignalType],
) -> None:
    values = [*kind.get_examples(), *kind.get_examples()[:1]]
    joined = kind.codes_of_joined("".join(values))
    assert np.array_equal(joined, kind.codes(values)) and joined.shape == (3, 32)
    assert kind.codes_of_joined("").shape == (0, 32)
    with pytest.raises(ValueError):
        kind.codes_of_joined("".join(values)[:-2])  # not whole values
    with pytest.raises(ValueError):
        kind.codes_of_joined("zz" + "".join(values)[2:])  # not hex


@pytest.mark.parametrize("kind", TYPES, ids=_ids)
def test_thresholds_are_checked_against_the_type(kind: type[SignalType]) -> None:
    assert kind.validate_threshold(kind.max_threshold) == kind.max_threshold
    assert kind.validate_threshold(kind.default_threshold) == kind.default_threshold
    for bad in (-1, kind.max_threshold + 1):
        with pytest.raises(InvalidInput):
            kind.validate_threshold(bad)


@pytest.mark.parametrize("kind", TYPES, ids=_ids)
def test_the_quality_rule(kind: type[SignalType]) -> None:
    if kind.min_quality is None:
        assert kind.usable(None) and kind.usable(0)
        return
    assert kind.usable(kind.min_quality) and not kind.usable(kind.min_quality - 1)
    assert not kind.usable(None)
    assert kind.usable(kind.min_quality - 1, minimum=kind.min_quality - 1)


@pytest.mark.parametrize("kind", TYPES, ids=_ids)
def test_the_strongest_answer_is_block_or_review(kind: type[SignalType]) -> None:
    assert kind.strongest_answer in ("review", "block")
    # Only the geometric types ask a reviewer: exact and distance matches block as before.
    assert (kind.strongest_answer == "review") == (kind.comparison == "geometric")
