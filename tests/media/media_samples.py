"""Images made in code for the media tests: every format, mode and malformation they need.

Nothing here is a committed binary: each function builds its bytes with Pillow (or by hand,
where Pillow cannot write the thing, such as an interlaced PNG or a lying header).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image


def picture(width: int = 64, height: int = 48, *, seed: int = 0) -> Image.Image:
    """A deterministic RGB picture with structure (gradients and blocks), not flat noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.indices((height, width))
    red = (xs * 255 // max(width - 1, 1)).astype(np.uint8)
    green = (ys * 255 // max(height - 1, 1)).astype(np.uint8)
    blue = (((xs // 8 + ys // 8) % 2) * 200).astype(np.uint8)
    array = np.dstack([red, green, blue])
    array[: height // 3, : width // 3] = rng.integers(0, 255, 3, dtype=np.uint8)
    return Image.fromarray(array, "RGB")


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    """``image`` saved in Pillow format ``fmt`` (with its save parameters) as bytes."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def exif_with_orientation(orientation: int) -> bytes:
    """An EXIF block carrying only the Orientation tag."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def jpeg(width: int = 64, height: int = 48, **params: Any) -> bytes:
    """A JPEG of :func:`picture`."""
    return encode(picture(width, height), "JPEG", quality=90, **params)


def png(width: int = 64, height: int = 48, **params: Any) -> bytes:
    """A PNG of :func:`picture`."""
    return encode(picture(width, height), "PNG", **params)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def png_claiming_size(width: int, height: int) -> bytes:
    """A PNG whose (valid, CRC-correct) IHDR declares ``width`` x ``height``, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def interlaced_png(image: Image.Image) -> bytes:
    """``image`` (RGB) as an Adam7-interlaced PNG, which Pillow reads but cannot write."""
    pixels = np.asarray(image.convert("RGB"))
    raw = bytearray()
    for x0, y0, dx, dy in _ADAM7:
        sub = pixels[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub:
            raw += b"\x00" + row.tobytes()  # filter type 0 (None) on every scanline
    ihdr = struct.pack(">IIBBBBB", image.width, image.height, 8, 2, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(bytes(raw)))
        + png_chunk(b"IEND", b"")
    )


def palette_png_with_transparency(size: int = 32) -> bytes:
    """A palette PNG whose index 0 is transparent (a tRNS chunk): left half transparent."""
    indices = np.ones((size, size), dtype=np.uint8)
    indices[:, : size // 2] = 0
    image = Image.fromarray(indices, "P")
    image.putpalette([0, 0, 0, 200, 30, 30] + [0] * (254 * 3))
    return encode(image, "PNG", transparency=0)


def sixteen_bit_png(width: int = 40, height: int = 30) -> bytes:
    """A 16-bit greyscale PNG with a horizontal ramp over the full 0..65535 range."""
    ramp = np.linspace(0, 65535, width, dtype=np.uint16)
    samples = np.tile(ramp, (height, 1)).astype("<u2")
    return encode(Image.frombytes("I;16", (width, height), samples.tobytes()), "PNG")


def frames(count: int, size: int = 32) -> list[Image.Image]:
    """``count`` visibly different RGB frames (Pillow merges identical consecutive frames)."""
    out = []
    for index in range(count):
        array = np.zeros((size, size, 3), dtype=np.uint8)
        array[:, :, index % 3] = 255
        array[index % size, :, :] = 128
        out.append(Image.fromarray(array, "RGB"))
    return out


def animation(fmt: str, count: int = 3, size: int = 32) -> bytes:
    """An animated GIF, WEBP or PNG (APNG) of :func:`frames`."""
    first, *rest = frames(count, size)
    return encode(first, fmt, save_all=True, append_images=rest, duration=100, loop=0)


def gif_with_repeated_frames(count: int, size: int = 16) -> bytes:
    """A small GIF of ``count`` frames: one encoded frame repeated, so thousands cost little."""
    single = encode(Image.new("P", (size, size), 1), "GIF")
    # Pillow writes: header and screen (13) + global table, then the image descriptor ','.
    start = single.index(b",", 13)
    body = single[start:-1]  # descriptor + LZW data, without the trailer ';'
    return single[:start] + body * count + b";"


def heic(width: int = 64, height: int = 48) -> bytes:
    """A HEIC (HEVC in HEIF) written by pillow-heif's x265 encoder."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    return encode(picture(width, height), "HEIF", quality=80)


def avif(width: int = 64, height: int = 48) -> bytes:
    """An AVIF written by Pillow's own AVIF plugin."""
    return encode(picture(width, height), "AVIF", quality=80)


def jpeg_with_app1(payload: bytes, width: int = 64, height: int = 48) -> bytes:
    """A JPEG with an extra APP1 segment holding ``payload`` right after SOI."""
    base = jpeg(width, height)
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return base[:2] + segment + base[2:]


def zip_archive() -> bytes:
    """A small zip archive in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hello")
    return buffer.getvalue()


def elf_header() -> bytes:
    """The start of a 64-bit little-endian ELF executable."""
    return b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 44


def pe_header() -> bytes:
    """The start of a Windows PE executable (MZ stub)."""
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48


def rgb_array(image: Image.Image) -> npt.NDArray[np.uint8]:
    """Pillow's own RGB conversion of ``image``, to compare with."""
    return np.asarray(image.convert("RGB"))
