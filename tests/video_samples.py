"""Small videos made in code for the video tests (media, hashing, CLI): PyAV encodes clips,
Pillow animations."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Iterator, Sequence

import av
import numpy as np
from PIL import Image

from support import textured_rgb

# (container, codec) pairs PyAV's bundled FFmpeg writes, one per accepted container.
CONTAINERS: dict[str, tuple[str, str]] = {
    "mp4": ("mp4", "libx264"),
    "mov": ("mov", "libx264"),
    "webm": ("webm", "libvpx-vp9"),
    "mkv": ("matroska", "libx264"),
    "avi": ("avi", "mpeg4"),
}


def panning_frames(
    count: int, width: int, height: int, seed: int = 0, speed: int = 3
) -> Iterator[np.ndarray]:
    """``count`` frames of a textured picture panning ``speed`` pixels right per frame, made
    one at a time (a long clip is never all in memory)."""
    base = textured_rgb(width + speed * count, height, seed=seed)
    for i in range(count):
        yield np.ascontiguousarray(base[:, speed * i : speed * i + width])


#: The frame rate of the small clips of the banking, checking and matching tests.
SMALL_FPS = 10


def small_panning(seconds: float, seed: int) -> list[np.ndarray]:
    """``seconds`` of a 128x96 textured picture panning 2 pixels a frame, at ``SMALL_FPS``:
    the clip the video tests bank, embed in longer videos and check."""
    return list(panning_frames(round(seconds * SMALL_FPS), 128, 96, seed, 2))


def moving_frames(
    seconds: float = 2, fps: int = 10, width: int = 96, height: int = 64, seed: int = 0
) -> list[np.ndarray]:
    """A textured picture panning 3 pixels right per frame (every frame a little different)."""
    return list(panning_frames(round(seconds * fps), width, height, seed))


def encode_clip(
    frames: Iterable[np.ndarray],
    kind: str = "mp4",
    fps: int = 10,
    *,
    codec: str | None = None,
    pix_fmt: str = "yuv420p",
    rotation: int = 0,
    options: dict[str, str] | None = None,
) -> bytes:
    """Encode RGB frames as a video of ``kind`` (a key of :data:`CONTAINERS`); ``rotation``
    (counter-clockwise degrees) goes in the display matrix, as a phone writes it; ``options``
    go to the encoder (e.g. ``{"crf": "40"}``: a low bitrate)."""
    container_format, default_codec = CONTAINERS[kind]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container_format) as container:
        stream = container.add_stream(codec or default_codec, rate=fps, options=options)
        first = True
        for pixels in frames:
            if first:
                stream.height, stream.width = pixels.shape[:2]
                stream.pix_fmt = pix_fmt
                if rotation:
                    stream.set_display_rotation(rotation)
                first = False
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def clip(kind: str = "mp4", seconds: float = 2, fps: int = 10, **kw: int) -> bytes:
    """A panning clip: 2 s at 10 fps, 96x64, by default."""
    return encode_clip(moving_frames(seconds, fps, **kw), kind, fps)


def audio_only_mp4(seconds: float = 1.0) -> bytes:
    """An MP4 with one AAC audio stream and no video."""
    buf = io.BytesIO()
    rate = 44100
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        t = np.arange(int(seconds * rate)) / rate
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, len(samples), 1024):
            chunk = samples[None, start : start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def animation(frames: Sequence[np.ndarray], fmt: str, duration_ms: int = 100) -> bytes:
    """An animated GIF, PNG (APNG) or WebP of ``frames`` with Pillow."""
    images = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    params: dict[str, object] = {"save_all": True, "append_images": images[1:], "loop": 0}
    params["duration"] = duration_ms
    if fmt == "WEBP":
        params["lossless"] = True
    images[0].save(buf, format=fmt, **params)
    return buf.getvalue()


def tiny_frames_gif(frames: int, delay_cs: int = 10, screen: tuple[int, int] = (1, 1)) -> bytes:
    """A GIF of ``frames`` 1x1 frames written block by block (fast for 100,000 frames)."""
    out = bytearray(b"GIF89a" + struct.pack("<HH", *screen) + bytes([0x80, 0, 0]))
    out += b"\x00\x00\x00\xff\xff\xff"  # a 2-colour global palette
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    control = b"\x21\xf9\x04\x00" + struct.pack("<H", delay_cs) + b"\x00\x00"
    image = b"\x2c" + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00" + b"\x02\x02\x44\x01\x00"
    out += (control + image) * frames + b"\x3b"
    return bytes(out)
