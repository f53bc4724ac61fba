"""Every Pillow pixel mode to 8-bit RGB, the one form the hashers read.

The rules, mode by mode (``to_rgb`` applies them; the first that fits wins):

=====================  ==========================================================================
mode                   becomes
=====================  ==========================================================================
RGB                    itself.
any with transparency  alpha-composited on a fixed **white** background: RGBA, LA, PA, RGBa, La,
                       P with a tRNS/GIF transparent index, L or RGB with a tRNS colour key.
                       White, not black, because the same picture is then hashed alike whether it
                       was shared with or without its (usually white-looking) background.
I;16, I;16L/B/N        16-bit samples scaled to 8 bits by ``>> 8`` (the high byte: 0..65535 maps
                       onto 0..255, which is what a 16-bit PNG means). A 16-bit tRNS key becomes
                       alpha first.
I (int32), F (float)   clipped to 0..255 (floats truncated, NaN to 0), exactly as Pillow's
                       ``convert("L")`` does and so as other PDQ tools that ``convert("RGB")`` do:
                       hashwall's hash of such a file stays the ecosystem's hash. Files whose
                       values live outside 0..255 (e.g. I x 1000, F in 0..1) come out flat and are
                       refused later as low quality rather than guessed at.
LAB                    real sRGB colours through LittleCMS (``ImageCms``, CIE Lab D50 -> sRGB),
                       since Pillow's ``convert`` would only relabel the three channels.
HSV                    Pillow's HSV -> RGB conversion (a real colour conversion).
CMYK                   Pillow's naive ``convert("RGB")`` (R = 255 - C - K ...); embedded ICC
                       profiles are ignored for every mode, which PDQ's luminance tolerates.
1, L, P, YCbCr, RGBX   Pillow's ``convert("RGB")``.
anything else          :class:`UnsupportedMedia`.
=====================  ==========================================================================
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageCms

from hashwall.errors import UnsupportedMedia

__all__ = ["BACKGROUND", "to_rgb"]

BACKGROUND = (255, 255, 255)  # what transparent pixels become

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_DIRECT_MODES = frozenset({"1", "L", "P", "CMYK", "YCbCr", "HSV", "RGBX"})


def to_rgb(image: Image.Image) -> npt.NDArray[np.uint8]:
    """The pixels of ``image`` as a read-only C-contiguous ``(h, w, 3)`` uint8 RGB array.

    See the module docstring for what each mode becomes.
    """
    return _as_array(_rgb_image(image))


def _rgb_image(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode in _SIXTEEN_BIT_MODES:
        return _sixteen_bit_to_rgb(image)
    if mode in ("I", "F"):
        # Pillow clips I and F to 0..255 on the way to L (see the module docstring).
        return image.convert("L").convert("RGB")
    if mode == "LAB":
        return _lab_to_rgb(image)
    if mode in _ALPHA_MODES or image.info.get("transparency") is not None:
        return _composite_on_background(image)
    if mode in _DIRECT_MODES:
        return image.convert("RGB")
    raise UnsupportedMedia(
        f"unsupported media: pixel mode {mode!r} has no RGB conversion; save the image as an "
        "ordinary 8-bit RGB or greyscale file"
    )


def _composite_on_background(image: Image.Image) -> Image.Image:
    if image.mode == "La":
        # Pillow converts premultiplied La only to LA, not straight to RGBA.
        image = image.convert("LA")
    try:
        rgba = image.convert("RGBA")
    except ValueError:
        # A transparency key Pillow cannot apply in this mode (e.g. on mode 1): drop it.
        return image.convert("RGB")
    background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _sixteen_bit_to_rgb(image: Image.Image) -> Image.Image:
    # np.asarray honours the byte order of I;16B, so values are true 0..65535 numbers here.
    samples = np.asarray(image).astype(np.uint16, copy=False)
    grey = (samples >> 8).astype(np.uint8)
    key = image.info.get("transparency")
    if isinstance(key, int):
        alpha = np.where(samples == key, 0, 255).astype(np.uint8)
        la = Image.fromarray(np.dstack([grey, alpha]), "LA")
        return _composite_on_background(la)
    return Image.fromarray(grey, "L").convert("RGB")


def _lab_to_rgb(image: Image.Image) -> Image.Image:
    # Built per call: a LittleCMS transform carries a pixel cache that is not safe to share
    # between threads, and LAB files are rare enough that the milliseconds do not matter.
    transform = ImageCms.buildTransform(
        ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
    )
    converted = ImageCms.applyTransform(image, transform)
    assert converted is not None  # applyTransform returns None only when inPlace=True
    return converted


def _as_array(image: Image.Image) -> npt.NDArray[np.uint8]:
    if image.mode != "RGB":
        image = image.convert("RGB")
    pixels: npt.NDArray[np.uint8] = np.asarray(image, dtype=np.uint8)
    if not pixels.flags.c_contiguous:
        pixels = np.ascontiguousarray(pixels)
    # The array is a value: never let a caller change the pixels another caller also holds.
    pixels.flags.writeable = False
    return pixels
