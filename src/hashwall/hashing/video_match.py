"""Does an upload contain a banked video? The video rule over two lists of frame hashes.

Pure: two :class:`VideoFrames` (PDQ hashes of sampled frames with their timestamps, as
:func:`hashwall.hashing.vpdq.hash_video` gives them) in, one :class:`VideoMatch` out; no store,
no I/O. A compilation of several banked videos is judged against each banked video on its own
(:func:`match_each`).

The rule (vPDQ's, plus an order check):

1. **Frame matches.** Two frames match when their PDQ hashes are within ``threshold`` bits
   (31). Every pair is compared: XOR of ``(n, 4)`` uint64 words and a vectorised
   popcount, in blocks of pairs so that memory stays bounded for long videos.
2. **Percentages** (vPDQ's): ``upload_frames_matched_pct`` is the share of the upload's
   *distinct* frame hashes (equal hashes count once) within the threshold of some banked
   frame; ``banked_frames_matched_pct`` the share of the banked video's distinct hashes within
   the threshold of some upload frame. A banked 10 s clip inside a 5-minute upload has a low
   upload share and a high banked share.

   The two videos need not be hashed at the same rate: a bank hashed densely (every frame,
   say) is matched by uploads sampled at one frame per second whatever their phase, which a
   bank at one frame per second is not when the video changes faster than that (a re-cut that
   starts 0.7 s later samples other moments). So a banked frame also counts as found when it
   lies within ``banked_window`` seconds of a banked frame that matched; by default half the
   upload's frame interval (the median gap of its timestamps: 0.5 s at one frame per second),
   which at equal rates adds no frame and keeps vPDQ's share.
3. **Order.** Both videos are cut into *scenes* (:mod:`hashwall.hashing.video_scenes`): a
   frame more than ``distinct_bits`` from the first frame of the current scene (its key
   frame) starts a new one (a still or slowly changing shot is one scene, however long or
   noisy). Two scenes match when a frame of one matches a frame of the other. The longest
   chain of matching scene pairs whose times increase in both videos must have at least
   ``min_frames`` (3) pairs, so that a near-static or dark clip, whose frames all look
   alike, cannot match any video of the same look, and frames scattered at random cannot add
   up to a match. (A video of fewer scenes, a still picture, is matched as a photo instead:
   :func:`hashwall.hashing.vpdq.hash_video` hashes its best frame as an image.)
4. **Decision.** A match when (upload share >= ``upload_percent`` or banked share >=
   ``banked_percent``) and the ordered chain is long enough.

Upload frames are compared as they are and, when the upload carries them, mirrored
(:attr:`VideoFrames.mirror`, hashed with ``hash_video(..., mirror=True)``): each orientation
is judged as a whole (a mirrored upload is mirrored throughout) and the better result is kept.

Time ranges: a range is a run of consecutive frames of one video (in its frame list, after
the quality filter and the collapsing of identical runs) that all matched (banked: were
found), from the first one's timestamp to the last one's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self, TypeVar

import numpy as np
import numpy.typing as npt

from hashwall.errors import InvalidHash
from hashwall.hashing.codes import HASH_BYTES
from hashwall.hashing.pdq import MIN_QUALITY
from hashwall.hashing.video_scenes import DEFAULT_DISTINCT_BITS, DEFAULT_MIN_FRAMES, scene_starts
from hashwall.hashing.vpdq import VideoHashes, VpdqFeature

__all__ = [
    "DEFAULT_BANKED_PERCENT",
    "DEFAULT_DISTINCT_BITS",
    "DEFAULT_FRAME_THRESHOLD",
    "DEFAULT_MIN_FRAMES",
    "DEFAULT_UPLOAD_PERCENT",
    "TimeRange",
    "VideoFrames",
    "VideoMatch",
    "match_each",
    "match_video",
]

DEFAULT_FRAME_THRESHOLD = 31
DEFAULT_UPLOAD_PERCENT = 80.0
DEFAULT_BANKED_PERCENT = 80.0

#: Frame pairs compared per block.
_BLOCK_PAIRS = 1 << 20

Words = npt.NDArray[np.uint64]
Reason = Literal[
    "upload_percent", "banked_percent", "below_percent", "too_few_ordered_frames", "no_frames"
]
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A stretch of one video, in seconds from its start (both ends are frame timestamps)."""

    start: float
    end: float

    def to_dict(self) -> dict[str, float]:
        """``{"start", "end"}``, 3 decimals as vPDQ's timestamps."""
        return {"start": round(self.start, 3), "end": round(self.end, 3)}


