"""Typed signals: validated per type, canonical values."""

from __future__ import annotations

from typing import Any

import pytest

from hashwall.errors import InvalidHash
from hashwall.hashing.signals import SIGNAL_TYPES, Signal

BRIDGE = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def test_signal_types_registry() -> None:
    assert set(SIGNAL_TYPES) == {"pdq", "md5", "sha256", "vpdq_frame", "keypoints"}


def test_pdq_signal_is_canonicalised() -> None:
    sig = Signal.parse({"type": "pdq", "value": BRIDGE.upper(), "quality": 100})
    assert sig == Signal("pdq", BRIDGE, 100)
    assert sig.to_dict() == {"type": "pdq", "value": BRIDGE, "quality": 100}


def test_digest_signals() -> None:
    assert Signal.parse({"type": "md5", "value": "A" * 32}).value == "a" * 32
    assert Signal.parse({"type": "sha256", "value": "0" * 64}).quality is None


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "pdq", "value": "0" * 64},  # no bits set: no image produces it
        {"type": "pdq", "value": BRIDGE[:-2]},
        {"type": "pdq", "value": None},
        {"type": "pdq", "value": BRIDGE, "quality": 101},
        {"type": "pdq", "value": BRIDGE, "quality": True},
        {"type": "pdq", "value": BRIDGE, "quality": "90"},
        {"type": "md5", "value": "a" * 31},
        {"type": "sha256", "value": "z" * 64},
        {"type": "phash", "value": "a" * 16},
        {"value": BRIDGE},
        {"type": 3, "value": BRIDGE},
    ],
)
def test_invalid_signals_are_invalid_hash(raw: dict[str, Any]) -> None:
    with pytest.raises(InvalidHash) as info:
        Signal.parse(raw)
    assert info.value.code == "invalid_hash"
    assert info.value.status == 400
