"""The guards that run before a decoder touches untrusted bytes: size, pixels, frames, scans.

Each check reads only headers, so a hostile file is refused before it can make a decoder
allocate or loop. Pillow's own ``Image.MAX_IMAGE_PIXELS`` guard is left as it is (we set nothing
global); :mod:`hashwall.media.decode` maps its error to ``too_many_pixels`` too.
"""

from __future__ import annotations

import re
import struct

from hashwall.errors import CorruptMedia, ImageTooSmall, MediaTooLarge, TooManyPixels
from hashwall.settings import Settings

__all__ = [
    "MAX_JPEG_SCANS",
    "check_dimensions",
    "check_input_size",
    "check_jpeg_scans",
    "count_gif_frames",
    "webp_canvas_size",
]

# A progressive JPEG has about 10 scans; libjpeg re-walks every coefficient block for each one,
# so thousands of tiny scans make a small file decode for minutes. libjpeg-turbo suggests
# refusing more than 500 (its TJPARAM_SCANLIMIT / djpeg -maxscans advice); we count every SOS
# marker in the file, embedded EXIF thumbnails and MPO pictures included, hence the margin.
MAX_JPEG_SCANS = 1000


def check_input_size(data: bytes, settings: Settings) -> None:
    """Refuse inputs larger than ``settings.max_input_bytes`` before looking at them at all."""
    if len(data) > settings.max_input_bytes:
        raise MediaTooLarge(
            f"the file has {len(data)} bytes, more than the limit of {settings.max_input_bytes}; "
            "send a smaller file"
        )


def check_dimensions(width: int, height: int, settings: Settings) -> None:
    """Refuse declared sizes over ``max_pixels`` (before decoding) or under ``min_side``."""
    if width * height > settings.max_pixels:
        raise TooManyPixels(
            f"the image declares {width}x{height} = {width * height} pixels, more than the "
            f"limit of {settings.max_pixels}; send a smaller image"
        )
    if min(width, height) < settings.min_side:
        raise ImageTooSmall(
            f"the image is {width}x{height} pixels; both sides must be at least "
            f"{settings.min_side} pixels to fingerprint it"
        )


def check_jpeg_scans(data: bytes) -> None:
    """Refuse JPEGs with more scans than :data:`MAX_JPEG_SCANS` (a progressive decode bomb)."""
    # 0xFF 0xDA only occurs as a Start Of Scan marker: entropy-coded data stuffs every 0xFF
    # with 0x00. (It can also occur inside an APPn payload; the margin above absorbs that.)
    scans = data.count(b"\xff\xda")
    if scans > MAX_JPEG_SCANS:
        raise CorruptMedia(
            f"the JPEG has {scans} scans; real images have a few dozen at most and more than "
            f"{MAX_JPEG_SCANS} are refused as a decoder bomb"
        )


_GIF_BLOCK_START = re.compile(rb"[!,;]")


def count_gif_frames(data: bytes, limit: int) -> int:
    """Frames of a GIF counted from its block structure, without decoding; stops past ``limit``.

    Pillow's ``n_frames`` walks every frame of the file in Python with no bound; a 50 MB GIF of
    millions of empty frames would keep it busy for long. This walks the same structure the same
    way Pillow's reader does (unknown bytes between blocks are skipped), and returns as soon as
    it has seen ``limit + 1`` frames, which is all the caller needs to refuse the file.
    """
    n = len(data)
    if n < 13:
        return 0
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    while pos < n and frames <= limit:
        found = _GIF_BLOCK_START.search(data, pos)
        if found is None:
            break
        kind = data[found.start()]
        pos = found.start() + 1
        if kind == 0x3B:  # trailer
            break
        if kind == 0x21:  # extension: a label byte, then data sub-blocks
            pos = _skip_sub_blocks(data, pos + 1)
            continue
        # Image descriptor: 9 bytes, an optional local colour table, the LZW code size, data.
        if pos + 9 > n:
            break
        local = data[pos + 8]
        pos += 9 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1
        if pos > n:
            break
        frames += 1
        pos = _skip_sub_blocks(data, pos)
    return frames


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    """The offset just after a chain of GIF data sub-blocks (length byte, bytes, ..., 0)."""
    n = len(data)
    while pos < n:
        size = data[pos]
        pos += 1 + size
        if size == 0:
            break
    return pos


def webp_canvas_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP file declares in its first chunk, or None if unreadable.

    Pillow opens every WebP with libwebp's animation decoder, which allocates two canvas-sized
    RGBA buffers inside ``Image.open``, before we can look at ``im.size``: so the declared size
    is read here first.
    """
    if len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":
        # 24-bit little-endian "canvas width minus one" and "height minus one".
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8L":
        # Signature byte 0x2f, then 14 bits width-1 and 14 bits height-1.
        if data[20] != 0x2F:
            return None
        (bits,) = struct.unpack_from("<I", data, 21)
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":
        # Key frame: 3-byte frame tag, start code 9d 01 2a, then 14-bit width and height.
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    return None
