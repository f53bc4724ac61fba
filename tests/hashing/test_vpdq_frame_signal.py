"""The ``vpdq_frame`` signal type: a video frame's PDQ hash, its rules, and how it plugs in."""

from __future__ import annotations

import numpy as np
import pytest

from hashwall.errors import InvalidHash
from hashwall.hashing.pdq import MIN_QUALITY
from hashwall.hashing.signals import (
    SIGNAL_TYPES,
    PdqSignal,
    Signal,
    distance_types,
    oriented_type,
    signal_type,
)
from hashwall.hashing.signals.vpdq_frame import VpdqFrameSignal
from hashwall.hashing.video_match import VideoFrames, match_video

A, B = VpdqFrameSignal.get_examples()


def test_a_frame_hash_is_a_256_bit_distance_value_with_a_required_quality() -> None:
    assert VpdqFrameSignal.name == "vpdq_frame"
    assert VpdqFrameSignal.comparison == "distance"
    assert VpdqFrameSignal.index_family == "hamming"
    assert VpdqFrameSignal.bits == 256
    assert VpdqFrameSignal.default_threshold == 31 == VpdqFrameSignal.max_threshold
    assert VpdqFrameSignal.quality_required and VpdqFrameSignal.min_quality == MIN_QUALITY
    assert VpdqFrameSignal.orientations == ()


def test_frames_below_quality_50_are_not_usable() -> None:
    assert VpdqFrameSignal.usable(50) and not VpdqFrameSignal.usable(49)
    assert not VpdqFrameSignal.usable(None)


def test_values_are_validated_as_pdq_values_are() -> None:
    for value in (A, B):
        assert VpdqFrameSignal.canonical(value.upper()) == value == PdqSignal.canonical(value)
    for bad in (A[:-1], A + "0", "z" + A[1:], "0" * 64, "f" * 64):
        with pytest.raises(InvalidHash):
            VpdqFrameSignal.canonical(bad)
    assert VpdqFrameSignal.canonical_degenerate("0" * 64) == "0" * 64


def test_two_frames_compare_by_hamming_distance_within_31() -> None:
    assert VpdqFrameSignal.compare(A, A).match
    assert not VpdqFrameSignal.compare(A, B).match
    near = f"{int(A, 16) ^ ((1 << 31) - 1):064x}"
    assert VpdqFrameSignal.compare(A, near).distance == 31
    assert VpdqFrameSignal.compare(A, near).match
    assert not VpdqFrameSignal.compare(A, near, threshold=30).match
    codes = VpdqFrameSignal.codes([A, B])
    assert codes.shape == (2, 32) and codes.dtype == np.uint8
    assert bytes(codes[0]) == VpdqFrameSignal.code(A).value


def test_the_frame_index_codes_are_the_matchers_words() -> None:
    # The Hamming index's codes and the video matcher's words are the same bits.
    words = VideoFrames.from_hex([A, B]).words
    codes = VpdqFrameSignal.codes([A, B])
    assert words.astype(">u8").view(np.uint8).reshape(2, 32).tolist() == codes.tolist()
    assert match_video(VideoFrames.from_hex([A, B, A]), VideoFrames.from_hex([B])).match is False


def test_it_is_a_registered_type_an_item_holds_many_of() -> None:
    # Registered: the check finds candidates by single frames and judges them by the video
    # rule (service/video.py), never by one frame.
    assert SIGNAL_TYPES["vpdq_frame"] is VpdqFrameSignal
    assert signal_type("vpdq_frame") is VpdqFrameSignal
    assert VpdqFrameSignal in distance_types()
    assert VpdqFrameSignal.many_per_item and not PdqSignal.many_per_item
    assert oriented_type() is PdqSignal  # the upload's orientations stay PDQ's
    parsed = Signal.parse({"type": "vpdq_frame", "value": A.upper(), "quality": 90})
    assert parsed == Signal("vpdq_frame", A, 90)
