"""Request bodies read into memory with a hard limit, and multipart forms that never touch disk.

Starlette's own form parser spools file parts over 1 MB to temporary files, and its body
reader trusts the client to stop. Here, the ASGI ``receive`` channel is read chunk by chunk and
refused the moment it passes its limit (also when ``Content-Length`` lied, or was absent), and
``multipart/form-data`` is parsed as it streams (``python-multipart``'s parser, callbacks into
memory). Media bytes live only in this request's memory: no temporary file, no log line.

Routes that use these helpers declare no body parameters (no ``UploadFile``, no ``Form``), so
that FastAPI leaves ``request.receive`` to them.

Limits (``Settings``): a JSON body ``max_json_bytes`` (413 ``payload_too_large``); a raw media
body, or one file part, ``max_input_bytes`` (413 ``media_too_large``); text fields of a form
``max_field_bytes`` each and ``max_json_bytes`` together.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from hashwall.errors import (
    ClientDisconnected,
    HashwallError,
    MalformedBody,
    MediaTooLarge,
    PayloadTooLarge,
)
from hashwall.settings import Settings

Receive = Callable[[], Awaitable[Mapping[str, Any]]]

KIB = 1024
# Boundaries and part headers around a form's file and fields.
MULTIPART_OVERHEAD = 64 * KIB
MAX_FIELD_BYTES = 64 * KIB
MAX_FIELDS = 16
MAX_PART_HEADER_BYTES = 4 * KIB


class BodyKind(enum.StrEnum):
    """What a route accepts: a JSON document, raw media bytes, or a form with a media file."""

    JSON = "json"
    MEDIA = "media"
    FORM = "form"


def body_limit(kind: BodyKind, settings: Settings, *, max_files: int = 1) -> int:
    """The most bytes a request body of ``kind`` may have."""
    if kind is BodyKind.JSON:
        return settings.max_json_bytes
    if kind is BodyKind.MEDIA:
        return settings.max_input_bytes
    return max_files * settings.max_input_bytes + settings.max_json_bytes + MULTIPART_OVERHEAD


def _too_large(kind: BodyKind, limit: int) -> HashwallError:
    if kind is BodyKind.JSON:
        return PayloadTooLarge(
            f"the request body has more than {limit} bytes (HASHWALL_MAX_JSON_BYTES)"
        )
    return MediaTooLarge(f"the upload has more than {limit} bytes (HASHWALL_MAX_INPUT_BYTES)")


def _declared_length(content_length: str | None) -> int | None:
    if content_length is None:
        return None
    text = content_length.strip()
    if not text.isdigit():
        raise MalformedBody("Content-Length must be a whole number of bytes")
    return int(text)


async def iter_body(
    receive: Receive,
    *,
    limit: int,
    content_length: str | None = None,
    kind: BodyKind = BodyKind.JSON,
) -> AsyncIterator[bytes]:
    """Yield the body's chunks as they arrive; stop with a 413 as soon as ``limit`` is passed.

    A declared ``Content-Length`` over the limit is refused before anything is read; a body
    longer (or shorter) than it declared is :class:`MalformedBody`.
    """
    declared = _declared_length(content_length)
    if declared is not None and declared > limit:
        raise _too_large(kind, limit)
    received = 0
    while True:
        message = await receive()
        kind_of_message = message.get("type")
        if kind_of_message == "http.disconnect":
            raise ClientDisconnected("the client disconnected before its request body arrived")
        if kind_of_message != "http.request":
            continue
        chunk = bytes(message.get("body", b""))
        received += len(chunk)
        if received > limit:
            raise _too_large(kind, limit)
        if declared is not None and received > declared:
            raise MalformedBody("the body is longer than its Content-Length")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            break
    if declared is not None and received != declared:
        raise MalformedBody("the body is shorter than its Content-Length")


async def read_body(
    receive: Receive,
    *,
    limit: int,
    content_length: str | None = None,
    kind: BodyKind = BodyKind.JSON,
) -> bytes:
    """The whole body in memory, refused (413) once it passes ``limit``; see :func:`iter_body`."""
    chunks = [
        chunk
        async for chunk in iter_body(receive, limit=limit, content_length=content_length, kind=kind)
    ]
    return b"".join(chunks)


# --- multipart/form-data ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilePart:
    """One file of a form. The client's file name is dropped: hashwall keeps no file names."""

    name: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class MultipartForm:
    """A parsed ``multipart/form-data`` body: text fields and files, all in memory."""

    fields: Mapping[str, str]
    files: tuple[FilePart, ...]

    def file(self, name: str) -> FilePart:
        """The file part called ``name``; :class:`MalformedBody` if the form has none."""
        for part in self.files:
            if part.name == name:
                return part
        raise MalformedBody(f"the form has no file field {name!r}")


def _boundary(content_type: str) -> bytes:
    mime, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise MalformedBody("expected Content-Type: multipart/form-data with a boundary")
    if len(boundary) > 70:  # RFC 2046
        raise MalformedBody("the multipart boundary is longer than 70 characters")
    return boundary


