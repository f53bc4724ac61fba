"""detect_format: the format comes from the bytes' magic numbers, never from a name."""

from __future__ import annotations

import pytest

from hashwall.errors import EmptyMedia, UnsupportedMedia
from hashwall.media import MediaFormat, detect_format

from media_samples import animation, avif, encode, heic, jpeg, picture, png, zip_archive


@pytest.mark.parametrize(
    ("pillow_format", "params", "expected"),
    [
        ("JPEG", {}, MediaFormat.JPEG),
        ("PNG", {}, MediaFormat.PNG),
        ("GIF", {}, MediaFormat.GIF),
        ("WEBP", {}, MediaFormat.WEBP),
        ("WEBP", {"lossless": True}, MediaFormat.WEBP),
        ("BMP", {}, MediaFormat.BMP),
        ("TIFF", {}, MediaFormat.TIFF),
        ("TIFF", {"compression": "tiff_lzw"}, MediaFormat.TIFF),
    ],
)
def test_each_pillow_written_format_is_detected_from_its_bytes(
    pillow_format: str, params: dict[str, object], expected: MediaFormat
) -> None:
    assert detect_format(encode(picture(), pillow_format, **params)) is expected


def test_heic_and_avif_are_told_apart_by_their_ftyp_brands() -> None:
    assert detect_format(heic()) is MediaFormat.HEIF
    assert detect_format(avif()) is MediaFormat.AVIF


def test_generic_mif1_container_with_avif_compatible_brand_is_avif() -> None:
    ftyp = b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1avif"
    assert detect_format(ftyp + b"\x00" * 32) is MediaFormat.AVIF


def test_big_endian_tiff_is_detected() -> None:
    assert detect_format(b"MM\x00*\x00\x00\x00\x08" + b"\x00" * 16) is MediaFormat.TIFF


def test_animation_formats_are_their_still_formats() -> None:
    assert detect_format(animation("GIF")) is MediaFormat.GIF
    assert detect_format(animation("WEBP")) is MediaFormat.WEBP
    assert detect_format(animation("PNG")) is MediaFormat.PNG


def test_format_is_a_stable_lowercase_string() -> None:
    assert [f.value for f in MediaFormat] == [
        "jpeg",
        "png",
        "gif",
        "webp",
        "bmp",
        "tiff",
        "heif",
        "avif",
    ]
    assert str(MediaFormat.HEIF) == "heif"


def test_empty_bytes_are_empty_media() -> None:
    with pytest.raises(EmptyMedia) as caught:
        detect_format(b"")
    assert caught.value.code == "empty_media"


@pytest.mark.parametrize(
    ("data", "described_as"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "SVG"),
        (b"<?xml version='1.0'?>\n<svg></svg>", "SVG"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "HTML"),
        (b"hello, this is just some text\n", "plain text"),
        (zip_archive(), "zip"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 40, "ELF"),
        (b"MZ\x90\x00" + b"\x00" * 60, "Windows executable"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "video"),
        (b"BM is not a bitmap, it is text", "plain text"),
        (b"\x00\x00\x01\x00\x01\x00\x10\x10", "icon"),
        (b"\x13\x37" * 20, "binary"),
    ],
)
def test_everything_else_is_unsupported_media_with_a_named_reason(
    data: bytes, described_as: str
) -> None:
    with pytest.raises(UnsupportedMedia) as caught:
        detect_format(data)
    assert caught.value.code == "unsupported_media"
    assert described_as in caught.value.message


def test_error_message_never_quotes_the_input_bytes() -> None:
    secret = b"<html>SECRET-CONTENT-1234</html>"
    with pytest.raises(UnsupportedMedia) as caught:
        detect_format(secret)
    assert "SECRET" not in caught.value.message


def test_a_png_named_jpg_is_still_a_png() -> None:
    # There is no name to pass: the bytes decide. This documents the contract.
    data = png()
    assert detect_format(data) is MediaFormat.PNG
    assert detect_format(jpeg()) is MediaFormat.JPEG
