"""Untrusted image bytes to RGB pixels, safely.

The order of work is the order of cost: the byte count, the magic bytes, header-only guards
(declared pixels, frames, JPEG scans), and only then the decoder. Every failure is a
:class:`~hashwall.errors.HashwallError`; whatever a decoder raises on hostile input (OSError,
SyntaxError, struct.error, RuntimeError from libheif, ...) is mapped to ``corrupt_media``, and
Pillow's decompression-bomb error and ``MemoryError`` to ``too_many_pixels``.

Choices a caller may rely on:

- EXIF orientation is applied (JPEG, PNG, WebP, TIFF, AVIF; HEIF is already turned by libheif).
  An EXIF block that cannot be parsed is ignored: the image decodes as stored.
- ``ImageFile.LOAD_TRUNCATED_IMAGES`` is never set: a truncated file is ``corrupt_media``.
- A file in which a valid image is followed by other data (a JPEG+zip polyglot, say) decodes as
  that image: decoders stop at the image's end, and the image is what a platform would show.
- Animations (GIF, WebP, APNG, AVIF sequences) give their first frame; TIFF pages, HEIF image
  collections and MPO pictures are not frames: the primary image is decoded, ``frame_count`` 1.
- For images with more pixels than ``Image.MAX_IMAGE_PIXELS`` Pillow may emit its
  ``DecompressionBombWarning``; more than twice that is refused by Pillow as
  ``too_many_pixels`` even if ``Settings.max_pixels`` is set higher (we change no global).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pillow_heif
from PIL import ExifTags, Image

from hashwall.errors import CorruptMedia, HashwallError, TooManyFrames, TooManyPixels
from hashwall.media.detect import MediaFormat, detect_format
from hashwall.media.limits import (
    check_dimensions,
    check_input_size,
    check_jpeg_structure,
    check_png_chunks,
    count_gif_frames,
    webp_canvas_size,
)
from hashwall.media.modes import to_rgb
from hashwall.settings import Settings

__all__ = ["DecodedImage", "decode_image", "iter_frames", "to_rgb"]

# The Pillow plugin for each format; Image.open tries only that one, never guessing from others.
_PILLOW_FORMAT: dict[MediaFormat, str] = {
    MediaFormat.JPEG: "JPEG",
    MediaFormat.PNG: "PNG",
    MediaFormat.GIF: "GIF",
    MediaFormat.WEBP: "WEBP",
    MediaFormat.BMP: "BMP",
    MediaFormat.TIFF: "TIFF",
    MediaFormat.HEIF: "HEIF",
    MediaFormat.AVIF: "AVIF",
}
_ANIMATION_FORMATS = frozenset(
    {MediaFormat.GIF, MediaFormat.WEBP, MediaFormat.PNG, MediaFormat.AVIF}
)

# EXIF orientation -> the transpose that shows the picture upright (as ImageOps.exif_transpose).
_ORIENTATION_FIX: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_SIDES = frozenset({5, 6, 7, 8})


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """An image's first frame as RGB pixels, with what the container said about it."""

    pixels: npt.NDArray[np.uint8]  # (h, w, 3) RGB, C-contiguous, read-only, upright
    format: MediaFormat
    width: int  # full-resolution size after orientation, even when pixels were drafted smaller
    height: int
    frame_count: int  # 1 for stills; frames in an animation (only the first is in pixels)
    animated: bool


@dataclass(slots=True)
class _Opened:
    image: Image.Image
    format: MediaFormat
    frame_count: int
    orientation: int


@functools.cache
def register_heif_opener() -> None:
    """Teach Pillow to open HEIF/HEIC through pillow-heif; runs once per process."""
    # pillow-heif's libheif applies the container's rotation and mirroring itself and resets the
    # EXIF orientation to 1, so HEIF goes through the same EXIF step without turning twice.
    pillow_heif.register_heif_opener()


register_heif_opener()


