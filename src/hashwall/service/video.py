"""Videos in the bank and in checks: frame lists in, the video rule out.

A video item or a checked video carries its frames beside its signals, each as
:meth:`hashwall.hashing.vpdq.VpdqFeature.to_dict` writes it (``{"frame", "pdq", "quality",
"timestamp"}``), in order. :func:`parse_frames` validates such a list (``invalid_hash`` for a
malformed frame or a list out of order, ``too_many_frames`` past ``settings.vpdq_max_frames``)
and keeps the frames of quality >= the floor (``settings.vpdq_frame_min_quality``, else 50) as
``vpdq_frame`` :class:`SignalRecord` values: the frame's PDQ hash as the value, its number and
timestamp in the signal row's own columns (one row per frame, where the item's other signals
live).

Index ids. An item holds many frame hashes, and the indexes key a value by its id: a frame's id
is ``item_id << FRAME_BITS | frame_number`` (:func:`frame_index_ids`), which
:func:`item_of_index_id` turns back into the item. Frame numbers are below ``2**FRAME_BITS``
(16.7 million: 2 hours at 2,300 frames per second).

Checks. Any upload frame (as it is, or mirrored) within the platform's ``vpdq_frame`` radius of
a banked frame makes that item a candidate; each candidate is then judged on its own with
:func:`hashwall.hashing.video_match.match_video` against all its banked frames, with the
platform's ``video_upload_percent`` and ``video_bank_percent`` (:func:`judge`). A
compilation of two banked clips is a candidate of both and matches both.

Box frames. An upload whose picture sits inside constant bars (letterbox, pillarbox: found by
``hash_video(..., box=True)``, :mod:`hashwall.hashing.video_box`) also sends its frames
cropped to the picture (``box_frames``, ``box_mirror_frames``), validated like its frames and
kept as :attr:`UploadFrames.box`. They are searched beside the plain frames, and :func:`judge`
judges the upload against a candidate with each list and keeps the better result (a barred
re-upload of a barred banked video still matches by its plain frames). Nothing of them is
banked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from hashwall.domain import PlatformPolicy
from hashwall.errors import InvalidHash, TooManyFrames
from hashwall.hashing.signals import (
    SIGNAL_TYPES,
    DistanceSignalType,
    Md5Signal,
    Sha256Signal,
    Signal,
)
from hashwall.hashing.signals.vpdq_frame import VpdqFrameSignal
from hashwall.hashing.video_match import VideoFrames, VideoMatch, match_video
from hashwall.hashing.vpdq import VideoHashes, VpdqFeature
from hashwall.service.signal_policy import min_quality, policy_threshold
from hashwall.store.repositories.signals import SignalRecord

#: Low bits of a frame's index id that hold its frame number.
FRAME_BITS: Final = 24
MAX_FRAME_NUMBER: Final = (1 << FRAME_BITS) - 1
#: The signal type of video frames.
FRAME_TYPE: Final[type[DistanceSignalType]] = VpdqFrameSignal


def frame_type() -> type[DistanceSignalType] | None:
    """The registered type of video frames (None if a deployment unregistered it)."""
    kind = SIGNAL_TYPES.get(FRAME_TYPE.name)
    return kind if kind is FRAME_TYPE else None


def frame_index_ids(
    item_ids: npt.ArrayLike, frame_numbers: Sequence[int | None] | npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Index ids of frames: ``item_id << FRAME_BITS | frame_number`` (a frame without a
    number, None or -1 in an array, as frame 0)."""
    items = np.asarray(item_ids, dtype=np.int64)
    if isinstance(frame_numbers, np.ndarray):
        frames = np.maximum(frame_numbers.astype(np.int64), 0)
    else:
        frames = np.asarray([f or 0 for f in frame_numbers], dtype=np.int64)
    ids: npt.NDArray[np.int64] = (items << FRAME_BITS) | (frames & MAX_FRAME_NUMBER)
    return ids


def item_of_index_id(index_id: int) -> int:
    """The item of a frame's index id."""
    return index_id >> FRAME_BITS


