"""Untrusted bytes to pixels, safely. Pure functions of bytes.

``detect_format`` names the format from magic bytes, ``decode_image`` gives the first frame as
upright RGB within the ``Settings`` limits, ``iter_frames`` walks an animation, and ``to_rgb``
is the pixel-mode normalisation every path shares.
"""

from hashwall.media.decode import DecodedImage, decode_image, iter_frames, to_rgb
from hashwall.media.detect import MediaFormat, detect_format

__all__ = ["DecodedImage", "MediaFormat", "decode_image", "detect_format", "iter_frames", "to_rgb"]
