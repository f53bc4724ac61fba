"""Every Settings limit, the decoder-bomb guards, and how decoder failures are mapped."""

from __future__ import annotations

import io
import struct
import time
import zlib

import pytest
from PIL import Image, ImageFile

from hashwall.errors import HashwallError
from hashwall.media import decode_image, iter_frames
from hashwall.media.limits import count_gif_frames
from hashwall.settings import Settings

from media_samples import animation, encode, gif_with_repeated_frames, jpeg, png, png_chunk


def _code(data: bytes, settings: Settings) -> str:
    with pytest.raises(HashwallError) as caught:
        decode_image(data, settings)
    return caught.value.code


# --- the four Settings limits -----------------------------------------------------------------


def test_max_input_bytes_is_checked_before_anything_else() -> None:
    data = jpeg()
    assert decode_image(data, Settings(max_input_bytes=len(data))).width == 64
    assert _code(data, Settings(max_input_bytes=len(data) - 1)) == "media_too_large"
    # Even bytes that are not an image at all are refused for their size first.
    assert _code(b"%PDF" + b"x" * 2000, Settings(max_input_bytes=1000)) == "media_too_large"


def test_max_pixels_is_checked_from_the_header() -> None:
    data = png(64, 48)
    assert decode_image(data, Settings(max_pixels=64 * 48)).width == 64
    assert _code(data, Settings(max_pixels=64 * 48 - 1)) == "too_many_pixels"


def test_min_side_applies_to_the_shorter_side() -> None:
    data = png(64, 48)
    assert decode_image(data, Settings(min_side=48)).height == 48
    assert _code(data, Settings(min_side=49)) == "image_too_small"


@pytest.mark.parametrize("pillow_format", ["GIF", "WEBP", "PNG"])
def test_max_frames_refuses_longer_animations(pillow_format: str) -> None:
    data = animation(pillow_format, count=5)
    assert decode_image(data, Settings(max_frames=5)).frame_count == 5
    assert _code(data, Settings(max_frames=4)) == "too_many_frames"


def test_iter_frames_checks_the_limits_when_called_not_when_iterated() -> None:
    data = animation("GIF", count=5)
    with pytest.raises(HashwallError) as caught:
        iter_frames(data, Settings(max_frames=4))
    assert caught.value.code == "too_many_frames"


def test_gif_frames_are_counted_without_walking_past_the_limit() -> None:
    data = gif_with_repeated_frames(200_000)  # ~4 MB of empty frames
    started = time.thread_time()  # this thread's CPU: other processes cannot inflate it
    assert count_gif_frames(data, limit=1000) == 1001
    assert time.thread_time() - started < 0.5
    assert _code(data, Settings()) == "too_many_frames"


def test_gif_frame_count_matches_pillow() -> None:
    for count in (1, 2, 7):
        data = animation("GIF", count=count)
        with Image.open(io.BytesIO(data)) as image:
            assert count_gif_frames(data, limit=1000) == getattr(image, "n_frames", 1) == count


# --- decoder bombs: structures that would keep a decoder busy far beyond their size ---------


@pytest.mark.parametrize(
    "make",
    [
        lambda: jpeg()[:2] + b"\xff\xe5\x00\x02" * 100_000 + jpeg()[2:],  # empty APP5 segments
        lambda: jpeg()[:2] + b"\xff" * 200_000 + jpeg()[2:],  # fill bytes
        lambda: png()[:33] + png_chunk(b"xxXx", b"") * 100_000 + png()[33:],  # empty chunks
        lambda: _gif_with_comment_blocks(200_000),
    ],
    ids=["jpeg_segments", "jpeg_fill_bytes", "png_chunks", "gif_tiny_blocks"],
)
def test_structure_bombs_are_refused_fast(make: object) -> None:
    assert callable(make)
    data = make()
    started = time.thread_time()  # this thread's CPU: other processes cannot inflate it
    assert _code(data, Settings()) == "corrupt_media"
    assert time.thread_time() - started < 0.5


def _gif_with_comment_blocks(count: int) -> bytes:
    single = encode(Image.new("P", (16, 16), 1), "GIF")
    start = single.index(b",", 13)
    comments = b"\x21\xfe" + b"\x01c" * count + b"\x00"
    return single[:start] + comments + single[start:]


def test_real_files_with_many_small_parts_still_decode() -> None:
    # An ICC profile split over 30 APP2 segments and a PNG cut into 1 KB IDAT chunks are normal.
    base = jpeg()
    app2 = b"\xff\xe2\x00\x12ICC_PROFILE\x00\x01\x01\x00\x00" * 30
    assert decode_image(base[:2] + app2 + base[2:], Settings()).width == 64
    raw = png(256, 256)
    ihdr_end = 33
    idat_start = raw.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", raw[idat_start : idat_start + 4])
    payload = raw[idat_start + 8 : idat_start + 8 + length]
    chunks = b"".join(png_chunk(b"IDAT", payload[i : i + 1024]) for i in range(0, length, 1024))
    rebuilt = raw[:ihdr_end] + chunks + png_chunk(b"IEND", b"")
    assert zlib.decompress(payload)  # sanity: one zlib stream split over chunks
    assert decode_image(rebuilt, Settings()).width == 256


def test_pillow_decompression_bomb_error_is_too_many_pixels() -> None:
    # max_pixels set above Pillow's own bomb limit: Pillow refuses first, with the same code.
    data = bytearray(jpeg())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, 60_000, 60_000)
    assert _code(bytes(data), Settings(max_pixels=10**12)) == "too_many_pixels"


# --- mapping of decoder failures --------------------------------------------------------------


def test_memory_error_while_decoding_is_too_many_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    def out_of_memory(self: ImageFile.ImageFile) -> None:
        raise MemoryError

    monkeypatch.setattr(ImageFile.ImageFile, "load", out_of_memory)
    assert _code(png(), Settings()) == "too_many_pixels"


@pytest.mark.parametrize("error", [OSError, ValueError, SyntaxError, struct.error, RuntimeError])
def test_any_decoder_exception_is_corrupt_media(
    monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    def fail(self: ImageFile.ImageFile) -> None:
        raise error("decoder said b'\\x89PNG secret bytes'")

    monkeypatch.setattr(ImageFile.ImageFile, "load", fail)
    with pytest.raises(HashwallError) as caught:
        decode_image(png(), Settings())
    assert caught.value.code == "corrupt_media"
    assert "secret" not in caught.value.message  # decoder messages may quote the input
    assert caught.value.__cause__ is None


def test_keyboard_interrupt_is_never_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self: ImageFile.ImageFile) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ImageFile.ImageFile, "load", interrupted)
    with pytest.raises(KeyboardInterrupt):
        decode_image(png(), Settings())


def test_truncated_images_stay_refused() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    data = jpeg()
    assert _code(data[: len(data) * 3 // 4], Settings()) == "corrupt_media"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_errors_in_later_frames_are_mapped_too() -> None:
    data = animation("GIF", count=4)
    broken = data[: len(data) - 40]  # the last frame is cut short
    frames = iter_frames(broken, Settings())
    with pytest.raises(HashwallError) as caught:
        list(frames)
    assert caught.value.code == "corrupt_media"
