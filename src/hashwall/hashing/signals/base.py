"""What a signal type says about itself, and the validated :class:`Signal` value.

A signal type (python-threatexchange's ``SignalType`` is the model) is one small class that
owns everything the rest of hashwall needs to know about a kind of fingerprint:

- its ``name`` on the wire and in the store, and its value format (:meth:`canonical`);
- how two values compare (:meth:`compare`): ``exact`` (equal digests), ``distance``
  (Hamming distance within a threshold) or ``geometric`` (sets of local codes that one
  placement of the banked picture in the upload must explain: keypoints);
- its ``default_threshold`` and the largest a platform may set (``max_threshold``);
- its quality rule (``quality_required``, ``min_quality``, :meth:`usable`);
- which index family holds its values (``index_family``: ``digest`` for exact values kept by
  equality, ``hamming`` for codes searched by radius, ``keypoints`` for sets of local codes);
- its ``orientations``: the names of the variants a client may send with an upload (PDQ's
  8 dihedral hashes), or none;
- example values (:meth:`get_examples`) that a generic test suite runs every type with.

Service, store and API code ask the type; they never spell its name.
"""

from __future__ import annotations

import binascii
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from hashwall.errors import InvalidHash, InvalidInput
from hashwall.hashing.codes import HASH_BITS, HASH_BYTES, Hash256

Comparison = Literal["exact", "distance", "geometric"]
IndexFamily = Literal["digest", "hamming", "keypoints"]


@dataclass(frozen=True, slots=True)
class SignalComparison:
    """Whether two values of one type match, and how far apart they are (0 when equal; for a
    geometric type, the inliers short of a match, 0 when they match)."""

    match: bool
    distance: int
    #: A geometric type's inliers: the local codes one placement explains (None otherwise).
    inliers: int | None = None


class SignalType(ABC):
    """One kind of fingerprint: its name, value format, comparison, thresholds and index."""

    name: ClassVar[str]
    comparison: ClassVar[Comparison]
    index_family: ClassVar[IndexFamily]
    #: A value without a quality is refused (perceptual types: quality says if it means much).
    quality_required: ClassVar[bool] = False
    #: Values of a lower quality are never banked nor matched (None: no floor).
    min_quality: ClassVar[int | None] = None
    #: Names of the variants of one upload a client may send (in this order), or none.
    orientations: ClassVar[tuple[str, ...]] = ()
    #: The match radius of a platform that did not set one; the largest it may set.
    default_threshold: ClassVar[int] = 0
    max_threshold: ClassVar[int] = 0
    #: An item holds many values of this type (a video's frames, each with its frame number
    #: and timestamp), not at most one; they are judged together (the video rule).
    many_per_item: ClassVar[bool] = False
    #: The strongest answer a match found by this type alone may give: ``block``, or
    #: ``review`` for a type whose matches need a person's eyes before anything is blocked
    #: (keypoints: another photo of the same scene can match).
    strongest_answer: ClassVar[Literal["review", "block"]] = "block"
    #: A policy field that held this type's radius before policies held one per type
    #: (``pdq_threshold``): still read and shown for the clients that use it.
    policy_field: ClassVar[str | None] = None

    @classmethod
    @abstractmethod
    def canonical(cls, value: str) -> str:
        """Validate ``value`` and return its canonical text form, or raise ``InvalidHash``."""

    @classmethod
    def canonical_degenerate(cls, value: str) -> str:
        """The canonical form of a value whose quality is below the floor: only its format
        is checked (a featureless image gives odd hashes; they are never matched)."""
        return cls.canonical(value)

    @classmethod
    @abstractmethod
    def compare(cls, a: str, b: str, threshold: int | None = None) -> SignalComparison:
        """Compare two canonical values (``threshold``: the radius; the default if None)."""

    @classmethod
    @abstractmethod
    def get_examples(cls) -> tuple[str, ...]:
        """Valid example values (canonical), for tests and documentation."""

    @classmethod
    def usable(cls, quality: int | None, minimum: int | None = None) -> bool:
        """Whether a value of this ``quality`` may be banked or matched (``minimum``
        overrides ``min_quality``, e.g. from the settings)."""
        floor = cls.min_quality if minimum is None else minimum
        if floor is None or cls.min_quality is None:
            return True
        return quality is not None and quality >= floor

    @classmethod
    def validate_threshold(cls, threshold: int) -> int:
        """``threshold`` if a platform may set it for this type, else ``InvalidInput``."""
        if isinstance(threshold, bool) or not isinstance(threshold, int):
            raise InvalidInput(f"the {cls.name} threshold is an integer")
        if not 0 <= threshold <= cls.max_threshold:
            raise InvalidInput(f"the {cls.name} threshold must be from 0 to {cls.max_threshold}")
        return threshold


def _hex_pattern(digits: int) -> re.Pattern[str]:
    return re.compile(f"[0-9a-fA-F]{{{digits}}}")


