"""Typed signals: ``{"type", "value", "quality"}``, the form of every fingerprint at a boundary.

A signal type is one small class (parse and validate a value) and one registry line. The video
and robustness work add types here without touching the rest of the tree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from hashwall.errors import InvalidHash
from hashwall.hashing.pdq import PdqHash


class SignalType:
    """One kind of fingerprint: how its values are written and checked."""

    name: ClassVar[str]

    @classmethod
    def canonical(cls, value: str) -> str:
        """Validate ``value`` and return its canonical text form, or raise ``InvalidHash``."""
        raise NotImplementedError


class PdqSignal(SignalType):
    """A PDQ hash: 64 hex digits with about half of the bits set."""

    name = "pdq"

    @classmethod
    def canonical(cls, value: str) -> str:
        return PdqHash.parse(value).hex


class _HexDigestSignal(SignalType):
    length: ClassVar[int]

    @classmethod
    def canonical(cls, value: str) -> str:
        if (
            not isinstance(value, str)
            or re.fullmatch(f"[0-9a-fA-F]{{{cls.length}}}", value) is None
        ):
            raise InvalidHash(f"a {cls.name} signal is exactly {cls.length} hexadecimal digits")
        return value.lower()


class Md5Signal(_HexDigestSignal):
    """md5 of the exact file bytes."""

    name = "md5"
    length = 32


class Sha256Signal(_HexDigestSignal):
    """sha256 of the exact file bytes."""

    name = "sha256"
    length = 64


SIGNAL_TYPES: dict[str, type[SignalType]] = {
    t.name: t for t in (PdqSignal, Md5Signal, Sha256Signal)
}


@dataclass(frozen=True, slots=True)
class Signal:
    """A validated signal. ``quality`` is set for perceptual types, ``None`` for digests."""

    type: str
    value: str
    quality: int | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Signal:
        """Validate a signal from outside (``{"type", "value", "quality"}``)."""
        kind = raw.get("type")
        signal_type = SIGNAL_TYPES.get(kind) if isinstance(kind, str) else None
        if signal_type is None:
            known = ", ".join(sorted(SIGNAL_TYPES))
            raise InvalidHash(f"unknown signal type {kind!r}; known types: {known}")
        quality = raw.get("quality")
        if quality is not None and (
            isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100
        ):
            raise InvalidHash("a signal's quality is an integer from 0 to 100, or null")
        value = raw.get("value")
        if not isinstance(value, str):
            raise InvalidHash(f"a {signal_type.name} signal's value is a string of hex digits")
        return cls(type=signal_type.name, value=signal_type.canonical(value), quality=quality)

    def to_dict(self) -> dict[str, Any]:
        """The wire form."""
        return {"type": self.type, "value": self.value, "quality": self.quality}
