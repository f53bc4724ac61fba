"""decode_image, iter_frames and to_rgb: formats, orientation, draft decoding, pixel modes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from hashwall.errors import HashwallError
from hashwall.media import DecodedImage, MediaFormat, decode_image, iter_frames, to_rgb
from hashwall.settings import Settings

from media_samples import (
    animation,
    avif,
    encode,
    exif_with_orientation,
    heic,
    interlaced_png,
    jpeg,
    jpeg_with_app1,
    palette_png_with_transparency,
    picture,
    png,
    rgb_array,
    sixteen_bit_png,
    zip_archive,
)

# --- every supported format decodes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("pillow_format", "params", "expected"),
    [
        ("JPEG", {"quality": 90}, MediaFormat.JPEG),
        ("JPEG", {"quality": 90, "progressive": True}, MediaFormat.JPEG),
        ("PNG", {}, MediaFormat.PNG),
        ("GIF", {}, MediaFormat.GIF),
        ("WEBP", {"quality": 90}, MediaFormat.WEBP),
        ("WEBP", {"lossless": True}, MediaFormat.WEBP),
        ("BMP", {}, MediaFormat.BMP),
        ("TIFF", {}, MediaFormat.TIFF),
        ("TIFF", {"compression": "tiff_deflate"}, MediaFormat.TIFF),
    ],
)
def test_each_format_decodes_to_rgb_of_the_right_size(
    pillow_format: str, params: dict[str, object], expected: MediaFormat, settings: Settings
) -> None:
    decoded = decode_image(encode(picture(64, 48), pillow_format, **params), settings)
    assert decoded.format is expected
    assert (decoded.width, decoded.height) == (64, 48)
    assert decoded.pixels.shape == (48, 64, 3)
    assert (decoded.frame_count, decoded.animated) == (1, False)


@pytest.mark.parametrize("make", [heic, avif], ids=["heic", "avif"])
def test_heic_and_avif_decode_close_to_the_original(make: object, settings: Settings) -> None:
    assert callable(make)
    decoded = decode_image(make(64, 48), settings)
    assert decoded.pixels.shape == (48, 64, 3)
    difference = np.abs(decoded.pixels.astype(int) - rgb_array(picture(64, 48)).astype(int))
    assert difference.mean() < 12  # lossy codecs: close, not equal


def test_lossless_formats_give_exactly_the_pixels_written(settings: Settings) -> None:
    expected = rgb_array(picture(64, 48))
    for data in (png(), encode(picture(), "BMP"), encode(picture(), "WEBP", lossless=True)):
        np.testing.assert_array_equal(decode_image(data, settings).pixels, expected)


def test_pixels_are_a_read_only_c_contiguous_uint8_value(settings: Settings) -> None:
    decoded = decode_image(jpeg(), settings)
    pixels = decoded.pixels
    assert pixels.dtype == np.uint8
    assert pixels.flags.c_contiguous
    assert not pixels.flags.writeable
    with pytest.raises(AttributeError):
        decoded.width = 3  # type: ignore[misc]


def test_interlaced_png_decodes_to_the_same_pixels(settings: Settings) -> None:
    source = picture(37, 29)  # odd sizes leave some Adam7 passes short
    data = interlaced_png(source)
    assert Image.open(io.BytesIO(data)).info.get("interlace") == 1
    np.testing.assert_array_equal(decode_image(data, settings).pixels, rgb_array(source))


def test_polyglot_jpeg_followed_by_a_zip_decodes_as_the_jpeg(settings: Settings) -> None:
    decoded = decode_image(jpeg() + zip_archive(), settings)
    assert decoded.format is MediaFormat.JPEG
    np.testing.assert_array_equal(decoded.pixels, decode_image(jpeg(), settings).pixels)


# --- EXIF orientation -------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_exif_transpose(
    orientation: int, settings: Settings
) -> None:
    data = encode(picture(64, 48), "PNG", exif=exif_with_orientation(orientation))
    decoded = decode_image(data, settings)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    np.testing.assert_array_equal(decoded.pixels, np.asarray(expected))
    assert (decoded.width, decoded.height) == expected.size


def test_orientation_of_a_jpeg_turns_the_stored_pixels_upright(settings: Settings) -> None:
    # Store the picture rotated, with tag 6 ("rotate 90 clockwise to view"), as phones do.
    upright = picture(64, 48)
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    data = encode(stored, "PNG", exif=exif_with_orientation(6))
    np.testing.assert_array_equal(decode_image(data, settings).pixels, rgb_array(upright))


@pytest.mark.filterwarnings("ignore:Corrupt EXIF")
def test_corrupt_exif_is_ignored_and_the_image_decodes_as_stored(settings: Settings) -> None:
    data = jpeg_with_app1(b"Exif\x00\x00MM\x00*\xff\xff\xff\xf0" + b"\x07" * 40)
    decoded = decode_image(data, settings)
    assert (decoded.width, decoded.height) == (64, 48)


@pytest.mark.filterwarnings("error")
def test_corrupt_exif_gives_a_clean_code_even_when_warnings_are_errors(
    settings: Settings,
) -> None:
    # Under -W error, Pillow's "Corrupt EXIF" warning inside Image.open becomes an exception:
    # it must still come out as a HashwallError, never as a raw UserWarning.
    data = jpeg_with_app1(b"Exif\x00\x00MM\x00*\xff\xff\xff\xf0" + b"\x07" * 40)
    with pytest.raises(HashwallError) as caught:
        decode_image(data, settings)
    assert caught.value.code == "corrupt_media"


def test_out_of_range_orientation_is_ignored(settings: Settings) -> None:
    data = encode(picture(64, 48), "PNG", exif=exif_with_orientation(42))
    assert decode_image(data, settings).pixels.shape == (48, 64, 3)


def test_enormous_exif_block_decodes(settings: Settings) -> None:
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x9286] = b"ASCII\x00\x00\x00" + b"x" * 60_000  # UserComment, ~60 KB of APP1
    data = encode(picture(64, 48), "JPEG", exif=exif.tobytes())
    assert len(data) > 60_000
    assert decode_image(data, settings).width == 64


# --- draft (reduced JPEG decoding) ------------------------------------------------------------


def test_draft_picks_the_strongest_reduction_keeping_both_sides_at_least_min_side(
    settings: Settings,
) -> None:
    data = jpeg(1024, 768)
    expectations = {None: (768, 1024), 500: (768, 1024), 384: (384, 512), 200: (384, 512)}
    expectations |= {192: (192, 256), 96: (96, 128), 64: (96, 128), 2000: (768, 1024)}
    for min_side, shape in expectations.items():
        decoded = decode_image(data, settings, draft_min_side=min_side)
        assert decoded.pixels.shape[:2] == shape, min_side
        assert (decoded.width, decoded.height) == (1024, 768)


def test_draft_with_exif_orientation_reports_the_upright_full_size(settings: Settings) -> None:
    data = encode(picture(1024, 768), "JPEG", quality=90, exif=exif_with_orientation(6))
    decoded = decode_image(data, settings, draft_min_side=192)
    assert decoded.pixels.shape[:2] == (256, 192)  # upright: 192 wide, 256 high
    assert (decoded.width, decoded.height) == (768, 1024)
    full = decode_image(data, settings)
    assert full.pixels.shape[:2] == (1024, 768)


def test_draft_rounds_odd_sizes_up_like_libjpeg(settings: Settings) -> None:
    decoded = decode_image(jpeg(1001, 803), settings, draft_min_side=100)
    assert decoded.pixels.shape[:2] == (101, 126)  # ceil(803/8), ceil(1001/8)
    assert (decoded.width, decoded.height) == (1001, 803)


def test_draft_leaves_other_formats_at_full_size(settings: Settings) -> None:
    decoded = decode_image(png(1024, 768), settings, draft_min_side=100)
    assert decoded.pixels.shape[:2] == (768, 1024)


def test_draft_min_side_must_be_positive(settings: Settings) -> None:
    with pytest.raises(ValueError, match="positive"):
        decode_image(jpeg(), settings, draft_min_side=0)


# --- animations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pillow_format", "expected"),
    [("GIF", MediaFormat.GIF), ("WEBP", MediaFormat.WEBP), ("PNG", MediaFormat.PNG)],
    ids=["gif", "webp", "apng"],
)
def test_animation_gives_its_first_frame_and_counts_frames(
    pillow_format: str, expected: MediaFormat, settings: Settings
) -> None:
    data = animation(pillow_format, count=5)
    decoded = decode_image(data, settings)
    assert decoded.format is expected
    assert (decoded.frame_count, decoded.animated) == (5, True)
    frames = list(iter_frames(data, settings))
    assert len(frames) == 5
    np.testing.assert_array_equal(frames[0], decoded.pixels)
    # Frame k has channel k % 3 set: the frames really are the animation's, in order.
    for index, frame in enumerate(frames):
        assert frame.shape == (32, 32, 3)
        assert int(np.argmax(frame[16, :, :].mean(axis=0))) == index % 3


def test_iter_frames_of_a_still_gives_the_one_image(settings: Settings) -> None:
    frames = list(iter_frames(jpeg(), settings))
    assert len(frames) == 1
    np.testing.assert_array_equal(frames[0], decode_image(jpeg(), settings).pixels)


def test_decoded_image_is_the_public_value_type(settings: Settings) -> None:
    assert isinstance(decode_image(png(), settings), DecodedImage)


# --- pixel modes to RGB -----------------------------------------------------------------------


def _image(mode: str, values: list[object]) -> Image.Image:
    image = Image.new(mode, (len(values), 1))
    for x, value in enumerate(values):
        image.putpixel((x, 0), value)  # type: ignore[arg-type]
    return image


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (_image("1", [0, 1]), [(0, 0, 0), (255, 255, 255)]),
        (_image("L", [0, 77, 255]), [(0, 0, 0), (77, 77, 77), (255, 255, 255)]),
        (_image("LA", [(10, 255), (10, 0)]), [(10, 10, 10), (255, 255, 255)]),
        (_image("RGBA", [(200, 0, 0, 255), (200, 0, 0, 0)]), [(200, 0, 0), (255, 255, 255)]),
        (_image("RGBA", [(0, 0, 0, 128)]), [(127, 127, 127)]),
        (_image("I;16", [0, 0x1234, 0xFFFF]), [(0, 0, 0), (0x12,) * 3, (255, 255, 255)]),
        (_image("I;16B", [0x8000]), [(128, 128, 128)]),
        (_image("I", [-5, 100, 300]), [(0, 0, 0), (100, 100, 100), (255, 255, 255)]),
        (_image("F", [-1.5, 100.7, 1e9]), [(0, 0, 0), (100, 100, 100), (255, 255, 255)]),
        (_image("CMYK", [(0, 0, 0, 0), (255, 0, 0, 0)]), [(255, 255, 255), (0, 255, 255)]),
        (_image("HSV", [(0, 255, 255), (85, 255, 255)]), [(255, 0, 0), (0, 255, 0)]),
        (_image("RGBX", [(1, 2, 3, 0)]), [(1, 2, 3)]),
    ],
    ids=["1", "L", "LA", "RGBA", "RGBA-half", "I;16", "I;16B", "I", "F", "CMYK", "HSV", "RGBX"],
)
def test_to_rgb_normalises_each_mode(image: Image.Image, expected: list[tuple[int, ...]]) -> None:
    pixels = to_rgb(image)
    assert pixels.shape == (1, len(expected), 3)
    assert [tuple(int(v) for v in p) for p in pixels[0]] == expected


def test_to_rgb_turns_lab_into_real_srgb_colours() -> None:
    srgb = _image("RGB", [(200, 30, 30), (30, 160, 40), (128, 128, 128)])
    to_lab = ImageCms.buildTransform(
        ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB"
    )
    lab = ImageCms.applyTransform(srgb, to_lab)
    assert lab is not None and lab.mode == "LAB"
    back = to_rgb(lab).astype(int)
    assert np.abs(back - np.asarray(srgb).astype(int)).max() <= 3


def test_to_rgb_composites_palette_transparency_on_white(settings: Settings) -> None:
    decoded = decode_image(palette_png_with_transparency(32), settings)
    assert tuple(decoded.pixels[5, 2]) == (255, 255, 255)  # transparent index 0
    assert tuple(decoded.pixels[5, 30]) == (200, 30, 30)


def test_rgb_colour_key_transparency_is_composited_on_white() -> None:
    image = _image("RGB", [(1, 2, 3), (9, 9, 9)])
    image.info["transparency"] = (1, 2, 3)
    assert [tuple(int(v) for v in p) for p in to_rgb(image)[0]] == [(255, 255, 255), (9, 9, 9)]


def test_sixteen_bit_png_scales_by_the_high_byte(settings: Settings) -> None:
    decoded = decode_image(sixteen_bit_png(40, 30), settings)
    row = decoded.pixels[0, :, 0]
    assert row[0] == 0 and row[-1] == 255
    assert np.all(np.diff(row.astype(int)) >= 0)


def test_sixteen_bit_transparency_key_is_composited_on_white() -> None:
    image = _image("I;16", [1000, 0x8000])
    image.info["transparency"] = 1000
    assert [tuple(int(v) for v in p) for p in to_rgb(image)[0]] == [(255,) * 3, (128,) * 3]


def test_cmyk_jpeg_decodes_to_rgb(settings: Settings) -> None:
    data = encode(picture().convert("CMYK"), "JPEG", quality=95)
    decoded = decode_image(data, settings)
    difference = np.abs(decoded.pixels.astype(int) - rgb_array(picture()).astype(int))
    assert difference.mean() < 12
