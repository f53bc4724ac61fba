"""vPDQ: a video as the PDQ hashes of its frames, compatible with Meta's vPDQ.

The steps carry vPDQ's names (``vpdq/cpp/hashing/filehasher.cpp``, ``python-threatexchange``'s
``vpdq_util``):

1. :func:`compute_hash` (vPDQ's ``computeHash``/``hashVideoFile``): hash one frame in every
   ``frame_mod = int(seconds_per_hash * fps)`` (:func:`frame_mod`; 0 means every frame) with PDQ
   at native resolution, as images are hashed in reference mode. The frames are those decoding
   every frame gives, though what no hashed frame needs is left undecoded
   (:mod:`hashwall.media.video_sampling`). Each
   hashed frame is a :class:`VpdqFeature`: frame number (0-based index among decoded frames),
   PDQ hash, quality, and timestamp ``frame_number / fps`` (not the packet's time), 3 decimals.
2. :func:`quality_filter`: frames of quality below 50 are too featureless to match on: dropped.
3. :func:`collapse_runs`: a run of identical consecutive hashes (a still scene) keeps its first
   frame only.

With ``mirror``, each hashed frame also carries the PDQ hash of the frame mirrored left to
right (the ``flip_y`` orientation of the same DCT, so almost free): a matcher compares an
upload's frames as they are and mirrored (:mod:`hashwall.hashing.video_match`). The mirrored
hash rides along; the quality filter and the collapsing of runs look at the frame as it is.

:func:`hash_video` does all three, adds the file's MD5 and SHA-256 (read in chunks), and hashes
a picture of the video as an image (:attr:`VideoHashes.first_frame`, with its 8 dihedral hashes
when ``mirror``: a check searches them as an image check does; intake banks it as a ``pdq``
signal): an animation's first frame, or a still video's picture.

- An animated GIF/PNG/WebP: its first frame as an image hashes it, so that an animation
  banked as an image before still matches.
- A still video: one whose kept frames form fewer scenes than the video rule needs to match
  (:func:`is_still`; a photo shown for 10 s, a slideshow frame, a clip too short to match as
  a video). Its best-quality kept frame is hashed as a photo, so that it matches its
  re-encodes and the photo it shows, which no video rule can: the rule wants several scenes
  in order, so that a near-static or dark clip cannot match every video of its look. The
  frame's PDQ is already what hashing its pixels as an image gives (the same PDQ at the
  video's size, its 8 dihedral hashes computed when ``mirror``), so nothing is decoded or
  hashed again. A featureless still (every frame of quality below 50) gets none, as a
  featureless photo is not banked.

It is the one call a decoder worker makes (see its :meth:`VideoHashes.to_wire`).

With ``box`` (an upload to check), the rectangle of picture content inside constant bars
of one colour (letterbox, pillarbox) is found on sampled hashed frames
(:mod:`hashwall.hashing.video_box`), and so is a static logo stamped on the picture; when
there is either, the video is decoded a second time and its frames hashed cropped to the box
with the logo filled in, as :attr:`VideoHashes.box_frames` (filtered and collapsed alike, with
their mirrored hashes when ``mirror``). A check searches them beside the plain
frames; nothing of them is banked.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any, Self, TypeGuard

import numpy as np
import numpy.typing as npt

from hashwall.errors import HashwallError, InvalidHash, MediaTooLarge
from hashwall.hashing.contentbox import Box
from hashwall.hashing.image import Note, hash_image, read_media_file
from hashwall.hashing.pdq import (
    MIN_QUALITY,
    ORIENTATIONS,
    Orientation,
    PdqHash,
    PdqResult,
    pdq_reference,
)
from hashwall.hashing.signals import PdqSignal, Signal
from hashwall.hashing.video_box import BoxVote, Overlay, OverlayVote, fill_overlay
from hashwall.hashing.video_scenes import DEFAULT_DISTINCT_BITS, DEFAULT_MIN_FRAMES, scene_starts
from hashwall.media.video import OpenVideo, VideoSource, open_video, read_chunks
from hashwall.media.video_containers import ANIMATIONS
from hashwall.settings import Settings

__all__ = [
    "FirstFrame",
    "Progress",
    "VideoHashes",
    "VpdqFeature",
    "collapse_runs",
    "compute_hash",
    "frame_mod",
    "hash_video",
    "is_still",
    "quality_filter",
]

#: Where the left-right mirror is among the 8 dihedral hashes (``pdqhash``'s flipY).
_MIRROR = ORIENTATIONS.index(Orientation.FLIP_Y)

#: ``progress(frames_decoded, frames_expected)``; the expected count is None when unknown.
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True, slots=True)
class VpdqFeature:
    """One hashed frame (vPDQ's ``vpdqFeature``)."""

    frame_number: int
    hash: PdqHash
    quality: int
    timestamp: float  # seconds: frame_number / fps, rounded to 3 decimals
    mirror: PdqHash | None = None  # the frame mirrored left to right, when asked for

    def to_line(self) -> str:
        """vPDQ's text form ``frame_number,quality,hash,timestamp`` (its sample-hashes files)."""
        return f"{self.frame_number},{self.quality},{self.hash.hex},{self.timestamp:.3f}"

    @classmethod
    def from_line(cls, line: str) -> Self:
        """Parse one line of vPDQ's text form; ``invalid_hash`` if it is not one."""
        parts = line.strip().split(",")
        try:
            if len(parts) != 4:
                raise ValueError("4 fields")
            frame_number, quality, timestamp = int(parts[0]), int(parts[1]), float(parts[3])
        except ValueError:
            raise InvalidHash(
                "a vPDQ line is frame_number,quality,hash,timestamp (4 comma-separated fields)"
            ) from None
        if frame_number < 0 or not 0 <= quality <= 100 or not timestamp >= 0:
            raise InvalidHash("a vPDQ line has a frame number >= 0, quality 0-100, timestamp >= 0")
        return cls(frame_number, PdqHash.from_hex(parts[2]), quality, timestamp)

    def to_dict(self) -> dict[str, Any]:
        """``{"frame", "pdq", "quality", "timestamp"}``, the JSON form of the CLI and the wire
        (plus ``"mirror"`` when the mirrored frame was hashed)."""
        out: dict[str, Any] = {
            "frame": self.frame_number,
            "pdq": self.hash.hex,
            "quality": self.quality,
            "timestamp": self.timestamp,
        }
        if self.mirror is not None:
            out["mirror"] = self.mirror.hex
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The inverse of :meth:`to_dict`."""
        mirror = data.get("mirror")
        return cls(
            int(data["frame"]),
            PdqHash.from_hex(str(data["pdq"])),
            int(data["quality"]),
            float(data["timestamp"]),
            None if mirror is None else PdqHash.from_hex(str(mirror)),
        )


@dataclass(frozen=True, slots=True)
class FirstFrame:
    """An animation's first frame, or a still video's picture, hashed as an image (what banking
    it as an image gives), with its 8 dihedral hashes when the video was hashed with its
    mirrored frames (for a check)."""

    hash: PdqHash
    quality: int
    orientations: tuple[PdqHash, ...] | None = None

    def to_wire(self) -> dict[str, Any]:
        """``{"pdq", "quality", "orientations"?}`` (:meth:`from_wire` inverts)."""
        out: dict[str, Any] = {"pdq": self.hash.hex, "quality": self.quality}
        if self.orientations is not None:
            out["orientations"] = [h.hex for h in self.orientations]
        return out

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Self:
        """The inverse of :meth:`to_wire`."""
        turned = data.get("orientations")
        return cls(
            PdqHash.from_hex(str(data["pdq"])),
            int(data["quality"]),
            None if turned is None else tuple(PdqHash.from_hex(str(h)) for h in turned),
        )


@dataclass(frozen=True, slots=True)
class VideoHashes:
    """Every signal of one video: the kept frame hashes, the file's digests, what was hashed."""

    frames: tuple[VpdqFeature, ...]  # quality >= 50, runs of identical hashes collapsed
    md5: str
    sha256: str
    container: str
    codec: str
    width: int
    height: int
    fps: float
    frames_decoded: int
    frames_hashed: int  # before the quality filter and the collapsing of runs
    seconds_per_hash: float
    #: An animation's first frame, or a still video's picture, hashed as an image.
    first_frame: FirstFrame | None = None
    notes: tuple[Note, ...] = field(default=())
    #: With ``hash_video(box=True)``: the frames cropped to the picture inside constant bars
    #: (``content_box``: x0, y0, x1, y1 in pixels) and with a static logo filled in, when the
    #: video has either.
    box_frames: tuple[VpdqFeature, ...] = field(default=())
    content_box: tuple[int, int, int, int] | None = None

    @property
    def duration(self) -> float:
        """Seconds of video decoded (frames / fps)."""
        return self.frames_decoded / self.fps

    @property
    def usable(self) -> bool:
        """True when at least one frame hash may be banked or matched on."""
        return bool(self.frames)

    def first_frame_signal(self) -> Signal | None:
        """An animation's first frame, or a still video's picture, as the PDQ signal of an
        image (with its quality)."""
        first = self.first_frame
        return None if first is None else Signal(PdqSignal.name, first.hash.hex, first.quality)

    def first_frame_orientations(self) -> dict[str, tuple[str, ...]]:
        """:attr:`first_frame`'s 8 dihedral hashes by signal type (empty when not hashed)."""
        first = self.first_frame
        if first is None or first.orientations is None:
            return {}
        return {PdqSignal.name: tuple(h.hex for h in first.orientations)}

    def to_wire(self) -> dict[str, Any]:
        """Plain JSON values (what a decoder worker sends back; :meth:`from_wire` inverts)."""
        return {
            "frames": [f.to_dict() for f in self.frames],
            "md5": self.md5,
            "sha256": self.sha256,
            "container": self.container,
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "frames_decoded": self.frames_decoded,
            "frames_hashed": self.frames_hashed,
            "seconds_per_hash": self.seconds_per_hash,
            "first_frame": None if self.first_frame is None else self.first_frame.to_wire(),
            "notes": [{"code": n.code, "message": n.message} for n in self.notes],
            "box_frames": [f.to_dict() for f in self.box_frames],
            "content_box": None if self.content_box is None else list(self.content_box),
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Self:
        """The inverse of :meth:`to_wire`."""
        first = data.get("first_frame")
        box = data.get("content_box")
        return cls(
            frames=tuple(VpdqFeature.from_dict(f) for f in data["frames"]),
            md5=str(data["md5"]),
            sha256=str(data["sha256"]),
            container=str(data["container"]),
            codec=str(data["codec"]),
            width=int(data["width"]),
            height=int(data["height"]),
            fps=float(data["fps"]),
            frames_decoded=int(data["frames_decoded"]),
            frames_hashed=int(data["frames_hashed"]),
            seconds_per_hash=float(data["seconds_per_hash"]),
            first_frame=None if first is None else FirstFrame.from_wire(first),
            notes=tuple(Note(str(n["code"]), str(n["message"])) for n in data.get("notes", ())),
            box_frames=tuple(VpdqFeature.from_dict(f) for f in data.get("box_frames") or ()),
            content_box=None
            if box is None
            else (int(box[0]), int(box[1]), int(box[2]), int(box[3])),
        )


def frame_mod(seconds_per_hash: float, fps: float) -> int:
    """vPDQ's ``frameMod``: hash frame n when ``n % frame_mod == 0``; 0 seconds is every frame."""
    if seconds_per_hash < 0:
        raise ValueError("seconds_per_hash must be >= 0")
    # int() truncates as the C++ assignment of a double to an int does; 0 means every frame.
    return max(1, int(seconds_per_hash * fps))


def compute_hash(
    video: OpenVideo,
    seconds_per_hash: float,
    *,
    fast: bool = False,
    mirror: bool = False,
    progress: Progress | None = None,
    crop: Box | None = None,
    look: Callable[[npt.NDArray[np.uint8]], None] | None = None,
    fill: Overlay | None = None,
) -> Iterator[VpdqFeature]:
    """vPDQ's computeHash over an opened video: every hashed frame, low-quality ones included.

    ``fast`` hashes each full-resolution frame with hashwall's sampled Jarosz filter
    (:func:`hashwall.hashing.fast.pdq_fast`, ~15x faster than ``pdqhash`` on 720p, equal within
    float rounding) instead of the ``pdqhash`` C++ library. ``mirror`` adds each frame's
    mirrored hash (:attr:`VpdqFeature.mirror`). ``crop`` hashes each frame cropped to that
    box, ``fill`` with a static overlay filled in (in the crop's coordinates:
    :func:`hashwall.hashing.video_box.fill_overlay`); ``look`` is shown each hashed frame's
    pixels (before any crop).
    """
    hashed = _hash_frames(
        video,
        seconds_per_hash,
        fast=fast,
        mirror=mirror,
        progress=progress,
        crop=crop,
        look=look,
        fill=fill,
    )
    return (feature for feature, _ in hashed)


def _hash_frames(
    video: OpenVideo,
    seconds_per_hash: float,
    *,
    fast: bool,
    mirror: bool,
    progress: Progress | None = None,
    crop: Box | None = None,
    look: Callable[[npt.NDArray[np.uint8]], None] | None = None,
    fill: Overlay | None = None,
) -> Iterator[tuple[VpdqFeature, tuple[PdqHash, ...] | None]]:
    """:func:`compute_hash`'s frames, each with its 8 dihedral hashes when ``mirror`` (the
    mirrored one is among them: PDQ computes all 8 from one DCT)."""
    pdq: Callable[[npt.NDArray[np.uint8]], PdqResult] = partial(pdq_reference, dihedral=mirror)
    if fast:
        from hashwall.hashing.fast import pdq_fast

        pdq = partial(pdq_fast, dihedral=mirror)
    fps = video.info.fps
    expected = video.info.expected_frames
    for frame in video.frames(every=frame_mod(seconds_per_hash, fps)):
        pixels = frame.pixels
        if look is not None:
            look(pixels)
        if crop is not None:
            pixels = np.ascontiguousarray(pixels[crop.y0 : crop.y1, crop.x0 : crop.x1])
        if fill is not None:
            pixels = fill_overlay(pixels, fill)
        result = pdq(pixels)
        mirrored = result.orientations[_MIRROR] if result.orientations else None
        timestamp = round(frame.index / fps, 3)
        feature = VpdqFeature(frame.index, result.hash, result.quality, timestamp, mirrored)
        yield feature, result.orientations
        if progress is not None:
            progress(video.decoded, expected)


def quality_filter(
    features: Iterable[VpdqFeature], min_quality: int = MIN_QUALITY
) -> Iterator[VpdqFeature]:
    """The features of quality >= ``min_quality`` (vpdq_util's ``quality_filter``)."""
    return (f for f in features if f.quality >= min_quality)


def collapse_runs(features: Iterable[VpdqFeature]) -> Iterator[VpdqFeature]:
    """The first feature of every run of identical consecutive hashes."""
    previous: PdqHash | None = None
    for feature in features:
        if feature.hash != previous:
            yield feature
        previous = feature.hash


def hash_video(
    source: VideoSource,
    *,
    settings: Settings | None = None,
    seconds_per_hash: float | None = None,
    fast: bool = False,
    mirror: bool = False,
    threads: int = 0,
    progress: Progress | None = None,
    box: bool = False,
) -> VideoHashes:
    """Fingerprint a video (bytes, a path, or a seekable stream): vPDQ frames and digests.

    ``seconds_per_hash`` defaults to ``settings.vpdq_seconds_per_hash`` (1 s; 0 hashes every
    frame); ``fast`` and ``mirror`` as in :func:`compute_hash`. Raises a
    :class:`hashwall.errors.HashwallError` for anything that is not a decodable video within
    the limits of ``settings``. ``box``: the frames cropped to the picture inside constant
    bars and with a static logo filled in too, when there are bars or a logo (see the module
    docstring). An animation's first frame, or a
    still video's best frame, is hashed as an image too (:attr:`VideoHashes.first_frame`).
    """
    settings = settings or Settings()
    if seconds_per_hash is None:
        seconds_per_hash = settings.vpdq_seconds_per_hash
    start = source.tell() if _is_stream(source) else 0
    md5, sha256 = _digests(source, settings)
    if _is_stream(source):
        source.seek(start)
    hashed = 0
    best: FirstFrame | None = None  # the best-quality usable frame so far, as a picture

    def counted(
        frames: Iterable[tuple[VpdqFeature, tuple[PdqHash, ...] | None]],
    ) -> Iterator[VpdqFeature]:
        nonlocal hashed, best
        for feature, turned in frames:
            hashed += 1
            quality = feature.quality
            if quality >= settings.pdq_min_quality and (best is None or quality > best.quality):
                best = FirstFrame(feature.hash, quality, turned)
            yield feature

    vote = BoxVote() if box else None
    still_parts = OverlayVote() if box else None

    def look(pixels: npt.NDArray[np.uint8]) -> None:
        if vote is not None and still_parts is not None:
            vote.add(pixels)
            still_parts.add(pixels)

    with open_video(source, settings, threads=threads) as video:
        # Filtered and collapsed as they come: a long still video keeps few features in memory.
        frames = _hash_frames(
            video,
            seconds_per_hash,
            fast=fast,
            mirror=mirror,
            progress=progress,
            look=look if box else None,
        )
        kept = tuple(collapse_runs(quality_filter(counted(frames), settings.pdq_min_quality)))
        info, decoded = video.info, video.decoded
    found = None if vote is None else vote.box()
    overlay = None if still_parts is None else still_parts.overlay(found)
    box_frames: tuple[VpdqFeature, ...] = ()
    if found is not None or overlay is not None:
        if _is_stream(source):
            source.seek(start)
        with open_video(source, settings, threads=threads) as video:
            cropped = compute_hash(
                video, seconds_per_hash, fast=fast, mirror=mirror, crop=found, fill=overlay
            )
            box_frames = tuple(collapse_runs(quality_filter(cropped, settings.pdq_min_quality)))
    notes: list[Note] = []
    first_frame: FirstFrame | None = None
    if info.container in ANIMATIONS:
        if _is_stream(source):
            source.seek(start)
        first_frame, note = _first_frame(source, settings, orientations=mirror)
        notes.extend(note)
    elif best is not None and is_still(kept):
        first_frame = best
        notes.append(
            Note(
                "still_picture",
                f"the kept frames form fewer than {DEFAULT_MIN_FRAMES} scenes (a still picture, "
                "or too short to match as a video): the best frame is also hashed as a photo, "
                "banked and matched as one",
            )
        )
    if not kept:
        notes.append(
            Note(
                "low_quality",
                f"every hashed frame has PDQ quality below {settings.pdq_min_quality}: the video "
                "is too featureless to match on; no frame hash will be banked or matched",
            )
        )
    return VideoHashes(
        frames=kept,
        md5=md5,
        sha256=sha256,
        container=info.container,
        codec=info.codec,
        width=info.width,
        height=info.height,
        fps=info.fps,
        frames_decoded=decoded,
        frames_hashed=hashed,
        seconds_per_hash=seconds_per_hash,
        first_frame=first_frame,
        notes=tuple(notes),
        box_frames=box_frames,
        content_box=None if found is None else (found.x0, found.y0, found.x1, found.y1),
    )


def is_still(frames: Sequence[VpdqFeature]) -> bool:
    """True when usable frames (filtered and collapsed) form fewer scenes than a video match
    needs (:mod:`hashwall.hashing.video_scenes`): no video can match them by the video rule."""
    codes = (int.from_bytes(f.hash.value, "big") for f in frames)
    return 0 < len(scene_starts(codes, DEFAULT_DISTINCT_BITS)) < DEFAULT_MIN_FRAMES


def _is_stream(source: VideoSource) -> TypeGuard[IO[bytes]]:
    return not isinstance(source, bytes | bytearray | memoryview | str | os.PathLike)


def _digests(source: VideoSource, settings: Settings) -> tuple[str, str]:
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    for chunk in read_chunks(source, settings):
        md5.update(chunk)
        sha256.update(chunk)
    return md5.hexdigest(), sha256.hexdigest()


def _first_frame(
    source: VideoSource, settings: Settings, *, orientations: bool = False
) -> tuple[FirstFrame | None, list[Note]]:
    """An animation's first frame hashed as an image is (with its 8 dihedral hashes when
    ``orientations``); a note instead when it cannot be."""
    try:
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
        elif isinstance(source, str | os.PathLike):
            data = read_media_file(Path(source), settings)
        else:
            data = _read_bounded(source, settings.max_input_bytes)
        image = hash_image(data, orientations=orientations, settings=settings)
    except HashwallError as exc:
        return None, [
            Note("first_frame_unavailable", f"the first frame was not hashed as an image: {exc}")
        ]
    turned = tuple(image.orientations) if image.orientations is not None else None
    return FirstFrame(image.pdq, image.quality, turned), []


def _read_bounded(stream: IO[bytes], limit: int) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise MediaTooLarge(f"the animation has more than {limit} bytes (the limit for images)")
    return data
