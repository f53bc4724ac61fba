"""Public identifiers: random, typeable case numbers; prefixed url-safe refs."""

from __future__ import annotations

import pytest

from hashwall.store.ids import (
    CASE_ALPHABET,
    CASE_NUMBER_PATTERN,
    new_case_number,
    new_check_id,
    new_item_ref,
    new_key_id,
    new_match_ref,
    normalise_case_number,
)


def test_case_numbers_are_typeable_and_random() -> None:
    numbers = {new_case_number() for _ in range(500)}
    assert len(numbers) == 500
    for number in numbers:
        assert CASE_NUMBER_PATTERN.fullmatch(number), number
        assert normalise_case_number(number) == number
    assert not set("ILOU") & set(CASE_ALPHABET)
    used = {c for n in numbers for c in n[3:].replace("-", "")}
    assert used == set(CASE_ALPHABET)  # every symbol is drawn


@pytest.mark.parametrize(
    "typed",
    [
        "HW-7K2D-Q9XM-4TRB",
        "hw-7k2d-q9xm-4trb",
        "hw 7k2d q9xm 4trb",
        "7K2DQ9XM4TRB",
        " HW7K2D-Q9XM-4TRB ",
    ],
)
def test_case_numbers_are_normalised_as_people_type_them(typed: str) -> None:
    assert normalise_case_number(typed) == "HW-7K2D-Q9XM-4TRB"


def test_lookalike_letters_are_read_as_digits() -> None:
    assert normalise_case_number("HW-O0I1-L000-0000") == "HW-0011-1000-0000"


@pytest.mark.parametrize("typed", ["", "HW-1234", "HW-UUUU-0000-0000", "HW-0000-0000-0000-0"])
def test_impossible_case_numbers_are_none(typed: str) -> None:
    assert normalise_case_number(typed) is None


@pytest.mark.parametrize(
    ("make", "prefix", "length"),
    [
        (new_item_ref, "itm_", 26),
        (new_match_ref, "mch_", 26),
        (new_check_id, "chk_", 26),
        (new_key_id, "key_", 20),
    ],
)
def test_refs_are_prefixed_url_safe_and_unique(make: object, prefix: str, length: int) -> None:
    refs = {make() for _ in range(1000)}  # type: ignore[operator]
    assert len(refs) == 1000
    for ref in refs:
        assert ref.startswith(prefix) and len(ref) == length and "." not in ref