class MultipartCollector:
    """Feeds chunks of a ``multipart/form-data`` body to a streaming parser, keeping every part
    in memory within its limits. :meth:`finish` returns the form."""

    def __init__(
        self,
        content_type: str,
        *,
        max_file_bytes: int,
        max_files: int = 1,
        max_fields: int = MAX_FIELDS,
        max_field_bytes: int = MAX_FIELD_BYTES,
        max_fields_total: int = MAX_FIELD_BYTES * MAX_FIELDS,
    ) -> None:
        self._max_file_bytes = max_file_bytes
        self._max_files = max_files
        self._max_fields = max_fields
        self._max_field_bytes = max_field_bytes
        self._max_fields_total = max_fields_total
        self._fields: dict[str, str] = {}
        self._files: list[FilePart] = []
        self._fields_total = 0
        self._complete = False
        self._reset_part()
        self._parser = MultipartParser(
            _boundary(content_type),
            callbacks={
                "on_part_begin": self._reset_part,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
            max_header_size=MAX_PART_HEADER_BYTES,
        )

    def feed(self, chunk: bytes) -> None:
        """Parse the next chunk of the body."""
        if self._complete:
            return  # the epilogue after the closing boundary is ignored, as RFC 2046 says
        try:
            self._parser.write(chunk)
        except MultipartParseError:
            raise MalformedBody("the multipart body is malformed") from None

    def finish(self) -> MultipartForm:
        """The form, once the whole body was fed; :class:`MalformedBody` if it was cut short."""
        if not self._complete:
            raise MalformedBody("the multipart body ends before its closing boundary")
        return MultipartForm(fields=dict(self._fields), files=tuple(self._files))

    # --- parser callbacks ---

    def _reset_part(self) -> None:
        self._headers: dict[str, str] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._name = ""
        self._is_file = False
        self._content_type = ""
        self._buffer = bytearray()
        self._part_limit = 0

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        name = self._header_field.decode("latin-1").strip().lower()
        self._headers[name] = self._header_value.decode("latin-1").strip()
        self._header_field = bytearray()
        self._header_value = bytearray()

    def _on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get("content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise MalformedBody("a form part has no Content-Disposition: form-data; name=...")
        try:
            self._name = options[b"name"].decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedBody("a form field name is not UTF-8") from None
        self._is_file = b"filename" in options
        self._content_type = self._headers.get("content-type", "application/octet-stream")[:200]
        if self._is_file:
            if len(self._files) >= self._max_files:
                raise MalformedBody(f"the form may carry at most {self._max_files} file(s)")
            self._part_limit = self._max_file_bytes
        else:
            if len(self._fields) >= self._max_fields:
                raise PayloadTooLarge(f"the form may carry at most {self._max_fields} fields")
            self._part_limit = self._max_field_bytes

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        size = end - start
        if len(self._buffer) + size > self._part_limit:
            if self._is_file:
                raise MediaTooLarge(
                    f"the file has more than {self._part_limit} bytes (HASHWALL_MAX_INPUT_BYTES)"
                )
            raise PayloadTooLarge(f"a form field has more than {self._part_limit} bytes")
        if not self._is_file:
            self._fields_total += size
            if self._fields_total > self._max_fields_total:
                raise PayloadTooLarge(
                    f"the form's fields have more than {self._max_fields_total} bytes"
                )
        self._buffer += data[start:end]

    def _on_part_end(self) -> None:
        if self._is_file:
            self._files.append(FilePart(self._name, self._content_type, bytes(self._buffer)))
        else:
            try:
                self._fields[self._name] = self._buffer.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedBody(f"the form field {self._name!r} is not UTF-8") from None
        self._buffer = bytearray()

    def _on_end(self) -> None:
        self._complete = True


def _collector(
    content_type: str, settings: Settings, max_files: int, max_fields: int, max_field_bytes: int
) -> MultipartCollector:
    return MultipartCollector(
        content_type,
        max_file_bytes=settings.max_input_bytes,
        max_files=max_files,
        max_fields=max_fields,
        max_field_bytes=max_field_bytes,
        max_fields_total=settings.max_json_bytes,
    )


async def read_multipart(
    receive: Receive,
    *,
    content_type: str,
    settings: Settings,
    content_length: str | None = None,
    max_files: int = 1,
    max_fields: int = MAX_FIELDS,
    max_field_bytes: int = MAX_FIELD_BYTES,
) -> MultipartForm:
    """Stream a ``multipart/form-data`` body from ASGI ``receive`` into memory, within limits."""
    collector = _collector(content_type, settings, max_files, max_fields, max_field_bytes)
    limit = body_limit(BodyKind.FORM, settings, max_files=max_files)
    async for chunk in iter_body(
        receive, limit=limit, content_length=content_length, kind=BodyKind.FORM
    ):
        collector.feed(chunk)
    return collector.finish()


def parse_multipart(
    body: bytes,
    *,
    content_type: str,
    settings: Settings,
    max_files: int = 1,
    max_fields: int = MAX_FIELDS,
    max_field_bytes: int = MAX_FIELD_BYTES,
) -> MultipartForm:
    """Parse a ``multipart/form-data`` body already in memory, within the same limits."""
    limit = body_limit(BodyKind.FORM, settings, max_files=max_files)
    if len(body) > limit:
        raise _too_large(BodyKind.FORM, limit)
    collector = _collector(content_type, settings, max_files, max_fields, max_field_bytes)
    collector.feed(body)
    return collector.finish()
