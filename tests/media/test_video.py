"""Decoding videos: the accepted containers, the frames given, and every refusal's stable code."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from hashwall.errors import HashwallError
from hashwall.media.video import open_video, sniff_container
from hashwall.settings import Settings

from support import encode, textured_rgb
from video_samples import (
    CONTAINERS,
    animation,
    audio_only_mp4,
    clip,
    encode_clip,
    moving_frames,
    tiny_frames_gif,
)


def _decode(source: object, settings: Settings | None = None, every: int = 1) -> list[int]:
    with open_video(source, settings or Settings()) as video:  # type: ignore[arg-type]
        return [frame.index for frame in video.frames(every=every)]


def _code(source: object, settings: Settings | None = None) -> str:
    with pytest.raises(HashwallError) as info:
        _decode(source, settings)
    return info.value.code


@pytest.mark.parametrize("kind", sorted(CONTAINERS))
def test_each_container_gives_every_frame_with_its_rate_and_size(kind: str) -> None:
    data = clip(kind)
    with open_video(data, Settings()) as video:
        frames = list(video.frames())
        info = video.info
    assert [f.index for f in frames] == list(range(20))
    assert (info.width, info.height, info.fps) == (96, 64, 10.0)
    assert all(f.pixels.shape == (64, 96, 3) and f.pixels.dtype == np.uint8 for f in frames)
    assert info.size_bytes == len(data)


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animated_gif_png_and_webp_are_videos_of_all_their_frames(fmt: str) -> None:
    frames = moving_frames(seconds=1.5)
    with open_video(animation(frames, fmt, duration_ms=100), Settings()) as video:
        decoded = list(video.frames())
        assert video.info.fps == pytest.approx(10.0)
    assert len(decoded) == 15
    if fmt != "GIF":  # lossless: the pixels come back as they went in (GIF has 256 colours)
        assert np.array_equal(decoded[7].pixels, frames[7])


def test_decoded_frames_are_the_encoded_pictures() -> None:
    frames = moving_frames()
    with open_video(encode_clip(frames, "mp4"), Settings()) as video:
        decoded = list(video.frames())
    errors = [
        np.abs(d.pixels.astype(int) - f.astype(int)).mean()
        for d, f in zip(decoded, frames, strict=True)
    ]
    assert max(errors) < 12  # lossy, but the same picture
    assert np.abs(decoded[0].pixels.astype(int) - frames[10].astype(int)).mean() > max(errors)


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_frames_are_turned_upright_as_the_display_matrix_says(rotation: int) -> None:
    frames = moving_frames(seconds=1)
    with open_video(encode_clip(frames, "mp4", rotation=rotation), Settings()) as video:
        decoded = list(video.frames())
    upright = np.rot90(frames[4], rotation // 90).astype(int)
    assert decoded[4].pixels.shape == upright.shape
    assert np.abs(decoded[4].pixels.astype(int) - upright).mean() < 12
    assert decoded[4].pixels.flags.c_contiguous


def test_every_nth_frame_is_given_and_all_are_decoded() -> None:
    with open_video(clip("webm"), Settings()) as video:
        assert [f.index for f in video.frames(every=7)] == [0, 7, 14]
        assert video.decoded == 20


def test_frames_can_be_walked_once() -> None:
    with open_video(clip("mp4"), Settings()) as video:
        list(video.frames())
        with pytest.raises(RuntimeError):
            video.frames()


def test_bytes_path_and_stream_give_the_same_frames(tmp_path: Path) -> None:
    data = clip("mkv")
    path = tmp_path / "clip.bin"  # the name says nothing: the bytes do
    path.write_bytes(data)
    stream = io.BytesIO(b"prefix" + data)
    stream.seek(6)
    results = []
    for source in (data, path, str(path), stream):
        with open_video(source, Settings()) as video:
            results.append([f.pixels.tobytes() for f in video.frames(every=5)])
    assert results[0] == results[1] == results[2] == results[3]


@pytest.mark.parametrize("kind", ["mp4", "mov", "avi", "webm", "mkv"])
def test_truncated_video_is_corrupt_media(kind: str) -> None:
    data = clip(kind, seconds=3)
    assert _code(data[: len(data) // 2]) == "corrupt_media"


def test_video_damaged_in_the_middle_is_corrupt_media() -> None:
    data = bytearray(clip("mp4", seconds=3))
    middle = len(data) // 2
    data[middle : middle + 400] = bytes(400)
    assert _code(bytes(data)) == "corrupt_media"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_media"),
        (b"not a video at all, just some text\n" * 10, "unsupported_media"),
        (encode(textured_rgb(), "JPEG"), "unsupported_media"),
        (encode(textured_rgb(), "PNG"), "unsupported_media"),  # a still PNG is an image
        (encode(textured_rgb(), "WEBP"), "unsupported_media"),
    ],
    ids=["empty", "text", "jpeg", "still-png", "still-webp"],
)
def test_what_is_not_a_video_is_refused_with_its_code(data: bytes, code: str) -> None:
    assert _code(data) == code


def test_audio_only_file_has_no_video_stream() -> None:
    with pytest.raises(HashwallError) as info:
        _decode(audio_only_mp4())
    assert info.value.code == "unsupported_media"
    assert "no video stream" in info.value.message


def test_one_frame_gif_is_a_still_image_not_a_video() -> None:
    assert _code(animation(moving_frames(seconds=0.1), "GIF")) == "unsupported_media"


def test_codec_outside_the_allow_list_is_unsupported() -> None:
    data = encode_clip(moving_frames(), "avi", codec="huffyuv", pix_fmt="yuv422p")
    assert _code(data) == "unsupported_media"


def test_video_over_the_byte_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    data = clip("mp4")
    settings = Settings(video_max_bytes=len(data) - 1)
    path = tmp_path / "v.mp4"
    path.write_bytes(data)
    for source in (data, path, io.BytesIO(data)):
        assert _code(source, settings) == "media_too_large"


@pytest.mark.parametrize("kind", ["mp4", "webm"])  # duration in the header; and found decoding
def test_video_longer_than_the_limit_is_media_too_long(kind: str) -> None:
    assert _code(clip(kind, seconds=3), Settings(video_max_seconds=2.5)) == "media_too_long"


def test_duration_limit_holds_when_the_header_declares_none() -> None:
    # An APNG declares no duration: the limit is met while decoding.
    data = animation(moving_frames(seconds=3), "PNG", duration_ms=100)
    with open_video(data, Settings()) as video:
        assert video.info.declared_seconds is None
    assert _code(data, Settings(video_max_seconds=2.5)) == "media_too_long"


@pytest.mark.parametrize("kind", ["mp4", "webm"])  # frames declared (mp4), or counted (webm)
def test_video_with_more_frames_than_the_limit_is_too_many_frames(kind: str) -> None:
    assert _code(clip(kind), Settings(video_max_frames=19)) == "too_many_frames"
    assert len(_decode(clip(kind), Settings(video_max_frames=20))) == 20


def test_animation_with_more_frames_than_the_limit_is_too_many_frames() -> None:
    data = animation(moving_frames(seconds=2), "GIF")
    assert _code(data, Settings(video_max_frames=10)) == "too_many_frames"


def test_frames_larger_than_the_pixel_limit_are_too_many_pixels() -> None:
    assert _code(clip("mp4"), Settings(video_max_pixels=96 * 64 - 1)) == "too_many_pixels"


def test_sniffing_reads_magic_bytes_not_names() -> None:
    assert sniff_container(clip("mp4")[:64]) == "mp4"
    assert sniff_container(clip("webm")[:64]) == "matroska"
    assert sniff_container(clip("avi")[:64]) == "avi"
    assert sniff_container(animation(moving_frames(seconds=0.3), "GIF")[:64]) == "gif"


def test_gif_declaring_absurd_dimensions_is_refused_cleanly() -> None:
    assert _code(tiny_frames_gif(5, screen=(8000, 8000))) == "too_many_pixels"
    assert _code(tiny_frames_gif(5, screen=(65535, 65535))) in {"too_many_pixels", "corrupt_media"}


def test_a_100000_frame_gif_is_refused_by_its_declared_duration() -> None:
    # 100,000 frames of 0.1 s: 10,000 s, refused from the header before a frame is decoded.
    assert _code(tiny_frames_gif(100_000)) == "media_too_long"


def test_a_gif_of_more_frames_than_the_limit_is_too_many_frames() -> None:
    # 0.02 s per frame: 600 s is within the duration limit; the frame count refuses it.
    data = tiny_frames_gif(30_000, delay_cs=2)
    assert _code(data, Settings(video_max_frames=20_000)) == "too_many_frames"
