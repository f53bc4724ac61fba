"""PINs as argon2 hashes; API key secrets as SHA-256, shown once as ``<key_id>.<secret>``."""

from __future__ import annotations

import re

from hashwall.store.credentials import (
    format_api_key,
    hash_api_secret,
    hash_pin,
    new_api_secret,
    new_pin,
    parse_api_key,
    pin_key,
    pin_needs_rehash,
    verify_pin,
)


def test_pins_are_twelve_unambiguous_symbols_in_three_groups() -> None:
    pins = {new_pin() for _ in range(200)}
    assert len(pins) == 200
    for pin in pins:
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){2}", pin)
    # Every symbol of the alphabet turns up (60 random bits, not a narrower set).
    assert set("".join(pins).replace("-", "")) == set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_a_pin_key_is_the_pin_as_typed_or_none() -> None:
    assert pin_key("k7qm-4xrt-9hwp") == "K7QM4XRT9HWP"
    assert pin_key(" K7QM 4XRT_9HWP ") == "K7QM4XRT9HWP"
    assert pin_key("K7QM-4XRT-9HWO") == "K7QM4XRT9HW0"  # O read as 0, I and L as 1
    assert pin_key("K7QI-4XRL-9HWP") == "K7Q14XR19HWP"
    assert pin_key("1234 5678") == "12345678"  # a PIN issued before 12-symbol PINs
    for text in ("", "1234567", "123456789", "K7QM-4XRT-9HW", "K7QM-4XRT-9HWPX", "K7QU-4XRT-9HWP"):
        assert pin_key(text) is None
    assert pin_key("ABCDEFGH") is None  # 8 symbols are only a PIN as 8 digits


def test_pins_are_stored_as_argon2id_and_verified() -> None:
    pin = pin_key(new_pin())
    assert pin is not None
    stored = hash_pin(pin)
    assert stored.startswith("$argon2id$") and pin not in stored
    assert verify_pin(stored, pin)
    assert not verify_pin(stored, "0" * 12 if pin != "0" * 12 else "1" * 12)
    assert not verify_pin("not-a-hash", pin)
    assert not pin_needs_rehash(stored)
    legacy = hash_pin("40718253")
    assert verify_pin(legacy, "40718253") and not verify_pin(legacy, pin)


def test_an_unknown_case_is_checked_like_a_wrong_pin() -> None:
    assert verify_pin(None, "12345678") is False


def test_api_key_secrets_are_hashed_and_round_trip_through_the_shown_key() -> None:
    secret = new_api_secret()
    stored = hash_api_secret(secret)
    assert secret not in stored and stored.startswith("sha256$")
    shown = format_api_key("key_abcDEF-_12345678", secret)
    assert parse_api_key(shown) == ("key_abcDEF-_12345678", secret)
    assert hash_api_secret(secret) == stored
    assert parse_api_key("no-separator") is None
    assert parse_api_key(".secret") is None


def test_verify_api_secret() -> None:
    from hashwall.store.credentials import verify_api_secret

    secret = new_api_secret()
    assert verify_api_secret(hash_api_secret(secret), secret)
    assert not verify_api_secret(hash_api_secret(secret), new_api_secret())
