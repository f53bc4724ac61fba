"""The registry of signal types: one line per type; everything else asks it.

A new type is one module (a :class:`SignalType` subclass) plus one :func:`register` line
here. Tests may register a type of their own for a while (:func:`registered`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

from hashwall.errors import InvalidHash
from hashwall.hashing.signals.base import DistanceSignalType, ExactSignalType, SignalType
from hashwall.hashing.signals.digests import Md5Signal, Sha256Signal
from hashwall.hashing.signals.keypoints import GeometricSignalType, KeypointsSignal
from hashwall.hashing.signals.pdq import PdqSignal
from hashwall.hashing.signals.vpdq_frame import VpdqFrameSignal

_TYPES: dict[str, type[SignalType]] = {}
#: The registered types by name (a read-only view that follows registrations).
SIGNAL_TYPES: Mapping[str, type[SignalType]] = MappingProxyType(_TYPES)


def register(signal_type: type[SignalType]) -> type[SignalType]:
    """Add a type (usable as a class decorator); a name belongs to one class only."""
    held = _TYPES.get(signal_type.name)
    if held is not None and held is not signal_type:
        raise ValueError(f"signal type {signal_type.name!r} is already registered")
    if signal_type.comparison == "distance" and not issubclass(signal_type, DistanceSignalType):
        raise TypeError(f"{signal_type.__name__}: a distance type is a DistanceSignalType")
    if signal_type.comparison == "exact" and not issubclass(signal_type, ExactSignalType):
        raise TypeError(f"{signal_type.__name__}: an exact type is an ExactSignalType")
    if signal_type.comparison == "geometric" and not issubclass(signal_type, GeometricSignalType):
        raise TypeError(f"{signal_type.__name__}: a geometric type is a GeometricSignalType")
    _TYPES[signal_type.name] = signal_type
    return signal_type


def unregister(name: str) -> None:
    """Remove a type (tests)."""
    _TYPES.pop(name, None)


@contextmanager
def registered(signal_type: type[SignalType]) -> Iterator[type[SignalType]]:
    """Register ``signal_type`` for the duration of a ``with`` block (tests)."""
    register(signal_type)
    try:
        yield signal_type
    finally:
        unregister(signal_type.name)


def signal_type(name: str) -> type[SignalType]:
    """The type called ``name``, or ``InvalidHash`` naming the known ones."""
    found = _TYPES.get(name)
    if found is None:
        raise InvalidHash(f"unknown signal type {name!r}; known types: {', '.join(sorted(_TYPES))}")
    return found


def exact_types() -> tuple[type[ExactSignalType], ...]:
    """The registered types matched by equality (held in the digest index)."""
    return tuple(t for t in _TYPES.values() if issubclass(t, ExactSignalType))


def distance_types() -> tuple[type[DistanceSignalType], ...]:
    """The registered types matched by distance (held in Hamming indexes)."""
    return tuple(t for t in _TYPES.values() if issubclass(t, DistanceSignalType))


def geometric_types() -> tuple[type[GeometricSignalType], ...]:
    """The registered types matched by one placement of local codes (keypoints indexes)."""
    return tuple(t for t in _TYPES.values() if issubclass(t, GeometricSignalType))


def oriented_type() -> type[DistanceSignalType] | None:
    """The type whose orientations an upload may carry (the wire has one such field)."""
    return next((t for t in distance_types() if t.orientations), None)


# What a match row and an exemption keep of an upload (to tell distinct uploads apart):
# a near value (two uploads within a few bits are one) and an exact one.
UPLOAD_NEAR: type[DistanceSignalType] = PdqSignal
UPLOAD_EXACT: type[ExactSignalType] = Sha256Signal

register(PdqSignal)
register(Md5Signal)
register(Sha256Signal)
register(VpdqFrameSignal)
register(KeypointsSignal)
