"""Untrusted video bytes to RGB frames, safely, with PyAV (FFmpeg).

Accepted: MP4/MOV (and the rest of the ISO family FFmpeg's ``mov`` demuxer reads), Matroska and
WebM, AVI, and animated GIF, PNG (APNG) and WebP, which are hashed as videos. The container is
named from the magic bytes and that one demuxer is used: FFmpeg never probes, so a playlist or
any other format that could make it open other files is never read. Only the video codecs of
:data:`VIDEO_CODECS` are decoded.

Limits (``Settings.video_*``) are checked from the header where the container declares them and
again for every decoded frame, since a header may lie: bytes (``media_too_large``), duration
(``media_too_long``), pixels of a frame (``too_many_pixels``), decoded frames
(``too_many_frames``). The bytes are streamed to the demuxer in FFmpeg's small reads, never held
in Python at once. A file that cannot be demuxed or decoded, or is shorter than its container
says, is ``corrupt_media``; a file with no video stream, or a still image, ``unsupported_media``.
When only some frames are asked for, damage in a frame that none of them needs may go unseen:
such frames are not decoded (:mod:`hashwall.media.video_sampling`).

Animated WebP goes through Pillow (:func:`hashwall.media.decode.iter_frames`): the FFmpeg of
PyAV 18.1 demuxes it but cannot decode its frames.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from hashwall.errors import (
    CorruptMedia,
    HashwallError,
    MediaTooLarge,
    MediaTooLong,
    TooManyFrames,
    TooManyPixels,
    UnsupportedMedia,
)
from hashwall.media.video_containers import (
    ANIMATIONS,
    HEAD_BYTES,
    check_declared_sizes,
    is_video_file,
    sniff_container,
    truncated,
)
from hashwall.media.video_sampling import (
    CLEAN_KEY_CODECS,
    Action,
    NotExact,
    PlannedPacket,
    SamplePlan,
    clean_key_test,
)
from hashwall.media.video_source import (
    BoundedReader,
    VideoSource,
    read_chunks,
    source_stream,
)
from hashwall.settings import Settings

if TYPE_CHECKING:
    import av.container
    import av.video

__all__ = [
    "VIDEO_CODECS",
    "OpenVideo",
    "VideoFrame",
    "VideoInfo",
    "VideoSource",
    "is_animation",
    "is_video_file",
    "is_video_path",
    "open_video",
    "read_chunks",
    "sniff_container",
]


# hashwall's container name -> the one FFmpeg demuxer used for it.
_DEMUXER: dict[str, str] = {"mp4": "mov", "matroska": "matroska", "avi": "avi", "gif": "gif"}
_DEMUXER["apng"] = "apng"
# mov: never follow a reference to another file (FFmpeg's default, said here on purpose).
_DEMUXER_OPTIONS: dict[str, dict[str, str]] = {"mov": {"enable_drefs": "0"}}

#: FFmpeg decoders a video stream may use; any other codec is ``unsupported_media`` (FFmpeg has
#: hundreds of decoders, most rarely exercised: the fewer that see untrusted bytes, the better).
VIDEO_CODECS: frozenset[str] = frozenset(
    {
        "h264", "hevc", "vp8", "vp9", "av1", "libdav1d", "mpeg4", "msmpeg4v2", "msmpeg4v3",
        "mpeg1video", "mpeg2video", "h263", "mjpeg", "prores", "theora", "vc1", "wmv3",
        "ffv1", "gif", "apng", "png",
    }
)  # fmt: skip
# Pixel formats that carry alpha: composited on white, as images are (media.modes).
_ALPHA_FORMATS = frozenset(
    {"rgba", "bgra", "argb", "abgr", "yuva420p", "yuva422p", "yuva444p", "gbrap", "ya8", "pal8"}
)


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the container says about the video stream, read before any frame is decoded."""

    container: str  # mp4, matroska, avi, gif, apng, webp
    codec: str
    width: int
    height: int
    fps: float  # average frame rate, else the stream's base rate (as vPDQ reads it)
    declared_frames: int | None
    declared_seconds: float | None
    size_bytes: int

    @property
    def expected_frames(self) -> int | None:
        """Frames the header promises, or duration x fps; None when neither is known."""
        if self.declared_frames:
            return self.declared_frames
        if self.declared_seconds:
            return round(self.declared_seconds * self.fps)
        return None


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One decoded frame: its 0-based index among all decoded frames, and its RGB pixels."""

    index: int
    pixels: npt.NDArray[np.uint8]  # (h, w, 3) RGB


def is_animation(data: bytes) -> bool:
    """Whether media bytes are an animated GIF, PNG (APNG) or WebP of more than one frame, as
    far as its structure says without decoding: hashed as a video, by its frames (a still one
    is an image). Bytes that are no animation, or cannot be read as one, are not.

    A GIF's frames are counted (up to two) from its block structure; an APNG's ``acTL`` chunk
    declares its frame count; an animated WebP's ``ANMF`` chunks are counted (up to two).
    """
    try:
        container = sniff_container(data[:HEAD_BYTES])
    except HashwallError:
        return False
    if container == "gif":
        from hashwall.media.limits import count_gif_frames

        try:
            return count_gif_frames(data, 1) > 1
        except HashwallError:
            return False
    if container == "apng":
        at = data.find(b"acTL", 8, HEAD_BYTES)
        return at >= 0 and int.from_bytes(data[at + 4 : at + 8], "big") > 1
    if container == "webp":
        return _webp_frames(data, 2) > 1
    return False


def is_video_path(path: str | os.PathLike[str], settings: Settings) -> bool:
    """:func:`is_video_file`, where an APNG or WebP flagged as animated is a video only with
    more than one frame (:func:`is_animation`): a one-frame one is hashed as the image it is."""
    if not is_video_file(path, settings):
        return False
    try:
        with Path(path).open("rb") as f:
            head = f.read(HEAD_BYTES)
            container = sniff_container(head)
            if container not in ("apng", "webp"):
                return True
            data = head + f.read(max(0, settings.max_input_bytes - len(head)))
    except (OSError, HashwallError):
        return True  # the video path says what is wrong
    return is_animation(data)


def _webp_frames(data: bytes, limit: int) -> int:
    """``ANMF`` chunks of a WebP (its animation's frames), counted up to ``limit``."""
    frames, pos = 0, 12
    while pos + 8 <= len(data) and frames < limit:
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        frames += data[pos : pos + 4] == b"ANMF"
        pos += 8 + size + (size & 1)
    return frames


class OpenVideo:
    """An opened video: :attr:`info` at once, then :meth:`frames` decodes them one by one."""

    def __init__(self, info: VideoInfo, walk: _Walk) -> None:
        self.info = info
        self.decoded = 0  # frames passed so far (also those not given to the caller)
        #: Frames the decoder made so far: fewer than :attr:`decoded` when a sampled walk left
        #: frames undecoded.
        self.pictures = 0
        self._walk: _Walk | None = walk

    def frames(self, every: int = 1) -> Iterator[VideoFrame]:
        """Every ``every``-th frame (0, every, 2*every, ...), decoded as the iterator reaches it.

        The frames are those that decoding every frame gives, with the same numbers; only the
        chosen ones are converted to RGB. With ``every`` > 1, an H.264, HEVC, VP8 or VP9 stream
        in MP4 or Matroska is walked without decoding what no chosen frame needs (see
        :mod:`hashwall.media.video_sampling`); :attr:`decoded` still counts every frame passed.
        The frames of an opened video can be walked once.
        """
        if every < 1:
            raise ValueError("every must be a positive number of frames")
        if self._walk is None:
            raise RuntimeError("the frames of an opened video can be walked only once")
        walk, self._walk = self._walk, None
        return walk(self, every)


_Walk = Callable[[OpenVideo, int], Iterator[VideoFrame]]


@contextmanager
def open_video(source: VideoSource, settings: Settings, *, threads: int = 0) -> Iterator[OpenVideo]:
    """Open a video within ``settings``' limits, reading only its header until frames are asked.

    ``threads`` is FFmpeg's decoding thread count (0: FFmpeg chooses; the decoder sandbox
    passes 1).
    """
    with source_stream(source, settings) as (stream, size):
        head = stream.read(HEAD_BYTES)
        stream.seek(0)
        container = sniff_container(head)
        if container == "webp":
            if size > settings.max_input_bytes:  # an animation is an image: its limit holds
                raise MediaTooLarge(
                    f"the animation has {size} bytes, more than the limit of "
                    f"{settings.max_input_bytes} for images; send a smaller file"
                )
            yield _open_webp(stream.read(), settings)
            return
        check_declared_sizes(container, head, size)

        def reopen() -> av.container.InputContainer:
            stream.seek(0)
            with _av_errors():
                import av

                return cast(
                    "av.container.InputContainer",
                    av.open(
                        cast(Any, BoundedReader(stream, settings.video_max_bytes)),
                        format=_DEMUXER[container],
                        options=_DEMUXER_OPTIONS.get(_DEMUXER[container], {}),
                    ),
                )

        with reopen() as av_container:
            info, av_stream = _probe(av_container, container, size, settings)
            _set_threads(av_stream, threads)

            def walk(opened: OpenVideo, every: int) -> Iterator[VideoFrame]:
                if every == 1 or not _samples_exactly(info):
                    return _av_frames(opened, av_container, av_stream, settings, every)
                return _sampled_or_every_frame(
                    opened, av_container, av_stream, reopen, threads, settings, every
                )

            yield OpenVideo(info, walk)


def _set_threads(stream: av.video.stream.VideoStream, threads: int) -> None:
    if threads != 1:
        stream.codec_context.thread_type = "AUTO"
    stream.codec_context.thread_count = threads


def _probe(
    av_container: av.container.InputContainer, container: str, size: int, settings: Settings
) -> tuple[VideoInfo, av.video.stream.VideoStream]:
    """The video stream and what its header declares, checked against the limits."""
    if not av_container.streams.video:
        raise UnsupportedMedia("unsupported media: the file has no video stream")
    stream = av_container.streams.video[0]
    codec = stream.codec_context.name
    if codec not in VIDEO_CODECS:
        raise UnsupportedMedia(f"unsupported media: video codec {codec!r} is not decoded")
    width, height = stream.codec_context.width, stream.codec_context.height
    _check_pixels(width, height, settings)
    rate = stream.average_rate or stream.base_rate or stream.guessed_rate
    fps = float(rate) if rate else 0.0
    if fps <= 0:
        raise CorruptMedia(
            "the video declares no frame rate and cannot be timed; send the original file"
        )
    seconds: float | None = None
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif av_container.duration is not None:
        seconds = av_container.duration / 1_000_000
    if seconds is not None and seconds > settings.video_max_seconds:
        raise _too_long(settings)
    frames = stream.frames or None
    if frames is not None and frames > settings.video_max_frames:
        raise _too_many_frames(settings)
    info = VideoInfo(container, codec, width, height, fps, frames, seconds, size)
    return info, stream


def _av_frames(
    opened: OpenVideo,
    av_container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    settings: Settings,
    every: int,
) -> Iterator[VideoFrame]:
    info = opened.info
    packets = 0
    with _av_errors():
        for packet in av_container.demux(stream):
            packets += packet.size > 0
            for frame in packet.decode():
                index = opened.decoded
                opened.decoded += 1
                opened.pictures += 1
                _check_frame(index, frame.width, frame.height, info.fps, settings)
                if index % every == 0:
                    yield VideoFrame(index, _rgb(frame))
    if opened.decoded == 0:
        raise CorruptMedia("the video has no decodable frame; send the original file")
    if info.container == "mp4" and info.declared_frames and packets < info.declared_frames:
        raise truncated()
    if info.container in ANIMATIONS and opened.decoded == 1:
        raise UnsupportedMedia(
            f"unsupported media: a still {info.container.upper()} image (one frame), not a video; "
            "hash it as an image"
        )


_Planned = PlannedPacket["av.Packet[av.video.stream.VideoStream]"]


def _samples_exactly(info: VideoInfo) -> bool:
    """Whether a sampled walk may skip frames: a codec whose frames can be left undecoded
    exactly, in a container that times every packet."""
    return info.container in ("mp4", "matroska") and info.codec in CLEAN_KEY_CODECS


def _sampled_or_every_frame(
    opened: OpenVideo,
    av_container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    reopen: Callable[[], av.container.InputContainer],
    threads: int,
    settings: Settings,
    every: int,
) -> Iterator[VideoFrame]:
    """The sampled walk; when the file breaks what it relies on (:class:`NotExact`), the video
    is opened again and every frame decoded, giving the frames after those already given."""
    given = -1
    try:
        for frame in _sampled_av_frames(opened, av_container, stream, settings, every):
            given = frame.index
            yield frame
        return
    except NotExact:
        pass
    opened.decoded = opened.pictures = 0
    with reopen() as again:
        again_stream = again.streams.video[0]
        _set_threads(again_stream, threads)
        for frame in _av_frames(opened, again, again_stream, settings, every):
            if frame.index > given:
                yield frame


def _sampled_av_frames(
    opened: OpenVideo,
    av_container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    settings: Settings,
    every: int,
) -> Iterator[VideoFrame]:
    """Frames 0, every, 2*every, ... decoding only what they need (:class:`SamplePlan`)."""
    info = opened.info
    context = stream.codec_context
    clean = clean_key_test(info.codec, context.extradata)
    plan: SamplePlan[av.Packet[av.video.stream.VideoStream]] = SamplePlan(every)
    skip = "DEFAULT"

    def decode(planned: _Planned | None) -> Iterator[VideoFrame]:
        nonlocal skip
        if planned is not None:
            opened.decoded = plan.decided
            _check_frame(planned.rank, info.width, info.height, info.fps, settings)
            if planned.action is Action.DROP:
                return
            if planned.action.value != skip:
                skip = context.skip_frame = planned.action.value
        for frame in context.decode(None if planned is None else planned.packet):
            opened.pictures += 1
            index = plan.frame_index(frame.pts)
            _check_frame(index, frame.width, frame.height, info.fps, settings)
            if index % every == 0:
                yield VideoFrame(index, _rgb(frame))

    with _av_errors():
        for packet in av_container.demux(stream):
            if packet.size == 0:  # the end: the decoder is drained below
                continue
            key = packet.is_keyframe
            clean_key = key and clean is not None and clean(bytes(packet))
            for planned in plan.push(packet, packet.pts, key=key, clean_key=clean_key):
                yield from decode(planned)
        for planned in plan.finish():
            yield from decode(planned)
        yield from decode(None)
    plan.check_complete()
    if plan.decided == 0:
        raise CorruptMedia("the video has no decodable frame; send the original file")
    if info.container == "mp4" and info.declared_frames and plan.decided < info.declared_frames:
        raise truncated()


def _open_webp(data: bytes, settings: Settings) -> OpenVideo:
    """An animated WebP through Pillow, timed by its first frame's duration."""
    from PIL import Image

    from hashwall.media.decode import iter_frames

    limits = settings.model_copy(update={"max_frames": settings.video_max_frames})
    frames = iter_frames(data, limits)  # every header check runs now
    with _av_errors(), Image.open(io.BytesIO(data), formats=["WEBP"]) as image:
        width, height = image.size
        count = int(getattr(image, "n_frames", 1))
        duration_ms = image.info.get("duration") or 0
    _check_pixels(width, height, settings)
    fps = 1000.0 / duration_ms if duration_ms > 0 else 10.0
    if count / fps > settings.video_max_seconds:
        raise _too_long(settings)
    info = VideoInfo("webp", "webp", width, height, fps, count, count / fps, len(data))

    def walk(opened: OpenVideo, every: int) -> Iterator[VideoFrame]:
        for pixels in frames:
            index = opened.decoded
            opened.decoded += 1
            opened.pictures += 1
            _check_frame(index, pixels.shape[1], pixels.shape[0], fps, settings)
            if index % every == 0:
                yield VideoFrame(index, pixels)
        if opened.decoded == 1:
            raise UnsupportedMedia("unsupported media: a still WebP image, not a video")

    return OpenVideo(info, walk)


def _rgb(frame: av.VideoFrame) -> npt.NDArray[np.uint8]:
    """The frame as upright RGB: turned as the container's display matrix says (a phone's
    portrait video is stored sideways), transparent pixels composited on white, as images are."""
    if frame.format.name not in _ALPHA_FORMATS:
        rgb = frame.to_ndarray(format="rgb24")
    else:
        rgba = frame.to_ndarray(format="rgba").astype(np.uint16)
        alpha = rgba[..., 3:4]
        rgb = ((rgba[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    # PyAV's rotation is counter-clockwise degrees, as np.rot90 turns for positive k.
    turns = round(frame.rotation / 90) % 4
    if turns:
        rgb = np.rot90(rgb, turns)
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def _check_frame(index: int, width: int, height: int, fps: float, settings: Settings) -> None:
    if index >= settings.video_max_frames:
        raise _too_many_frames(settings)
    if index / fps > settings.video_max_seconds:
        raise _too_long(settings)
    _check_pixels(width, height, settings)
    if width < 1 or height < 1:
        raise CorruptMedia("the video has a frame of no pixels; send the original file")


def _check_pixels(width: int, height: int, settings: Settings) -> None:
    if width * height > settings.video_max_pixels:
        raise TooManyPixels(
            f"the video's frames are {width}x{height} = {width * height} pixels, more than the "
            f"limit of {settings.video_max_pixels} (HASHWALL_VIDEO_MAX_PIXELS); send a smaller "
            "video"
        )


def _too_long(settings: Settings) -> MediaTooLong:
    return MediaTooLong(
        f"the video lasts longer than {settings.video_max_seconds:g} s (the limit, "
        "HASHWALL_VIDEO_MAX_SECONDS); send a shorter video"
    )


def _too_many_frames(settings: Settings) -> TooManyFrames:
    return TooManyFrames(
        f"the video has more than {settings.video_max_frames} frames (the limit, "
        "HASHWALL_VIDEO_MAX_FRAMES); send a shorter video"
    )


@contextmanager
def _av_errors() -> Iterator[None]:
    """Map whatever FFmpeg or PyAV raises on hostile bytes to ``corrupt_media``.

    The decoder's message is dropped (``from None``): no media bytes may reach an error or a
    log. Its class name is kept for debugging.
    """
    try:
        yield
    except (HashwallError, NotExact):
        raise
    except MemoryError:
        raise TooManyPixels(
            "decoding the video needed more memory than is available; send a smaller video"
        ) from None
    except Exception as exc:
        raise CorruptMedia(
            f"the video is truncated or damaged and cannot be decoded ({type(exc).__name__}); "
            "send the original file"
        ) from None
