"""What kind of image some bytes hold, read from their magic numbers, never from a file name.

A PNG uploaded as ``photo.jpg`` is a PNG: the name is the uploader's claim, the bytes are the
fact. Only the eight formats of :class:`MediaFormat` are accepted; everything else (SVG, PDF,
HTML, text, archives, executables, video containers, ...) is :class:`UnsupportedMedia`, with a
message that names what the bytes look like when we can tell.
"""

from __future__ import annotations

import enum
import struct

from hashwall.errors import EmptyMedia, UnsupportedMedia

__all__ = ["MediaFormat", "detect_format"]


class MediaFormat(enum.StrEnum):
    """The image formats hashwall decodes. The value is the stable lowercase name."""

    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    WEBP = "webp"
    BMP = "bmp"
    TIFF = "tiff"
    HEIF = "heif"
    AVIF = "avif"


SUPPORTED_NAMES = "JPEG, PNG, GIF, WebP, BMP, TIFF, HEIF/HEIC and AVIF"

# BITMAPINFOHEADER sizes that Pillow's BMP reader knows (OS/2 v1 12, Windows v1-v5, OS/2 v2 64).
# "BM" alone is two printable letters, so text starting with "BM" must not pass as a bitmap.
_BMP_DIB_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})

# ISO base media file format brands (ISO/IEC 23008-12 and the AV1 image file format).
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"heif"}
)
# Structural brands shared by HEIF and AVIF: the coding brand is among the compatible brands.
_GENERIC_IMAGE_BRANDS = frozenset({b"mif1", b"msf1", b"mif2", b"miaf"})

# Recognised only to say what a refused file is; order matters where prefixes overlap.
_KNOWN_UNSUPPORTED: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a zip archive (or an Office/EPUB/JAR file)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xca\xfe\xba\xbe", "a Mach-O universal binary or Java class"),
    (b"\x00\x00\x01\x00", "a Windows icon"),
    (b"8BPS", "a Photoshop document"),
    (b"\xff\x0a", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 codestream"),
    (b"\x1aE\xdf\xa3", "a Matroska/WebM video"),
    (b"OggS", "an Ogg stream"),
    (b"ID3", "an MP3 file"),
)


def detect_format(data: bytes) -> MediaFormat:
    """The image format of ``data`` from its magic bytes; :class:`UnsupportedMedia` if none."""
    if not data:
        raise EmptyMedia("the file is empty (0 bytes); send the image's bytes")
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return MediaFormat.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaFormat.PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return MediaFormat.GIF
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return MediaFormat.WEBP
    # Classic TIFF and BigTIFF, little- and big-endian.
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return MediaFormat.TIFF
    if head.startswith(b"BM") and len(head) >= 18:
        (dib_size,) = struct.unpack_from("<I", head, 14)
        if dib_size in _BMP_DIB_HEADER_SIZES:
            return MediaFormat.BMP
    if head[4:8] == b"ftyp":
        iso = _iso_image_format(data)
        if iso is not None:
            return iso
    raise UnsupportedMedia(
        f"unsupported media: the bytes look like {_describe(data)}, not an image hashwall "
        f"decodes; send a {SUPPORTED_NAMES} file"
    )


def _iso_image_format(data: bytes) -> MediaFormat | None:
    """HEIF or AVIF from an ISO-BMFF ``ftyp`` box, or None (an MP4/MOV video, a camera raw...)."""
    (box_size,) = struct.unpack_from(">I", data, 0)
    # A ftyp box is major brand + minor version + compatible brands, 4 bytes each; a size out of
    # that shape is not a file Pillow or libheif would read anyway. Cap the brand list we read.
    if box_size < 16 or box_size > len(data) or box_size % 4:
        return None
    major = data[8:12]
    end = min(box_size, 16 + 4 * 64)
    compatible = {data[i : i + 4] for i in range(16, end, 4)}
    if major in _AVIF_BRANDS:
        return MediaFormat.AVIF
    if major in _HEIF_BRANDS:
        return MediaFormat.HEIF
    if major in _GENERIC_IMAGE_BRANDS or compatible & _GENERIC_IMAGE_BRANDS:
        if compatible & _HEIF_BRANDS:
            return MediaFormat.HEIF
        if compatible & _AVIF_BRANDS:
            return MediaFormat.AVIF
        # A generic image container without a coding brand: libheif is the more general reader.
        return MediaFormat.HEIF
    return None


def _describe(data: bytes) -> str:
    """A short human name for refused bytes, for the error message (never the bytes themselves)."""
    for magic, name in _KNOWN_UNSUPPORTED:
        if data.startswith(magic):
            return name
    if data[4:8] == b"ftyp":
        return "a video or other ISO media file (MP4, MOV, ...)"
    text = _as_text(data[:4096])
    if text is None:
        return "unrecognised binary data"
    lowered = text.lstrip("\ufeff \t\r\n").lower()
    if "<svg" in lowered:
        return "an SVG drawing"
    if lowered.startswith(("<!doctype html", "<html", "<head", "<body")) or "<html" in lowered:
        return "an HTML page"
    if lowered.startswith("<?xml"):
        return "an XML document"
    return "plain text"


def _as_text(head: bytes) -> str | None:
    """``head`` as text if it is UTF-8 (or ASCII) without control bytes other than whitespace."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The cut at 4096 bytes may split a multi-byte character at the very end.
        if exc.start < len(head) - 3:
            return None
        text = head[: exc.start].decode("utf-8")
    if any(ord(c) < 32 and c not in "\t\r\n\f" for c in text):
        return None
    return text
