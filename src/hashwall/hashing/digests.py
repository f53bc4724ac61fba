"""Exact digests of the original bytes: md5 (what many platforms' legacy lists hold) and sha256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Digests:
    """Lowercase hex md5 and sha256 of a file's exact bytes."""

    md5: str
    sha256: str


def digests(data: bytes) -> Digests:
    """md5 and sha256 of ``data``; matches only byte-identical copies."""
    return Digests(
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
    )