@dataclass(frozen=True, slots=True, eq=False)
class VideoFrames:
    """One video's usable frame hashes in time order: ``(n, 4)`` uint64 words (big-endian, as
    the indexes hold them), their timestamps, and optionally the mirrored hashes."""

    words: Words
    timestamps: npt.NDArray[np.float64]
    mirror: Words | None = None

    def __post_init__(self) -> None:
        n = self.words.shape[0]
        if self.words.shape != (n, 4) or self.timestamps.shape != (n,):
            raise ValueError("VideoFrames: words is (n, 4) and timestamps (n,)")
        if self.mirror is not None and self.mirror.shape != (n, 4):
            raise ValueError("VideoFrames: mirror is (n, 4) like words")

    def __len__(self) -> int:
        return int(self.words.shape[0])

    @classmethod
    def from_features(cls, features: Sequence[VpdqFeature], min_quality: int = MIN_QUALITY) -> Self:
        """The frames of quality >= ``min_quality``; mirrored hashes when every kept frame
        has one."""
        kept = [f for f in features if f.quality >= min_quality]
        words = _words([f.hash.value for f in kept])
        stamps = np.array([f.timestamp for f in kept], dtype=np.float64)
        mirrors = [f.mirror for f in kept]
        mirror = None
        if kept and all(m is not None for m in mirrors):
            mirror = _words([m.value for m in mirrors if m is not None])
        return cls(words, stamps, mirror)

    @classmethod
    def from_video(cls, video: VideoHashes, min_quality: int = MIN_QUALITY) -> Self:
        """The frames of :func:`hashwall.hashing.vpdq.hash_video`'s result."""
        return cls.from_features(video.frames, min_quality)

    @classmethod
    def from_hex(
        cls,
        hashes: Sequence[str],
        timestamps: Sequence[float] | None = None,
        mirror: Sequence[str] | None = None,
    ) -> Self:
        """Frames from 64-hex-digit hashes (timestamps 0, 1, 2, ... s by default)."""
        try:
            words = _words([bytes.fromhex(h) for h in hashes])
            mirrored = None if mirror is None else _words([bytes.fromhex(h) for h in mirror])
        except ValueError:
            raise InvalidHash("a frame hash is 64 hexadecimal digits") from None
        stamps = np.arange(len(hashes), dtype=np.float64) if timestamps is None else timestamps
        return cls(words, np.asarray(stamps, dtype=np.float64), mirrored)

    def mirrored(self) -> Self | None:
        """The same frames with the mirrored hashes as their hashes (None without them)."""
        if self.mirror is None:
            return None
        return type(self)(self.mirror, self.timestamps)


