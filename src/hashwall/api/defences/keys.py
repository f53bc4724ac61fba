"""Limiter keys: keyed BLAKE2b digests of a subject, never a raw address or case number."""

from __future__ import annotations

import hashlib
import secrets
from typing import Final

from hashwall.settings import Settings

#: In-process backends sweep expired subjects every this many calls.
CLEANUP_EVERY: Final = 1024


class Keyer:
    """Turns subjects into opaque limiter keys (no raw address or case number is kept)."""

    def __init__(self, secret: bytes, prefix: str = "") -> None:
        self._secret = secret[:64]
        self._prefix = prefix

    def __call__(self, kind: str, *parts: str) -> str:
        digest = hashlib.blake2b(
            "\x00".join((kind, *parts)).encode(), key=self._secret, digest_size=16
        ).hexdigest()
        return f"{self._prefix}{kind}:{digest}"


def limiter_secret(settings: Settings, *, shared: bool) -> bytes:
    """The key of the digests: ``limits_secret``, else a random one per process (``shared``
    backends, whose replicas need one key, then use an unkeyed hash)."""
    if settings.limits_secret is not None:
        return settings.limits_secret.get_secret_value().encode()
    return b"" if shared else secrets.token_bytes(32)
