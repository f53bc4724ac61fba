"""Secrets the store keeps only as hashes: reporters' PINs and API key secrets.

- PINs are typed and read aloud by people: 12 symbols of Crockford's base 32 in three groups,
  ``K7QM-4XRT-9HWP`` (60 random bits; no I, L, O, U to confuse). :func:`pin_key` reads a PIN as
  typed (any case, spaces and dashes anywhere, O/I/L for 0/1/1) into the text that is hashed;
  the 8-digit PINs issued before still verify, as the 8 digits they were hashed as. PINs are
  hashed with argon2id (argon2-cffi's defaults). :func:`verify_pin` with ``pin_hash=None``
  (unknown case number) still runs one argon2 verification, so an unknown case costs the same
  time as a wrong PIN.
- API key secrets are 256 random bits: a fast SHA-256 is enough (nothing to brute-force), and it
  keeps per-request authentication cheap. A key is shown once as ``<key_id>.<secret>``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hashwall.store.ids import CASE_ALPHABET

#: The symbols of a PIN: Crockford's base 32, as in case numbers (5 bits each).
PIN_ALPHABET = CASE_ALPHABET
PIN_GROUPS = 3
PIN_GROUP_LEN = 4
PIN_SYMBOLS = PIN_GROUPS * PIN_GROUP_LEN
#: PINs issued before 12-symbol PINs: 8 decimal digits. Their cases keep them until re-issued.
LEGACY_PIN_DIGITS = 8
_PIN_SEPARATORS = re.compile(r"[\s\-_.]")
_PIN_TYPOS = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SECRET_PREFIX = "sha256$"


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    key = pin_key(new_pin())
    assert key is not None
    return _hasher().hash(key)


def new_pin() -> str:
    """A fresh random PIN, ``XXXX-XXXX-XXXX`` (shown to the reporter once, never stored)."""
    symbols = "".join(secrets.choice(PIN_ALPHABET) for _ in range(PIN_SYMBOLS))
    return "-".join(symbols[i : i + PIN_GROUP_LEN] for i in range(0, PIN_SYMBOLS, PIN_GROUP_LEN))


def pin_key(text: str) -> str | None:
    """The text a PIN is hashed and verified as, from the PIN as a person typed it.

    12 symbols: upper case, without separators, O/I/L read as 0/1/1. 8 digits: a PIN issued
    before 12-symbol PINs, as it was hashed. Anything else cannot be a PIN: None.
    """
    compact = _PIN_SEPARATORS.sub("", text).upper().translate(_PIN_TYPOS)
    if len(compact) == PIN_SYMBOLS and all(c in PIN_ALPHABET for c in compact):
        return compact
    if len(compact) == LEGACY_PIN_DIGITS and compact.isascii() and compact.isdigit():
        return compact
    return None


def hash_pin(pin: str) -> str:
    """The argon2id hash of ``pin`` (a :func:`pin_key`), for ``cases.pin_hash``."""
    return _hasher().hash(pin)


def verify_pin(pin_hash: str | None, pin: str) -> bool:
    """Whether ``pin`` matches ``pin_hash``; ``None`` (unknown case) is False in the same time."""
    candidate = pin_hash if pin_hash is not None else _dummy_hash()
    try:
        matched = _hasher().verify(candidate, pin)
    except (VerificationError, InvalidHashError):
        return False
    return matched and pin_hash is not None


def pin_needs_rehash(pin_hash: str) -> bool:
    """Whether ``pin_hash`` was made with weaker parameters than today's (rehash on next login)."""
    return _hasher().check_needs_rehash(pin_hash)


def new_api_secret() -> str:
    """A fresh API key secret (256 random bits, url-safe)."""
    return secrets.token_urlsafe(32)


def hash_api_secret(secret: str) -> str:
    """The stored form of an API key secret, for ``api_keys.secret_hash``."""
    return _SECRET_PREFIX + hashlib.sha256(secret.encode()).hexdigest()


def verify_api_secret(secret_hash: str, secret: str) -> bool:
    """Whether ``secret`` matches ``secret_hash`` (constant-time comparison)."""
    return hmac.compare_digest(secret_hash, hash_api_secret(secret))


def format_api_key(key_id: str, secret: str) -> str:
    """The key as shown once to its holder: ``<key_id>.<secret>``."""
    return f"{key_id}.{secret}"


def parse_api_key(token: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` from a presented key, or None if it is not shaped like one."""
    key_id, sep, secret = token.strip().partition(".")
    if not sep or not key_id or not secret:
        return None
    return key_id, secret