@dataclass(frozen=True, slots=True)
class VideoMatch:
    """The verdict for one upload against one banked video, and why."""

    match: bool
    reason: Reason
    upload_frames_matched_pct: float
    banked_frames_matched_pct: float
    #: Matching scene pairs in increasing time in both videos (the longest such chain).
    ordered_frames: int
    upload_ranges: tuple[TimeRange, ...]
    banked_ranges: tuple[TimeRange, ...]
    #: The upload matched mirrored (left to right) rather than as it is.
    mirrored: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (percentages to 2 decimals)."""
        return {
            "match": self.match,
            "reason": self.reason,
            "upload_frames_matched_pct": round(self.upload_frames_matched_pct, 2),
            "banked_frames_matched_pct": round(self.banked_frames_matched_pct, 2),
            "ordered_frames": self.ordered_frames,
            "mirrored": self.mirrored,
            "ranges": {
                "upload": [r.to_dict() for r in self.upload_ranges],
                "banked": [r.to_dict() for r in self.banked_ranges],
            },
        }


def match_video(
    upload: VideoFrames,
    banked: VideoFrames,
    *,
    threshold: int = DEFAULT_FRAME_THRESHOLD,
    upload_percent: float = DEFAULT_UPLOAD_PERCENT,
    banked_percent: float = DEFAULT_BANKED_PERCENT,
    min_frames: int = DEFAULT_MIN_FRAMES,
    distinct_bits: int = DEFAULT_DISTINCT_BITS,
    banked_window: float | None = None,
) -> VideoMatch:
    """Judge ``upload`` against one ``banked`` video, as it is and mirrored (the better)."""
    window = half_interval(upload.timestamps) if banked_window is None else banked_window
    # The banked video's scenes are the same for both orientations of the upload.
    banked_keys = key_frames(banked.words, distinct_bits)
    args = (threshold, upload_percent, banked_percent, min_frames, distinct_bits, window)
    best = _judge(upload, banked, *args, banked_keys, mirrored=False)
    flipped = upload.mirrored()
    if flipped is not None:
        other = _judge(flipped, banked, *args, banked_keys, mirrored=True)
        if _rank(other) > _rank(best):
            best = other
    return best


def match_each(
    upload: VideoFrames, banked: Mapping[K, VideoFrames], **rule: Any
) -> dict[K, VideoMatch]:
    """:func:`match_video` against each banked video on its own (a compilation of several
    banked clips matches each of them)."""
    return {key: match_video(upload, video, **rule) for key, video in banked.items()}


def _rank(result: VideoMatch) -> tuple[bool, float, int]:
    share = max(result.upload_frames_matched_pct, result.banked_frames_matched_pct)
    return result.match, share, result.ordered_frames


def _judge(
    upload: VideoFrames,
    banked: VideoFrames,
    threshold: int,
    upload_percent: float,
    banked_percent: float,
    min_frames: int,
    distinct_bits: int,
    window: float,
    banked_keys: npt.NDArray[np.intp],
    *,
    mirrored: bool,
) -> VideoMatch:
    if len(upload) == 0 or len(banked) == 0:
        return VideoMatch(False, "no_frames", 0.0, 0.0, 0, (), (), mirrored)
    near = within(upload.words, banked.words, threshold)  # (n_upload, n_banked) bool
    upload_hit: npt.NDArray[np.bool_] = np.any(near, axis=1)
    banked_hit = found_within(banked.timestamps, np.any(near, axis=0), window)
    upload_pct = _distinct_share(upload.words, upload_hit)
    banked_pct = _distinct_share(banked.words, banked_hit)
    keys_u = key_frames(upload.words, distinct_bits)
    ordered = longest_ordered_chain(_pool(_pool(near, keys_u, 0), banked_keys, 1))
    reason: Reason
    if upload_pct >= upload_percent:
        reason = "upload_percent"
    elif banked_pct >= banked_percent:
        reason = "banked_percent"
    else:
        reason = "below_percent"
    if reason != "below_percent" and ordered < min_frames:
        reason = "too_few_ordered_frames"
    return VideoMatch(
        match=reason in ("upload_percent", "banked_percent"),
        reason=reason,
        upload_frames_matched_pct=upload_pct,
        banked_frames_matched_pct=banked_pct,
        ordered_frames=ordered,
        upload_ranges=ranges(upload.timestamps, upload_hit),
        banked_ranges=ranges(banked.timestamps, banked_hit),
        mirrored=mirrored,
    )


def distances(a: Words, b: Words) -> npt.NDArray[np.uint16]:
    """All-pairs Hamming distances of two ``(n, 4)`` word arrays, ``(len(a), len(b))``.

    One word at a time into a small accumulator, in blocks of about a million pairs: the
    temporaries stay a few megabytes however long the videos are.
    """
    out = np.empty((a.shape[0], b.shape[0]), dtype=np.uint16)
    rows = max(1, _BLOCK_PAIRS // max(1, b.shape[0]))
    for lo in range(0, a.shape[0], rows):
        part = a[lo : lo + rows]
        acc = np.zeros((part.shape[0], b.shape[0]), dtype=np.uint16)
        for w in range(a.shape[1]):
            acc += np.bitwise_count(part[:, w, None] ^ b[None, :, w])
        out[lo : lo + rows] = acc
    return out


def within(a: Words, b: Words, threshold: int) -> npt.NDArray[np.bool_]:
    """Which pairs of rows of ``a`` and ``b`` are within ``threshold`` bits."""
    near: npt.NDArray[np.bool_] = distances(a, b) <= threshold
    return near


def key_frames(words: Words, distinct_bits: int) -> npt.NDArray[np.intp]:
    """Indexes of the frames more than ``distinct_bits`` from the key frame before them (the
    first frame is always one)."""
    codes = (int.from_bytes(row.tobytes(), "big") for row in words.astype(">u8"))
    return np.array(scene_starts(codes, distinct_bits), dtype=np.intp)


def longest_ordered_chain(near: npt.NDArray[np.bool_]) -> int:
    """The most pairs ``(i, j)`` with ``near[i, j]`` whose ``i`` and ``j`` both strictly
    increase along the chain (a longest increasing subsequence, one row at a time)."""
    rows, cols = near.shape
    # tails[k]: the smallest column a chain of k + 1 pairs can end in; cols means none yet.
    tails = np.full(cols + 1, cols, dtype=np.int64)
    length = 0
    for i in range(rows):
        js = np.flatnonzero(near[i])
        if js.size == 0:
            continue
        # Against the tails before this row, so that one row adds at most one pair to a chain.
        pos = np.searchsorted(tails[:length], js, side="left")
        np.minimum.at(tails, pos, js)
        length = max(length, int(pos.max()) + 1)
    return length


def half_interval(timestamps: npt.NDArray[np.float64]) -> float:
    """Half the median gap between consecutive timestamps (0 with fewer than two)."""
    if timestamps.size < 2:
        return 0.0
    return float(np.median(np.diff(timestamps))) / 2


def found_within(
    timestamps: npt.NDArray[np.float64], hit: npt.NDArray[np.bool_], window: float
) -> npt.NDArray[np.bool_]:
    """``hit``, plus the frames within ``window`` seconds of a hit frame."""
    if window <= 0 or not hit.any():
        return hit
    times = timestamps[hit]  # in time order, as the frames are
    at = np.searchsorted(times, timestamps)
    before = times[np.clip(at - 1, 0, times.size - 1)]
    after = times[np.clip(at, 0, times.size - 1)]
    nearest = np.minimum(np.abs(timestamps - before), np.abs(after - timestamps))
    found: npt.NDArray[np.bool_] = hit | (nearest <= window)
    return found


def ranges(
    timestamps: npt.NDArray[np.float64], hit: npt.NDArray[np.bool_]
) -> tuple[TimeRange, ...]:
    """Runs of consecutive matched frames as time ranges."""
    if not hit.any():
        return ()
    edges = np.diff(np.concatenate(([0], hit.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return tuple(
        TimeRange(float(timestamps[s]), float(timestamps[e]))
        for s, e in zip(starts, ends, strict=True)
    )


def _pool(
    near: npt.NDArray[np.bool_], keys: npt.NDArray[np.intp], axis: int
) -> npt.NDArray[np.bool_]:
    """Scenes are runs of frames from one key frame to the next: any match in a run is the
    scene's (nothing to pool when every frame is a key frame, as in a lively video)."""
    if keys.size == near.shape[axis]:
        return near
    pooled: npt.NDArray[np.bool_] = np.logical_or.reduceat(near, keys, axis=axis)
    return pooled


def _distinct_share(words: Words, hit: npt.NDArray[np.bool_]) -> float:
    """Percent of the distinct rows of ``words`` that are hit (equal rows count once)."""
    unique, inverse = np.unique(words, axis=0, return_inverse=True)
    hit_unique = np.zeros(unique.shape[0], dtype=np.bool_)
    hit_unique[inverse.reshape(-1)[hit]] = True
    return 100.0 * int(hit_unique.sum()) / int(unique.shape[0])


def _words(values: Sequence[bytes]) -> Words:
    if not values:
        return np.zeros((0, 4), dtype=np.uint64)
    if any(len(v) != HASH_BYTES for v in values):
        raise InvalidHash("a frame hash is 64 hexadecimal digits")
    raw = np.frombuffer(b"".join(values), dtype=">u8")
    return raw.astype(np.uint64).reshape(len(values), 4)