def decode_image(
    data: bytes, settings: Settings, *, draft_min_side: int | None = None
) -> DecodedImage:
    """Decode ``data`` to its first frame as upright RGB pixels, within ``settings``' limits.

    With ``draft_min_side``, a JPEG is decoded reduced in libjpeg's DCT (by 1/2, 1/4 or 1/8),
    the strongest reduction that keeps both sides at least ``draft_min_side`` pixels; other
    formats decode at full size. ``width``/``height`` always report the full size.
    """
    if draft_min_side is not None and draft_min_side < 1:
        raise ValueError("draft_min_side must be a positive number of pixels")
    opened = _open(data, settings)
    image, fmt = opened.image, opened.format
    with image, _decoder_errors(fmt):
        width, height = image.size
        if draft_min_side is not None and fmt is MediaFormat.JPEG:
            scale = _draft_scale(width, height, draft_min_side)
            if scale > 1:
                # Asking for exactly size // scale makes Pillow pick exactly this scale.
                image.draft("RGB", (width // scale, height // scale))
        image.load()
        pixels = to_rgb(_upright(image, opened.orientation))
    if opened.orientation in _SWAPS_SIDES:
        width, height = height, width
    return DecodedImage(
        pixels=pixels,
        format=fmt,
        width=width,
        height=height,
        frame_count=opened.frame_count,
        animated=opened.frame_count > 1,
    )


def iter_frames(data: bytes, settings: Settings) -> Iterator[npt.NDArray[np.uint8]]:
    """The frames of an animation (GIF, WebP, APNG, AVIF) as upright RGB arrays; a still gives one.

    The limits are checked now, before the first frame is asked for; each frame is decoded only
    when the iterator reaches it, so a caller may stop early.
    """
    return _frames(_open(data, settings), settings)


def _frames(opened: _Opened, settings: Settings) -> Iterator[npt.NDArray[np.uint8]]:
    image, fmt = opened.image, opened.format
    with image:
        for index in range(opened.frame_count):
            with _decoder_errors(fmt):
                try:
                    image.seek(index)
                except EOFError:
                    # The container held fewer readable frames than its header or block walk
                    # promised (a GIF cut short): what was there has been given.
                    return
                # A GIF frame may reach outside the logical screen, and Pillow then grows the
                # canvas: check the new size before the frame is decoded into it.
                check_dimensions(*image.size, settings)
                image.load()
                frame = to_rgb(_upright(image, opened.orientation))
            yield frame


def _open(data: bytes, settings: Settings) -> _Opened:
    """Run every check that needs only headers, and open (not decode) the image."""
    check_input_size(data, settings)
    fmt = detect_format(data)
    if fmt is MediaFormat.WEBP:
        declared = webp_canvas_size(data)
        if declared is not None:
            check_dimensions(*declared, settings)
    elif fmt is MediaFormat.JPEG:
        check_jpeg_structure(data)
    elif fmt is MediaFormat.PNG:
        check_png_chunks(data)
    # Counted before Image.open, which already walks a GIF's blocks up to the first frame.
    gif_frames = count_gif_frames(data, settings.max_frames) if fmt is MediaFormat.GIF else 0
    with _decoder_errors(fmt):
        image = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMAT[fmt]])
    try:
        with _decoder_errors(fmt):
            # Image.open has read only the header: nothing is allocated for pixels yet.
            check_dimensions(*image.size, settings)
            frame_count = _frame_count(image, fmt, gif_frames)
            if frame_count > settings.max_frames:
                raise TooManyFrames(
                    f"the animation has more than {settings.max_frames} frames (the limit); "
                    "send a shorter animation or its first frame as a still image"
                )
            orientation = _exif_orientation(image)
    except BaseException:
        image.close()
        raise
    return _Opened(image=image, format=fmt, frame_count=frame_count, orientation=orientation)


def _frame_count(image: Image.Image, fmt: MediaFormat, gif_frames: int) -> int:
    if fmt not in _ANIMATION_FORMATS:
        return 1
    if fmt is MediaFormat.GIF:
        # Counted by count_gif_frames: Pillow's n_frames would walk it all, without bound.
        return max(1, gif_frames)
    # APNG (acTL chunk), WebP (demuxer) and AVIF (libavif) know their count from the header.
    n_frames = getattr(image, "n_frames", 1)
    return n_frames if isinstance(n_frames, int) and n_frames > 0 else 1


def _exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8), or 1 when absent, out of range, or the EXIF is unreadable."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:
        # A damaged EXIF block is metadata, not the picture: decode the pixels as stored.
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    fix = _ORIENTATION_FIX.get(orientation)
    return image if fix is None else image.transpose(fix)


def _draft_scale(width: int, height: int, min_side: int) -> int:
    """The strongest libjpeg reduction (8, 4, 2 or 1) keeping both sides >= ``min_side``."""
    for scale in (8, 4, 2):
        # libjpeg rounds reduced sides up; width // scale >= 1 keeps Pillow's request non-zero.
        if (
            width // scale >= 1
            and height // scale >= 1
            and -(-width // scale) >= min_side
            and -(-height // scale) >= min_side
        ):
            return scale
    return 1


@contextmanager
def _decoder_errors(fmt: MediaFormat) -> Iterator[None]:
    """Map whatever a decoder raises on hostile bytes to a HashwallError.

    The decoder's own message is dropped (``from None``): some quote the input's bytes, and no
    media bytes may reach an error body or a log. Its class name is kept for debugging.
    """
    try:
        yield
    except HashwallError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TooManyPixels(
            f"the {fmt.value} image declares more pixels than the decoder accepts; "
            "send a smaller image"
        ) from None
    except MemoryError:
        raise TooManyPixels(
            f"decoding the {fmt.value} image needed more memory than is available; "
            "send a smaller image"
        ) from None
    except Exception as exc:
        # Decoders raise OSError, ValueError, SyntaxError, struct.error, EOFError, IndexError,
        # RuntimeError (libheif) ... on damaged input; KeyboardInterrupt and SystemExit are not
        # Exceptions and pass through.
        raise CorruptMedia(
            f"the {fmt.value} data is truncated or damaged and cannot be decoded "
            f"({type(exc).__name__}); send the original file"
        ) from None