@dataclass(frozen=True, slots=True)
class UploadFrames:
    """A checked video's usable frames (quality >= the floor): their canonical hashes and
    timestamps, and the mirrored frames' hashes when the client sent them."""

    values: tuple[str, ...]
    timestamps: tuple[float, ...]
    mirror: tuple[str, ...] | None = None
    #: The frames cropped to the picture inside the upload's bars, when it has bars.
    box: UploadFrames | None = None

    def __len__(self) -> int:
        return len(self.values)

    def search_values(self) -> tuple[str, ...]:
        """The distinct hashes to look up in the index (as they are, and mirrored)."""
        boxed = self.box.search_values() if self.box is not None else ()
        return tuple(dict.fromkeys(self.values + (self.mirror or ()) + boxed))

    def video(self) -> VideoFrames:
        """The frames for :func:`match_video`."""
        return VideoFrames.from_hex(self.values, self.timestamps, self.mirror)


def parse_frames(
    settings: object, raw: Sequence[Mapping[str, Any]], *, what: str = "frames"
) -> tuple[SignalRecord, ...]:
    """Validate a frame list from outside and keep its usable frames as ``vpdq_frame``
    records (in order). Raises ``invalid_hash`` or ``too_many_frames``."""
    limit = int(getattr(settings, "vpdq_max_frames", 10_800))
    if len(raw) > limit:
        raise TooManyFrames(
            f"{what}: {len(raw)} frames; at most {limit} per video (2 hours at one frame per "
            "second is 7,200)"
        )
    floor = min_quality(settings, FRAME_TYPE) or 0
    out: list[SignalRecord] = []
    last_frame, last_time = -1, 0.0
    for position, frame in enumerate(raw):
        number, value, quality, timestamp = _frame_fields(frame, position, what)
        if number <= last_frame or timestamp < last_time:
            raise InvalidHash(
                f"{what}[{position}]: frames come in order (frame numbers increasing, "
                "timestamps not decreasing)"
            )
        last_frame, last_time = number, timestamp
        if quality < floor:
            FRAME_TYPE.canonical_degenerate(value)
            continue  # too featureless to bank or match: dropped, as hash_video drops it
        try:
            canonical = FRAME_TYPE.canonical(value)
        except InvalidHash as exc:
            raise InvalidHash(f"{what}[{position}]: {exc.message}") from None
        out.append(SignalRecord(FRAME_TYPE.name, canonical, quality, number, timestamp))
    return tuple(out)


def parse_upload(
    settings: object,
    frames: Sequence[Mapping[str, Any]],
    mirror_frames: Sequence[Mapping[str, Any]] | None = None,
    *,
    box_frames: Sequence[Mapping[str, Any]] | None = None,
    box_mirror_frames: Sequence[Mapping[str, Any]] | None = None,
) -> UploadFrames:
    """A checked video's frames, and its mirrored frames (the same frames, mirrored left to
    right: same count, numbers and timestamps); its box frames (and their mirrored frames)
    likewise, when sent."""
    box = None
    if box_frames is not None:
        if (box_mirror_frames is None) != (mirror_frames is None):
            raise InvalidHash("box_mirror_frames come when mirror_frames do (and only then)")
        box = _parse_list(settings, box_frames, box_mirror_frames, "box_frames")
    elif box_mirror_frames is not None:
        raise InvalidHash("box_mirror_frames come with box_frames")
    plain = _parse_list(settings, frames, mirror_frames, "frames")
    if box is None:
        return plain
    return UploadFrames(plain.values, plain.timestamps, plain.mirror, box)


def _parse_list(
    settings: object,
    frames: Sequence[Mapping[str, Any]],
    mirror_frames: Sequence[Mapping[str, Any]] | None,
    what: str,
) -> UploadFrames:
    kept = parse_frames(settings, frames, what=what)
    if mirror_frames is None:
        return UploadFrames(
            tuple(r.value for r in kept), tuple(r.frame_timestamp or 0.0 for r in kept)
        )
    mirror_what = "mirror_frames" if what == "frames" else "box_mirror_frames"
    mirrored = {
        r.frame_number: r.value for r in parse_frames(settings, mirror_frames, what=mirror_what)
    }
    if len(mirror_frames) != len(frames) or any(r.frame_number not in mirrored for r in kept):
        raise InvalidHash(f"{mirror_what} holds the same frames as {what} (numbers), mirrored")
    return UploadFrames(
        tuple(r.value for r in kept),
        tuple(r.frame_timestamp or 0.0 for r in kept),
        tuple(mirrored[r.frame_number] for r in kept),
    )


