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
    "check_jpeg_structure",
    "check_png_chunks",
    "count_gif_frames",
    "webp_canvas_size",
]

# A progressive JPEG has about 10 scans; libjpeg re-walks every coefficient block for each one,
# so thousands of tiny scans make a small file decode for minutes. libjpeg-turbo suggests
# refusing more than 500 (its TJPARAM_SCANLIMIT / djpeg -maxscans advice); we count every SOS
# marker in the file, embedded EXIF thumbnails and MPO pictures included, hence the margin.
MAX_JPEG_SCANS = 1000

# Pillow parses the parts of JPEG, PNG and GIF files around the compressed data in Python, a few
# microseconds per marker segment, chunk, block or fill byte: a 50 MB file of nothing but empty
# segments keeps it busy for most of a minute. Real files have a few dozen of those (PNG: one
# IDAT chunk per 8-64 KB of data, GIF: one sub-block per 255 bytes), so these budgets leave wide
# margins and still bound the work to well under a second.
MAX_JPEG_SEGMENTS = 4096  # marker segments before the first scan (APPn, DQT, DHT, ICC parts...)
MAX_JPEG_FILL_BYTES = 65536  # 0xFF padding bytes between those segments
_PNG_CHUNK_BUDGET_BASE = 4096
_PNG_BYTES_PER_CHUNK = 1024  # plus one chunk per KB of file, for small IDAT chunks
_GIF_BLOCK_BUDGET_BASE = 4096
_GIF_BYTES_PER_BLOCK = 64  # plus one sub-block per 64 bytes (encoders write 255-byte blocks)


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


def check_jpeg_structure(data: bytes) -> None:
    """Refuse JPEGs whose marker structure would keep the decoder busy far beyond its size.

    Two bombs: thousands of tiny marker segments or padding bytes before the first scan (parsed
    by Pillow in Python), and more than :data:`MAX_JPEG_SCANS` scans (decoded by libjpeg, which
    re-walks every coefficient block of the image for each progressive scan).
    """
    # 0xFF 0xDA only occurs as a Start Of Scan marker: entropy-coded data stuffs every 0xFF
    # with 0x00. (It can also occur inside an APPn payload; the margin above absorbs that.)
    scans = data.count(b"\xff\xda")
    if scans > MAX_JPEG_SCANS:
        raise CorruptMedia(
            f"the JPEG has {scans} scans; real images have a few dozen at most and more than "
            f"{MAX_JPEG_SCANS} are refused as a decoder bomb"
        )
    n = len(data)
    pos, segments, fill = 2, 0, 0
    while pos < n:
        run = _JPEG_FILL.match(data, pos)
        if run is None:
            return  # not at a marker: damaged; the decoder will say so
        fill += run.end() - pos - 1
        pos = run.end()
        if pos >= n:
            return
        marker = data[pos]
        pos += 1
        segments += 1
        if fill > MAX_JPEG_FILL_BYTES or segments > MAX_JPEG_SEGMENTS:
            raise CorruptMedia(
                "the JPEG has thousands of empty marker segments or padding bytes before its "
                "image data, which no encoder writes; refused as a decoder bomb"
            )
        if marker == 0xDA:  # start of scan: from here on libjpeg (C) does the work
            return
        if marker == 0x01 or 0xD0 <= marker <= 0xD9:  # markers without a length
            continue
        if pos + 2 > n:
            return
        pos += int.from_bytes(data[pos : pos + 2], "big")


_JPEG_FILL = re.compile(rb"\xff+")


def check_png_chunks(data: bytes) -> None:
    """Refuse PNGs with far more chunks than their size explains (Pillow loops over each)."""
    budget = _PNG_CHUNK_BUDGET_BASE + len(data) // _PNG_BYTES_PER_CHUNK
    n = len(data)
    pos, chunks = 8, 0
    while pos + 8 <= n:
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunk_type = data[pos + 4 : pos + 8]
        chunks += 1
        if chunks > budget:
            raise CorruptMedia(
                f"the PNG has more than {budget} chunks for its {n} bytes, which no encoder "
                "writes; refused as a decoder bomb"
            )
        if chunk_type == b"IEND":
            return
        pos += 12 + length


_GIF_BLOCK_START = re.compile(rb"[!,;]")


def count_gif_frames(data: bytes, limit: int) -> int:
    """Frames of a GIF counted from its block structure, without decoding; stops past ``limit``.

    Pillow's ``n_frames`` walks every frame of the file in Python with no bound; a 50 MB GIF of
    millions of empty frames would keep it busy for long. This walks the same structure the same
    way Pillow's reader does (unknown bytes between blocks are skipped), and returns as soon as
    it has seen ``limit + 1`` frames, which is all the caller needs to refuse the file. A file
    made of far more (tiny) blocks than its size explains is :class:`CorruptMedia`.
    """
    n = len(data)
    if n < 13:
        return 0
    blocks_left = _GIF_BLOCK_BUDGET_BASE + n // _GIF_BYTES_PER_BLOCK
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
            pos += 1
        else:  # image descriptor: 9 bytes, a local colour table, the LZW code size, sub-blocks
            if pos + 9 > n:
                break
            local = data[pos + 8]
            pos += 9 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1
            if pos > n:
                break
            frames += 1
        # The data sub-blocks: a length byte and that many bytes, until a zero length.
        while pos < n:
            size = data[pos]
            pos += 1 + size
            blocks_left -= 1
            if size == 0:
                break
            if blocks_left < 0:
                raise CorruptMedia(
                    "the GIF is made of far more (tiny) blocks than its size explains, which "
                    "no encoder writes; refused as a decoder bomb"
                )
    return frames


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