class ExactSignalType(SignalType):
    """A digest matched by equality (``size`` bytes, written as ``2 * size`` hex digits)."""

    comparison: ClassVar[Comparison] = "exact"
    index_family: ClassVar[IndexFamily] = "digest"
    size: ClassVar[int]

    @classmethod
    def canonical(cls, value: str) -> str:
        if not isinstance(value, str) or _hex_pattern(2 * cls.size).fullmatch(value) is None:
            raise InvalidHash(f"a {cls.name} signal is exactly {2 * cls.size} hexadecimal digits")
        return value.lower()

    @classmethod
    def compare(cls, a: str, b: str, threshold: int | None = None) -> SignalComparison:
        equal = a.lower() == b.lower()
        return SignalComparison(equal, 0 if equal else 1)

    @classmethod
    def digest_bytes(cls, value: str) -> bytes | None:
        """The raw bytes of a hex value of this type, or None if it is not one."""
        if len(value) != 2 * cls.size:
            return None
        try:
            return bytes.fromhex(value)
        except ValueError:
            return None


class DistanceSignalType(SignalType):
    """A binary code of ``bits`` bits (``bits / 4`` hex digits) matched by Hamming distance.

    Indexes search 256-bit codes: a shorter code is padded with zero bits on the right
    (:meth:`code`), which changes no distance.
    """

    comparison: ClassVar[Comparison] = "distance"
    index_family: ClassVar[IndexFamily] = "hamming"
    bits: ClassVar[int]

    @classmethod
    def digits(cls) -> int:
        """Hex digits of a value."""
        return cls.bits // 4

    @classmethod
    def canonical(cls, value: str) -> str:
        if not isinstance(value, str) or _hex_pattern(cls.digits()).fullmatch(value) is None:
            raise InvalidHash(f"a {cls.name} signal is exactly {cls.digits()} hexadecimal digits")
        return value.lower()

    @classmethod
    def code(cls, value: str) -> Hash256:
        """A canonical value (what :meth:`canonical` returned, or a stored value) as a 256-bit
        code for the index (zero bits after the value's own). It is not validated again: the
        check path codes every orientation of every upload."""
        return Hash256(bytes.fromhex(value + _pad(cls.bits)))

    @classmethod
    def codes(cls, values: Sequence[str]) -> npt.NDArray[np.uint8]:
        """Canonical values as an ``(n, 32)`` uint8 array of codes (one join, one parse)."""
        if not values:
            return np.zeros((0, HASH_BYTES), dtype=np.uint8)
        pad = _pad(cls.bits)
        text = pad.join(values) + pad
        return np.frombuffer(bytes.fromhex(text), dtype=np.uint8).reshape(-1, HASH_BYTES)

    @classmethod
    def codes_of_joined(cls, joined: str) -> npt.NDArray[np.uint8]:
        """Canonical values concatenated (each :meth:`digits` long, as a snapshot block holds
        them) as an ``(n, 32)`` uint8 array of codes; ValueError if it is not such a text."""
        digits = cls.digits()
        if len(joined) % digits:
            raise ValueError(f"{len(joined)} characters are not whole {cls.name} values")
        raw = np.frombuffer(binascii.unhexlify(joined), dtype=np.uint8)
        rows = raw.reshape(-1, digits // 2)
        if rows.shape[1] == HASH_BYTES:
            return rows
        codes = np.zeros((rows.shape[0], HASH_BYTES), dtype=np.uint8)  # zero bits after
        codes[:, : rows.shape[1]] = rows
        return codes

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """The Hamming distance of two values of this type."""
        return (int(a, 16) ^ int(b, 16)).bit_count()

    @classmethod
    def compare(cls, a: str, b: str, threshold: int | None = None) -> SignalComparison:
        radius = cls.default_threshold if threshold is None else threshold
        d = cls.distance(a, b)
        return SignalComparison(d <= radius, d)


def _pad(bits: int) -> str:
    return "0" * ((HASH_BITS - bits) // 4)


#: A signal type class (an alias: inside :class:`Signal`, ``type`` is a field).
TypeOfSignal = type[SignalType]


@dataclass(frozen=True, slots=True)
class Signal:
    """A validated signal. ``quality`` is set for perceptual types, ``None`` for digests."""

    type: str
    value: str
    quality: int | None = None

    @classmethod
    def parse(
        cls, raw: Mapping[str, Any], types: Mapping[str, TypeOfSignal] | None = None
    ) -> Signal:
        """Validate a signal from outside (``{"type", "value", "quality"}``) against the
        registered types (or ``types``)."""
        if types is None:  # the registry imports this module: import it when needed
            from hashwall.hashing.signals.registry import SIGNAL_TYPES

            types = SIGNAL_TYPES
        kind = raw.get("type")
        signal_type = types.get(kind) if isinstance(kind, str) else None
        if signal_type is None:
            known = ", ".join(sorted(types))
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
