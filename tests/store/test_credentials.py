"""PINs as argon2 hashes; API key secrets as SHA-256, shown once as ``<key_id>.<secret>``."""

from __future__ import annotations

from hashwall.store.credentials import (
    format_api_key,
    hash_api_secret,
    hash_pin,
    new_api_secret,
    new_pin,
    parse_api_key,
    pin_needs_rehash,
    verify_pin,
)


def test_pins_are_stored_as_argon2id_and_verified() -> None:
    pin = new_pin()
    assert len(pin) == 8 and pin.isdigit()
    stored = hash_pin(pin)
    assert stored.startswith("$argon2id$") and pin not in stored
    assert verify_pin(stored, pin)
    assert not verify_pin(stored, "00000000" if pin != "00000000" else "11111111")
    assert not verify_pin("not-a-hash", pin)
    assert not pin_needs_rehash(stored)


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
