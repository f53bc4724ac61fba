"""A corpus of hostile, broken and unusual inputs, each with the one outcome it must give.

Every case is built in code. An outcome is either an error code (part of the public API) or a
successful decode with the expected format, size and frame count. Nothing else may come out.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from hashwall.errors import HashwallError
from hashwall.media import MediaFormat, decode_image
from hashwall.settings import Settings

from media_samples import (
    animation,
    avif,
    elf_header,
    encode,
    gif_with_repeated_frames,
    heic,
    interlaced_png,
    jpeg,
    palette_png_with_transparency,
    pe_header,
    picture,
    png,
    png_claiming_size,
    sixteen_bit_png,
    zip_archive,
)


@dataclass(frozen=True)
class Decodes:
    """The expected successful outcome of a corpus case."""

    format: MediaFormat
    size: tuple[int, int]
    frames: int = 1


def _random(n: int, seed: int = 7) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _jpeg_claiming_size(width: int, height: int) -> bytes:
    data = bytearray(jpeg())
    sof = data.index(b"\xff\xc0")  # baseline SOF0: length(2) precision(1) height(2) width(2)
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def _heic_claiming_size(width: int, height: int) -> bytes:
    # 64x64: at 64x48 the encoder adds a crop box (clap), whose size libheif reports instead.
    data = bytearray(heic(64, 64))
    ispe = data.index(b"ispe")  # full box: version/flags(4), then width(4) and height(4)
    struct.pack_into(">II", data, ispe + 8, width, height)
    return bytes(data)


def _webp_claiming_canvas(width: int, height: int) -> bytes:
    data = bytearray(encode(picture(), "WEBP", exif=Image.Exif().tobytes()))  # VP8X header
    assert data[12:16] == b"VP8X"
    data[24:27] = (width - 1).to_bytes(3, "little")
    data[27:30] = (height - 1).to_bytes(3, "little")
    return bytes(data)


def _progressive_scan_bomb() -> bytes:
    data = jpeg(progressive=True)
    last_scan = data.rindex(b"\xff\xda")
    return data[:last_scan] + data[last_scan:-2] * 1200 + b"\xff\xd9"


def _gif_frames(count: int) -> bytes:
    return gif_with_repeated_frames(count)


def _half(make: Callable[[], bytes]) -> Callable[[], bytes]:
    return lambda: (data := make())[: len(data) // 2]


CORPUS: list[tuple[str, Callable[[], bytes], str | Decodes]] = [
    # Not an image at all.
    ("empty", lambda: b"", "empty_media"),
    ("one_byte", lambda: b"\xff", "unsupported_media"),
    ("svg", lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>', "unsupported_media"),
    ("pdf", lambda: b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer\n%%EOF\n", "unsupported_media"),
    ("html", lambda: b"<!doctype html><html><img src=x></html>", "unsupported_media"),
    ("plain_text", lambda: b"just some words\nand more words\n", "unsupported_media"),
    ("zip", zip_archive, "unsupported_media"),
    ("zip_then_jpeg", lambda: zip_archive() + jpeg(), "unsupported_media"),
    ("elf_executable", elf_header, "unsupported_media"),
    ("pe_executable", pe_header, "unsupported_media"),
    ("mp4_video_header", lambda: b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", "unsupported_media"),  # noqa: E501
    ("random_bytes", lambda: _random(4096), "unsupported_media"),
    # A supported format, broken.
    ("truncated_jpeg", _half(jpeg), "corrupt_media"),
    ("truncated_progressive_jpeg", _half(lambda: jpeg(progressive=True)), "corrupt_media"),
    ("truncated_png", _half(png), "corrupt_media"),
    ("truncated_gif", _half(lambda: encode(picture(), "GIF")), "corrupt_media"),
    ("truncated_webp", _half(lambda: encode(picture(), "WEBP")), "corrupt_media"),
    ("truncated_bmp", _half(lambda: encode(picture(), "BMP")), "corrupt_media"),
    ("truncated_tiff", _half(lambda: encode(picture(), "TIFF")), "corrupt_media"),
    ("truncated_heic", _half(heic), "corrupt_media"),
    ("truncated_avif", _half(avif), "corrupt_media"),
    ("random_after_jpeg_magic", lambda: b"\xff\xd8\xff\xe0" + _random(4096), "corrupt_media"),
    ("random_after_png_magic", lambda: b"\x89PNG\r\n\x1a\n" + _random(4096), "corrupt_media"),
    ("random_after_gif_magic", lambda: b"GIF89a" + _random(4096), "corrupt_media"),
    ("png_bad_ihdr_crc", lambda: png()[:29] + b"\x00\x00\x00\x00" + png()[33:], "corrupt_media"),
    ("jpeg_progressive_scan_bomb", _progressive_scan_bomb, "corrupt_media"),
    # Within the format, beyond the limits.
    ("png_claiming_100000x100000", lambda: png_claiming_size(100_000, 100_000), "too_many_pixels"),
    ("jpeg_claiming_65500x65500", lambda: _jpeg_claiming_size(65_500, 65_500), "too_many_pixels"),
    ("heic_claiming_100000x100000", lambda: _heic_claiming_size(100_000, 100_000), "too_many_pixels"),  # noqa: E501
    ("heic_claiming_12000x10000", lambda: _heic_claiming_size(12_000, 10_000), "too_many_pixels"),
    ("png_claiming_11000x10000", lambda: png_claiming_size(11_000, 10_000), "too_many_pixels"),
    ("webp_canvas_16384x16384", lambda: _webp_claiming_canvas(16_384, 16_384), "too_many_pixels"),
    ("gif_1500_frames", lambda: _gif_frames(1500), "too_many_frames"),
    ("png_1x1", lambda: png(1, 1), "image_too_small"),
    ("jpeg_4x4", lambda: jpeg(4, 4), "image_too_small"),
    ("gif_300x8", lambda: encode(picture(300, 8), "GIF"), "image_too_small"),
    # Unusual but valid: decodes.
    ("jpeg_60kb_exif", lambda: encode(picture(), "JPEG", exif=_big_exif()), Decodes(MediaFormat.JPEG, (64, 48))),  # noqa: E501
    ("png_bytes_named_jpg", png, Decodes(MediaFormat.PNG, (64, 48))),
    ("jpeg_zip_polyglot", lambda: jpeg() + zip_archive(), Decodes(MediaFormat.JPEG, (64, 48))),
    ("cmyk_jpeg", lambda: encode(picture().convert("CMYK"), "JPEG"), Decodes(MediaFormat.JPEG, (64, 48))),  # noqa: E501
    ("progressive_jpeg", lambda: jpeg(progressive=True), Decodes(MediaFormat.JPEG, (64, 48))),
    ("png_16_bit", sixteen_bit_png, Decodes(MediaFormat.PNG, (40, 30))),
    ("png_palette_trns", palette_png_with_transparency, Decodes(MediaFormat.PNG, (32, 32))),
    ("png_interlaced", lambda: interlaced_png(picture(37, 29)), Decodes(MediaFormat.PNG, (37, 29))),
    ("gif_1000_frames", lambda: _gif_frames(1000), Decodes(MediaFormat.GIF, (16, 16), 1000)),
    ("animated_gif", lambda: animation("GIF"), Decodes(MediaFormat.GIF, (32, 32), 3)),
    ("animated_webp", lambda: animation("WEBP"), Decodes(MediaFormat.WEBP, (32, 32), 3)),
    ("apng", lambda: animation("PNG"), Decodes(MediaFormat.PNG, (32, 32), 3)),
    ("bmp", lambda: encode(picture(), "BMP"), Decodes(MediaFormat.BMP, (64, 48))),
    ("tiff", lambda: encode(picture(), "TIFF", compression="tiff_lzw"), Decodes(MediaFormat.TIFF, (64, 48))),  # noqa: E501
    ("heic", heic, Decodes(MediaFormat.HEIF, (64, 48))),
    ("avif", avif, Decodes(MediaFormat.AVIF, (64, 48))),
    ("webp_lossless", lambda: encode(picture(), "WEBP", lossless=True), Decodes(MediaFormat.WEBP, (64, 48))),  # noqa: E501
]  # fmt: skip


def _big_exif() -> bytes:
    exif = Image.Exif()
    exif[0x9286] = b"ASCII\x00\x00\x00" + b"x" * 60_000  # UserComment: a ~60 KB APP1 segment
    return exif.tobytes()


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_corpus_case_gives_its_expected_outcome(
    make: Callable[[], bytes], expected: str | Decodes, settings: Settings
) -> None:
    data = make()
    if isinstance(expected, Decodes):
        decoded = decode_image(data, settings)
        assert decoded.format is expected.format
        assert (decoded.width, decoded.height) == expected.size
        assert decoded.pixels.shape == (expected.size[1], expected.size[0], 3)
        assert decoded.frame_count == expected.frames
        assert decoded.animated is (expected.frames > 1)
    else:
        with pytest.raises(HashwallError) as caught:
            decode_image(data, settings)
        assert caught.value.code == expected, caught.value.message


def test_corpus_is_large_and_covers_every_code() -> None:
    codes = {c[2] for c in CORPUS if isinstance(c[2], str)}
    assert len(CORPUS) >= 25
    assert codes == {
        "empty_media",
        "unsupported_media",
        "corrupt_media",
        "too_many_pixels",
        "too_many_frames",
        "image_too_small",
    }
    assert {c[2].format for c in CORPUS if isinstance(c[2], Decodes)} == set(MediaFormat)
