"""Which video container some bytes hold, from magic bytes, and whether the file is whole.

The container decides the one FFmpeg demuxer :mod:`hashwall.media.video` uses (FFmpeg never
probes). Still images (a PNG without ``acTL``, a WebP without the animation flag, a one-frame
GIF) are not videos: ``unsupported_media``, hash them as images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from hashwall.errors import CorruptMedia, EmptyMedia, HashwallError, UnsupportedMedia
from hashwall.settings import Settings

__all__ = [
    "ANIMATIONS",
    "HEAD_BYTES",
    "Container",
    "check_declared_sizes",
    "is_video_file",
    "sniff_container",
    "truncated",
]

Container = Literal["mp4", "matroska", "avi", "gif", "apng", "webp"]
ANIMATIONS: frozenset[str] = frozenset({"gif", "apng", "webp"})
HEAD_BYTES = 64 * 1024  # what is read to name the container

_ISO_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"})
_EBML_UNKNOWN_SIZE = -1


def sniff_container(head: bytes) -> Container:
    """The container of a video from its first bytes; ``unsupported_media`` for anything else."""
    if not head:
        raise EmptyMedia("the file is empty (0 bytes); send the video's bytes")
    if head.startswith(b"\x1aE\xdf\xa3"):
        return "matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        if not _png_is_animated(head):
            raise UnsupportedMedia(
                "unsupported media: a still PNG image, not a video; hash it as an image"
            )
        return "apng"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        # An animated WebP is an extended file (VP8X) with the animation flag set.
        if not (head[12:16] == b"VP8X" and len(head) > 20 and head[20] & 0x02):
            raise UnsupportedMedia(
                "unsupported media: a still WebP image, not a video; hash it as an image"
            )
        return "webp"
    if head[4:8] in _ISO_BOXES:
        from hashwall.media.detect import detect_format

        try:
            image = detect_format(head)
        except HashwallError:
            return "mp4"
        raise UnsupportedMedia(
            f"unsupported media: a {image.value} image, not a video; hash it as an image"
        )
    raise UnsupportedMedia(
        "unsupported media: not a video hashwall decodes; send MP4, MOV, WebM, MKV or AVI "
        "(or an animated GIF, PNG or WebP)"
    )


def is_video_file(path: str | os.PathLike[str], settings: Settings) -> bool:
    """True for a video container, or an animated GIF, PNG or WebP (hashed as videos).

    Reads the file's head (a GIF within the image byte limit is read whole, to count two
    frames); a file that cannot be read is not a video (the image path then says why).
    """
    try:
        with Path(path).open("rb") as f:
            head = f.read(HEAD_BYTES)
            container = sniff_container(head)
            if container != "gif" or os.fstat(f.fileno()).st_size > settings.max_input_bytes:
                return True
            data = head + f.read(settings.max_input_bytes)
    except (OSError, HashwallError):
        return False
    from hashwall.media.limits import count_gif_frames

    try:
        return count_gif_frames(data, 1) > 1
    except HashwallError:
        return False


def check_declared_sizes(container: str, head: bytes, size: int) -> None:
    """Refuse a Matroska or AVI file shorter than its own outermost element declares.

    FFmpeg reads a cut Matroska file up to the cut without a word, and hashes of half a video
    would be banked as the video's.
    """
    if container == "avi" and int.from_bytes(head[4:8], "little") + 8 > size:
        raise truncated()
    if container == "matroska":
        segment_end = _matroska_segment_end(head)
        if segment_end is not None and segment_end > size:
            raise truncated()


def _matroska_segment_end(head: bytes) -> int | None:
    """Where the Segment element ends (EBML header, then Segment); None if unknown-sized."""
    pos = 4  # the EBML header's ID
    header_size, pos = _ebml_vint(head, pos)
    if header_size == _EBML_UNKNOWN_SIZE:
        return None
    pos += header_size
    if head[pos : pos + 4] != b"\x18\x53\x80\x67":
        return None  # not where a Segment should be: FFmpeg will say what is wrong
    segment_size, pos = _ebml_vint(head, pos + 4)
    return None if segment_size == _EBML_UNKNOWN_SIZE else pos + segment_size


def _ebml_vint(data: bytes, pos: int) -> tuple[int, int]:
    """An EBML variable-length size at ``pos``: (value or -1 for "unknown", next position)."""
    if pos >= len(data) or data[pos] == 0:
        return _EBML_UNKNOWN_SIZE, pos + 1
    length = 9 - data[pos].bit_length()
    raw = data[pos : pos + length]
    value = raw[0] & ((1 << (8 - length)) - 1)
    for byte in raw[1:]:
        value = (value << 8) | byte
    if value == (1 << (7 * length)) - 1:
        return _EBML_UNKNOWN_SIZE, pos + length
    return value, pos + length


def _png_is_animated(head: bytes) -> bool:
    """True when an ``acTL`` chunk comes before the first ``IDAT`` (APNG's rule)."""
    pos = 8
    while pos + 8 <= len(head):
        chunk_type = head[pos + 4 : pos + 8]
        if chunk_type == b"acTL":
            return True
        if chunk_type == b"IDAT":
            return False
        pos += 12 + int.from_bytes(head[pos : pos + 4], "big")
    return False


def truncated() -> CorruptMedia:
    return CorruptMedia(
        "the video is truncated (shorter than its container says); send the whole file"
    )
