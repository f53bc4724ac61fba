"""Request bodies from Python values: an image's or a video's hashes, an :class:`Item`, or a
list of signals.

A video (:class:`~hashwall.hashing.vpdq.VideoHashes`, from ``hash_video``) is sent by its
frames (``{"frame", "pdq", "quality", "timestamp"}`` each) beside its file's md5 and sha256; a
checked video hashed with ``mirror=True`` sends its mirrored frames too (``mirror_frames``),
and one hashed with ``box=True`` whose picture sits inside bars its frames cropped to the
picture (``box_frames``, ``box_mirror_frames``).
An animated GIF, PNG or WebP is a video; its first frame's PDQ (as an image hashes it) goes in
its signals too, with its 8 orientations for a check, so that it matches the animation banked
as an image before, and a still of its first frame. A still video (a photo shown for a few
seconds: too few scenes for the video rule) sends its picture's PDQ alike, so that it matches
its re-encodes and the photo it shows.

The body's shape is :mod:`hashwall.wire`'s (``ItemIn``, ``CheckIn``); the SDK does not check a
signal's type or value itself: the service does, against its registry of signal types, and
answers an unknown type with hashwall's error code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    from hashwall.hashing.image import ImageHashes
    from hashwall.hashing.signals import Signal
    from hashwall.hashing.vpdq import VideoHashes


@dataclass(frozen=True, slots=True)
class Item:
    """One photo or video to bank, by its signals (computed on the person's own device), and
    a video's frames (``{"frame", "pdq", "quality", "timestamp"}`` each, in order)."""

    signals: Sequence[Signal | Mapping[str, Any]]
    kind: Literal["image", "video"] = "image"
    frames: Sequence[Mapping[str, Any]] | None = None


#: One signal: a :class:`~hashwall.Signal` or a ``{"type", "value", "quality"}`` mapping.
SignalLike: TypeAlias = "Signal | Mapping[str, Any]"
#: What can be banked: an image's hashes, an :class:`Item`, or one item's signals.
ItemLike: TypeAlias = "ImageHashes | VideoHashes | Item | Sequence[Signal | Mapping[str, Any]]"
#: What can be checked: an upload's hashes (an image's or a video's), or its signals.
UploadLike: TypeAlias = "ImageHashes | VideoHashes | Sequence[Signal | Mapping[str, Any]]"
#: Media to upload: the file's bytes.
Media: TypeAlias = bytes


def signal_body(signal: SignalLike) -> dict[str, Any]:
    """The wire form of one signal (``quality`` left out when it has none)."""
    if isinstance(signal, Mapping):
        out = {"type": signal["type"], "value": signal["value"]}
        if signal.get("quality") is not None:
            out["quality"] = signal["quality"]
        return out
    wire: dict[str, Any] = {"type": signal.type, "value": signal.value}
    if signal.quality is not None:
        wire["quality"] = signal.quality
    return wire


def _is_image_hashes(value: object) -> bool:
    # Duck-typed: the SDK does not import the hashing code (numpy) to recognise its result.
    return all(hasattr(value, name) for name in ("pdq", "quality", "md5", "sha256", "mode"))


def _is_video_hashes(value: object) -> bool:
    return all(hasattr(value, name) for name in ("frames", "md5", "sha256", "seconds_per_hash"))


def _frame_bodies(frames: Sequence[Any], *, mirrored: bool = False) -> list[dict[str, Any]]:
    """Frames as the wire has them (their mirrored hashes in place of theirs when
    ``mirrored``)."""
    return [
        {
            "frame": f.frame_number,
            "pdq": (f.mirror if mirrored else f.hash).hex,
            "quality": f.quality,
            "timestamp": f.timestamp,
        }
        for f in frames
    ]


def _video_body(video: VideoHashes, *, mirrored: bool) -> dict[str, Any]:
    """A video's frames and file digests (and, for a check, its mirrored frames if hashed, and
    its box frames: cropped to the picture inside bars, when it has them)."""
    frames = _frame_bodies(video.frames)
    signals: list[dict[str, Any]] = [
        {"type": "md5", "value": video.md5},
        {"type": "sha256", "value": video.sha256},
    ]
    # An animation's first frame, or a still video's picture, as an image's PDQ: it matches the
    # picture banked as an image.
    first = video.first_frame
    if first is not None:
        signals.append({"type": "pdq", "value": first.hash.hex, "quality": first.quality})
    body: dict[str, Any] = {"kind": "video", "signals": signals, "frames": frames}
    if mirrored and first is not None and first.orientations is not None:
        body["pdq_orientations"] = [h.hex for h in first.orientations]
    if mirrored and frames and all(f.mirror is not None for f in video.frames):
        body["mirror_frames"] = [
            {**plain, "pdq": f.mirror.hex}
            for plain, f in zip(frames, video.frames, strict=True)
            if f.mirror is not None
        ]
    boxed = getattr(video, "box_frames", ())
    if mirrored and boxed:
        body["box_frames"] = _frame_bodies(boxed)
        if "mirror_frames" in body and all(f.mirror is not None for f in boxed):
            body["box_mirror_frames"] = _frame_bodies(boxed, mirrored=True)
    return body


def _image_signals(hashes: ImageHashes) -> list[dict[str, Any]]:
    # Every signal, the PDQ even when its quality is low: the service answers ``low_quality``.
    return [signal_body(s) for s in hashes.all_signals()]


def item_body(item: ItemLike) -> dict[str, Any]:
    """The wire form of one item to bank: ``{"kind", "signals", "pdq_orientations"?}`` (the
    orientations, when hashed with them, are only compared with the allowlist: a rotated copy
    of a public image is refused too; they are not stored)."""
    if isinstance(item, Item):
        out: dict[str, Any] = {"kind": item.kind, "signals": [signal_body(s) for s in item.signals]}
        if item.frames is not None:
            out["frames"] = [dict(f) for f in item.frames]
        return out
    if _is_video_hashes(item):
        return _video_body(item, mirrored=False)  # type: ignore[arg-type]
    if _is_image_hashes(item):
        hashes: ImageHashes = item  # type: ignore[assignment]
        body: dict[str, Any] = {"kind": "image", "signals": _image_signals(hashes)}
        if hashes.orientations is not None:
            body["pdq_orientations"] = [h.hex for h in hashes.orientations]
        return body
    if isinstance(item, str | bytes) or not isinstance(item, Sequence):
        raise TypeError(
            "an item is ImageHashes, VideoHashes, hashwall.client.Item or a list of signals"
        )
    return {"kind": "image", "signals": [signal_body(s) for s in item]}


def upload_body(upload: UploadLike) -> dict[str, Any]:
    """The wire form of one upload to check: ``{"signals", "pdq_orientations"?,
    "pdq_regions"?}``, or a video's
    ``{"kind", "signals", "frames", "mirror_frames"?, "pdq_orientations"?}`` (an animation's
    signals include its first frame's pdq, a still video's its picture's, with its orientations
    when hashed mirrored)."""
    if _is_video_hashes(upload):
        return _video_body(upload, mirrored=True)  # type: ignore[arg-type]
    if _is_image_hashes(upload):
        hashes: ImageHashes = upload  # type: ignore[assignment]
        body: dict[str, Any] = {"signals": _image_signals(hashes)}
        if hashes.orientations is not None:
            body["pdq_orientations"] = [h.hex for h in hashes.orientations]
        if hashes.regions:
            body["pdq_regions"] = [[h.hex for h in place] for place in hashes.regions]
        return body
    if isinstance(upload, str | bytes) or not isinstance(upload, Sequence):
        raise TypeError("an upload is ImageHashes, VideoHashes or a list of signals")
    return {"signals": [signal_body(s) for s in upload]}
