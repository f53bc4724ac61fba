"""A video's bytes, read within the byte limit: bytes, a local path or a seekable stream, seen as
one seekable binary stream (:func:`source_stream`), what FFmpeg reads through
(:class:`BoundedReader`: never past the limit, for a file that grows) and the bytes in chunks for
the file's digests (:func:`read_chunks`). Decoding is :mod:`hashwall.media.video`'s.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, cast

from hashwall.errors import FileUnreadable, InvalidInput, MediaTooLarge
from hashwall.settings import Settings

__all__ = ["BoundedReader", "VideoSource", "read_chunks", "source_stream"]

#: A video to decode: its bytes, a local path, or a seekable binary stream.
VideoSource = bytes | str | os.PathLike[str] | IO[bytes]

_CHUNK = 1024 * 1024


@contextmanager
def source_stream(source: VideoSource, settings: Settings) -> Iterator[tuple[IO[bytes], int]]:
    """The source as a seekable binary stream and its size, refused early when too large."""
    limit = settings.video_max_bytes
    if isinstance(source, bytes | bytearray | memoryview):
        size = len(source)
        _check_size(size, limit)
        yield io.BytesIO(source), size
        return
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            if not path.is_file():
                raise FileUnreadable(f"{path} is not a regular file")
            size = path.stat().st_size
            _check_size(size, limit)
            f = path.open("rb")
        except OSError as exc:
            raise FileUnreadable(f"cannot read {path}: {exc.strerror or exc}") from None
        with f:
            yield f, size
        return
    if not source.seekable():
        raise InvalidInput("a video stream must be seekable; save it to a file first")
    start = source.tell()
    size = source.seek(0, io.SEEK_END) - start
    source.seek(start)
    _check_size(size, limit)
    yield cast(IO[bytes], _Window(source, start)), size


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise MediaTooLarge(
            f"the video has {size} bytes, more than the limit of {limit} "
            "(HASHWALL_VIDEO_MAX_BYTES); send a smaller file"
        )


class _Window(io.RawIOBase):
    """A stream seen from ``start`` on, so that offsets in it are offsets in the video."""

    def __init__(self, raw: IO[bytes], start: int) -> None:
        self._raw, self._start = raw, start

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            offset += self._start
        return self._raw.seek(offset, whence) - self._start

    def tell(self) -> int:
        return self._raw.tell() - self._start


class BoundedReader:
    """What FFmpeg reads through: refuses to read past ``limit`` bytes (a file that grows)."""

    def __init__(self, raw: IO[bytes], limit: int) -> None:
        self._raw, self._limit = raw, limit

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if self._raw.tell() > self._limit:
            raise MediaTooLarge(f"the video has more than {self._limit} bytes (the limit)")
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def read_chunks(source: VideoSource, settings: Settings) -> Iterator[bytes]:
    """The source's bytes in chunks of 1 MB (for its digests), within the byte limit."""
    with source_stream(source, settings) as (stream, _):
        while chunk := stream.read(_CHUNK):
            yield chunk
