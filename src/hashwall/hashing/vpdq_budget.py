"""How densely to hash a video so that it keeps at most ``max_frames`` frame hashes.

A banked video is hashed every frame (a check sampled at one frame a second then finds it
whatever its phase), up to the service's ``vpdq_max_frames``; a longer video is hashed at the
even spacing that keeps it within that many (:func:`seconds_per_hash_within`, from the frame
count its header declares), and thinned afterwards when the header said nothing
(:func:`thinned`). The decoder sandbox and the CLI both use these.
"""

from __future__ import annotations

import dataclasses

from hashwall.hashing.vpdq import VideoHashes
from hashwall.media.video import VideoSource, open_video
from hashwall.settings import Settings


def seconds_per_hash_within(
    source: VideoSource, settings: Settings, every: float, max_frames: int
) -> float:
    """``every`` seconds between hashed frames (0: every frame), or more when the video's
    header says that would hash more than ``max_frames`` frames (evenly spaced then)."""
    with open_video(source, settings) as video:
        info = video.info
        expected = info.expected_frames
    if not expected or info.fps <= 0:
        return every
    step = max(1, int(every * info.fps))
    if expected // step <= max_frames:
        return every
    wanted = -(-expected // max_frames)  # frames per hashed frame, rounded up
    return (wanted + 0.5) / info.fps  # vPDQ's frame_mod truncates: this gives ``wanted``


def thinned(hashes: VideoHashes, max_frames: int) -> VideoHashes:
    """``hashes`` with at most ``max_frames`` frames, evenly spaced (as they are if fewer)."""
    count = len(hashes.frames)
    if count <= max_frames:
        return hashes
    step = -(-count // max(1, max_frames))
    return dataclasses.replace(hashes, frames=hashes.frames[::step])
