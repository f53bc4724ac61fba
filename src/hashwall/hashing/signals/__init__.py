"""Typed signals: ``{"type", "value", "quality"}``, the form of every fingerprint at a boundary.

A signal type owns its rules (:mod:`~hashwall.hashing.signals.base`); one module per type
(:mod:`.pdq`, :mod:`.digests`, :mod:`.keypoints`) and one line in :mod:`.registry` each. The
rest of the tree asks the registry and never spells a type's name.
"""

from hashwall.hashing.signals.base import (
    DistanceSignalType,
    ExactSignalType,
    Signal,
    SignalComparison,
    SignalType,
)
from hashwall.hashing.signals.digests import Md5Signal, Sha256Signal
from hashwall.hashing.signals.keypoints import GeometricSignalType, KeypointsSignal
from hashwall.hashing.signals.pdq import MAX_PDQ_THRESHOLD, PdqSignal
from hashwall.hashing.signals.registry import (
    SIGNAL_TYPES,
    UPLOAD_EXACT,
    UPLOAD_NEAR,
    distance_types,
    exact_types,
    geometric_types,
    oriented_type,
    register,
    registered,
    signal_type,
    unregister,
)

__all__ = [
    "MAX_PDQ_THRESHOLD",
    "SIGNAL_TYPES",
    "UPLOAD_EXACT",
    "UPLOAD_NEAR",
    "DistanceSignalType",
    "ExactSignalType",
    "GeometricSignalType",
    "KeypointsSignal",
    "Md5Signal",
    "PdqSignal",
    "Sha256Signal",
    "Signal",
    "SignalComparison",
    "SignalType",
    "distance_types",
    "exact_types",
    "geometric_types",
    "oriented_type",
    "register",
    "registered",
    "signal_type",
    "unregister",
]