def upload_of(hashes: VideoHashes) -> UploadFrames:
    """The frames of a video hashed here (``hash_video``, with ``mirror=True`` for the mirrored
    ones, ``box=True`` for the box frames)."""
    plain = _upload_list(hashes.frames)
    if not hashes.box_frames:
        return plain
    return UploadFrames(
        plain.values, plain.timestamps, plain.mirror, _upload_list(hashes.box_frames)
    )


def _upload_list(frames: Sequence[VpdqFeature]) -> UploadFrames:
    mirrors = [f.mirror for f in frames]
    mirror = None
    if frames and all(m is not None for m in mirrors):
        mirror = tuple(m.hex for m in mirrors if m is not None)
    return UploadFrames(
        tuple(f.hash.hex for f in frames), tuple(f.timestamp for f in frames), mirror
    )


def frame_records(hashes: VideoHashes) -> tuple[SignalRecord, ...]:
    """The frames of a video hashed here, as the records an item banks."""
    return tuple(
        SignalRecord(FRAME_TYPE.name, f.hash.hex, f.quality, f.frame_number, f.timestamp)
        for f in hashes.frames
    )


def file_digests(hashes: VideoHashes) -> tuple[Signal, ...]:
    """The digests of a video file hashed here (the registered exact types among them)."""
    held = {Md5Signal.name: hashes.md5, Sha256Signal.name: hashes.sha256}
    return tuple(Signal(name, value) for name, value in held.items() if name in SIGNAL_TYPES)


def banked_video(rows: Sequence[tuple[str, float | None]]) -> VideoFrames:
    """A banked item's frames from its stored ``(value, timestamp)`` rows, in frame order."""
    return VideoFrames.from_hex([v for v, _ in rows], [t or 0.0 for _, t in rows])


def judge(upload: UploadFrames, banked: VideoFrames, policy: PlatformPolicy) -> VideoMatch:
    """The video rule for one banked video on this platform (with the upload's frames, and
    with its box frames when it has them: the better result)."""
    threshold = policy_threshold(policy, FRAME_TYPE)
    shares = (float(policy.video_upload_percent), float(policy.video_bank_percent))
    best = match_video(
        upload.video(),
        banked,
        threshold=threshold,
        upload_percent=shares[0],
        banked_percent=shares[1],
    )
    if upload.box is not None and len(upload.box):
        boxed = match_video(
            upload.box.video(),
            banked,
            threshold=threshold,
            upload_percent=shares[0],
            banked_percent=shares[1],
        )
        if _rank(boxed) > _rank(best):
            best = boxed
    return best


def _rank(result: VideoMatch) -> tuple[bool, float, int]:
    share = max(result.upload_frames_matched_pct, result.banked_frames_matched_pct)
    return result.match, share, result.ordered_frames


def _frame_fields(
    frame: Mapping[str, Any], position: int, what: str
) -> tuple[int, str, int, float]:
    where = f"{what}[{position}]"
    if not isinstance(frame, Mapping):
        raise InvalidHash(f'{where}: a frame is {{"frame", "pdq", "quality", "timestamp"}}')
    number, value = frame.get("frame"), frame.get("pdq")
    quality, timestamp = frame.get("quality"), frame.get("timestamp")
    if (
        isinstance(number, bool)
        or not isinstance(number, int)
        or not 0 <= number <= MAX_FRAME_NUMBER
    ):
        raise InvalidHash(f"{where}: frame is an integer from 0 to {MAX_FRAME_NUMBER}")
    if not isinstance(value, str):
        raise InvalidHash(f"{where}: pdq is 64 hexadecimal digits")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100:
        raise InvalidHash(f"{where}: quality is an integer from 0 to 100")
    if (
        isinstance(timestamp, bool)
        or not isinstance(timestamp, int | float)
        or not 0 <= timestamp < 1e7
    ):
        raise InvalidHash(f"{where}: timestamp is seconds from the start (a number >= 0)")
    return number, value, quality, float(timestamp)
