"""Property: any bytes give a DecodedImage or a HashwallError, never another exception.

Examples are bounded (sizes, counts, and a small pixel limit so a mutated header cannot make a
decoder fill hundreds of megabytes) so the module runs in seconds.
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashwall.errors import HashwallError
from hashwall.media import DecodedImage, decode_image, iter_frames
from hashwall.settings import Settings

from media_samples import animation, encode, jpeg, picture, png

# Pillow warns about damaged metadata while it copes with it; the property is about exceptions.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

LIMITS = Settings(max_pixels=4_000_000, max_frames=50, max_input_bytes=1_000_000)
FUZZ = settings(
    max_examples=int(os.environ.get("HASHWALL_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@cache
def _valid_samples() -> tuple[bytes, ...]:
    return (
        jpeg(48, 32),
        jpeg(48, 32, progressive=True),
        png(48, 32),
        encode(picture(48, 32), "GIF"),
        encode(picture(48, 32), "WEBP"),
        encode(picture(48, 32), "BMP"),
        encode(picture(48, 32), "TIFF"),
        animation("GIF", count=3, size=24),
        animation("PNG", count=3, size=24),
    )


def _decode_everything(data: bytes) -> None:
    """Decode, and walk the frames too: both must end in a value or a HashwallError."""
    try:
        decoded = decode_image(data, LIMITS)
    except HashwallError:
        pass
    else:
        assert isinstance(decoded, DecodedImage)
        assert decoded.pixels.dtype == np.uint8 and decoded.pixels.ndim == 3
        assert decoded.pixels.shape[2] == 3
    try:
        for frame in iter_frames(data, LIMITS):
            assert frame.dtype == np.uint8 and frame.shape[2] == 3
    except HashwallError:
        pass


_MAGICS = [
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF89a",
    b"RIFF\x00\x01\x00\x00WEBPVP8 ",
    b"BM\x00\x01\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00",
    b"II*\x00",
    b"MM\x00*",
    b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
    b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf",
]


@FUZZ
@given(st.binary(max_size=2048))
def test_any_bytes_decode_or_give_a_hashwall_error(data: bytes) -> None:
    _decode_everything(data)


@FUZZ
@given(st.sampled_from(_MAGICS), st.binary(max_size=2048))
def test_any_bytes_behind_a_magic_number_decode_or_give_a_hashwall_error(
    magic: bytes, rest: bytes
) -> None:
    _decode_everything(magic + rest)


@FUZZ
@given(
    st.integers(min_value=0, max_value=8),
    st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8),
    st.floats(0, 1),
)
def test_mutated_valid_images_decode_or_give_a_hashwall_error(
    sample: int, flips: list[tuple[float, int]], keep: float
) -> None:
    data = bytearray(_valid_samples()[sample])
    for where, value in flips:
        data[int(where * len(data))] = value
    _decode_everything(bytes(data[: max(1, int(keep * len(data)))] if keep < 1 else data))
