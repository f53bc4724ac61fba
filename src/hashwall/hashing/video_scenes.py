"""Scenes of a video's frame hashes: the cut the video rule orders matches by
(:mod:`hashwall.hashing.video_match`), which also tells a still video
(:func:`hashwall.hashing.vpdq.hash_video` hashes it as a picture too).

A frame more than ``distinct_bits`` from the first frame of the current scene (its key frame)
starts a new scene: a still or slowly changing shot is one scene, however long or noisy.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["DEFAULT_DISTINCT_BITS", "DEFAULT_MIN_FRAMES", "scene_starts"]

#: Frames closer than this to the last key frame belong to its scene (a still, a slow pan,
#: encoder noise); about half the frame threshold.
DEFAULT_DISTINCT_BITS = 16
#: The fewest matching scenes, in the same order in both videos, that make a video match;
#: a video of fewer scenes cannot match by its frames.
DEFAULT_MIN_FRAMES = 3


def scene_starts(codes: Iterable[int], distinct_bits: int) -> list[int]:
    """Indexes of the key frames of 256-bit hashes in time order (as ints): the frames more
    than ``distinct_bits`` from the key frame before them (the first frame is always one)."""
    keys: list[int] = []
    last = 0
    # A walk in time order, each frame against the last key frame only: sequential, and
    # cheap with Python ints (a 256-bit XOR and popcount per frame).
    for i, code in enumerate(codes):
        if not keys or (code ^ last).bit_count() > distinct_bits:
            keys.append(i)
            last = code
    return keys
