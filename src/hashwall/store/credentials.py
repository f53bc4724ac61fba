"""Secrets the store keeps only as hashes: reporters' PINs and API key secrets.

- PINs are short and typed by people, so they are hashed with argon2id (argon2-cffi's defaults).
  :func:`verify_pin` with ``pin_hash=None`` (unknown case number) still runs one argon2
  verification, so an unknown case costs the same time as a wrong PIN.
- API key secrets are 256 random bits: a fast SHA-256 is enough (nothing to brute-force), and it
  keeps per-request authentication cheap. A key is shown once as ``<key_id>.<secret>``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

PIN_DIGITS = 8
_SECRET_PREFIX = "sha256$"


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    return _hasher().hash(new_pin())


def new_pin(digits: int = PIN_DIGITS) -> str:
    """A fresh random numeric PIN (shown to the reporter once, never stored in clear)."""
    return "".join(secrets.choice("0123456789") for _ in range(digits))


def hash_pin(pin: str) -> str:
    """The argon2id hash of ``pin``, for ``cases.pin_hash``."""
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
