"""Request bodies: hard limits per kind, read from ASGI receive, multipart kept in memory."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hashwall.api.body import (
    BodyKind,
    Receive,
    body_limit,
    parse_multipart,
    read_body,
    read_multipart,
)
from hashwall.errors import (
    ClientDisconnected,
    MalformedBody,
    MediaTooLarge,
    PayloadTooLarge,
)
from hashwall.settings import MB, Settings

BOUNDARY = "hw-test-boundary-5b1d"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
SENTINEL = b"HASHWALL-SENTINEL-0f9e8d7c6b5a"


class Receiver:
    """An ASGI receive channel that sends ``chunks``, then (optionally) forever more."""

    def __init__(
        self, chunks: list[bytes], *, endless: bytes | None = None, disconnect: bool = False
    ) -> None:
        self.chunks = list(chunks)
        self.endless = endless
        self.disconnect = disconnect
        self.calls = 0

    async def __call__(self) -> Mapping[str, Any]:
        self.calls += 1
        if self.chunks:
            chunk = self.chunks.pop(0)
            more = bool(self.chunks) or self.endless is not None or self.disconnect
            return {"type": "http.request", "body": chunk, "more_body": more}
        if self.endless is not None:
            return {"type": "http.request", "body": self.endless, "more_body": True}
        return {"type": "http.disconnect"}


def read(receive: Receive, **kwargs: Any) -> bytes:
    return asyncio.run(read_body(receive, **kwargs))


def form_body(
    fields: Mapping[str, str] | None = None, files: Mapping[str, bytes] | None = None
) -> bytes:
    parts = []
    for name, value in (fields or {}).items():
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for name, data in (files or {}).items():
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="private-name.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


NO_DISPOSITION = f"--{BOUNDARY}\r\nX-Nothing: 1\r\n\r\nv\r\n--{BOUNDARY}--\r\n".encode()
SMALL = Settings(max_input_bytes=1 * MB, max_json_bytes=4096)


# --- raw bodies -------------------------------------------------------------------------------


def test_body_arrives_whole_from_its_chunks() -> None:
    assert read(Receiver([b'{"a":', b" 1", b"}"]), limit=100) == b'{"a": 1}'
    assert read(Receiver([b""]), limit=100, content_length="0") == b""


def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    receive = Receiver([b"x" * 10])
    with pytest.raises(PayloadTooLarge) as caught:
        read(receive, limit=5, content_length="10")
    assert caught.value.status == 413
    assert receive.calls == 0


def test_body_without_length_stops_at_the_limit() -> None:
    receive = Receiver([], endless=b"x" * 65536)
    with pytest.raises(PayloadTooLarge):
        read(receive, limit=1 * MB)
    assert receive.calls == 17  # 16 chunks fit, the 17th passes the limit; no more is read


def test_body_longer_than_its_declared_length_is_stopped() -> None:
    receive = Receiver([], endless=b"x" * 1000)
    with pytest.raises(MalformedBody):
        read(receive, limit=1 * MB, content_length="1500")
    assert receive.calls == 2


def test_body_shorter_than_its_declared_length_is_malformed() -> None:
    with pytest.raises(MalformedBody):
        read(Receiver([b"abc"]), limit=100, content_length="10")
    with pytest.raises(MalformedBody):
        read(Receiver([b"abc"]), limit=100, content_length="-3")


def test_client_gone_before_the_body_ends() -> None:
    with pytest.raises(ClientDisconnected):
        read(Receiver([b"abc"], disconnect=True), limit=100)


def test_media_bodies_have_the_media_limit() -> None:
    limit = body_limit(BodyKind.MEDIA, SMALL)
    assert limit == SMALL.max_input_bytes
    assert body_limit(BodyKind.JSON, SMALL) == 4096
    assert body_limit(BodyKind.FORM, SMALL) > limit
    with pytest.raises(MediaTooLarge):
        read(Receiver([], endless=b"\xff" * 65536), limit=limit, kind=BodyKind.MEDIA)


# --- multipart --------------------------------------------------------------------------------


def test_form_with_a_file_and_fields_parses_in_any_chunking() -> None:
    image = bytes(range(256)) * 40 + f"\r\n--{BOUNDARY}".encode()[:-1] + b"\r\n\r\n"
    body = form_body({"fast": "true", "note": "ünïcode"}, {"media": image})
    for size in (1, 7, 1000, len(body)):
        form = asyncio.run(
            read_multipart(
                Receiver(chunked(body, size)),
                content_type=CONTENT_TYPE,
                settings=SMALL,
                content_length=str(len(body)),
            )
        )
        assert form.fields == {"fast": "true", "note": "ünïcode"}
        part = form.file("media")
        assert part.data == image
        assert part.content_type == "image/jpeg"
        assert "private-name" not in repr(form)  # the client's file name is not kept


def test_file_part_over_the_media_limit_is_refused() -> None:
    body = form_body(files={"media": b"\x00" * (SMALL.max_input_bytes + 1)})
    with pytest.raises(MediaTooLarge):
        parse_multipart(body, content_type=CONTENT_TYPE, settings=SMALL)


def test_text_fields_are_small_and_few() -> None:
    with pytest.raises(PayloadTooLarge):
        parse_multipart(form_body({"big": "x" * 70_000}), content_type=CONTENT_TYPE, settings=SMALL)
    many = {f"f{i}": "1" for i in range(17)}
    with pytest.raises(PayloadTooLarge):
        parse_multipart(form_body(many), content_type=CONTENT_TYPE, settings=SMALL)
    fields = {f"f{i}": "y" * 1000 for i in range(5)}  # 5,000 bytes > max_json_bytes
    with pytest.raises(PayloadTooLarge):
        parse_multipart(form_body(fields), content_type=CONTENT_TYPE, settings=SMALL)


def test_one_file_only_by_default() -> None:
    body = form_body(files={"a": b"1", "b": b"2"})
    with pytest.raises(MalformedBody):
        parse_multipart(body, content_type=CONTENT_TYPE, settings=SMALL)
    form = parse_multipart(body, content_type=CONTENT_TYPE, settings=SMALL, max_files=2)
    assert [f.data for f in form.files] == [b"1", b"2"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (form_body({"a": "1"})[:-10], CONTENT_TYPE),  # no closing boundary
        (form_body({"a": "1"}), "application/json"),
        (form_body({"a": "1"}), "multipart/form-data"),  # no boundary
        (NO_DISPOSITION, CONTENT_TYPE),
        (form_body({"a": "ok"}).replace(b"ok", b"\xff\xfe"), CONTENT_TYPE),  # not UTF-8
        (b"garbage without any boundary", CONTENT_TYPE),
    ],
)
def test_malformed_forms_are_refused(body: bytes, content_type: str) -> None:
    with pytest.raises(MalformedBody):
        parse_multipart(body, content_type=content_type, settings=SMALL)


def test_missing_file_field_is_malformed() -> None:
    form = parse_multipart(form_body({"a": "1"}), content_type=CONTENT_TYPE, settings=SMALL)
    with pytest.raises(MalformedBody, match="media"):
        form.file("media")


# --- nothing on disk --------------------------------------------------------------------------


@dataclass(frozen=True)
class TempDir:
    path: Path
    before: frozenset[str]
    open_before: frozenset[Path]  # pytest's own output capture uses temp files

    def new_files_with_sentinel(self) -> list[Path]:
        """Files created since the test started (by anyone) that hold the sentinel."""
        found = []
        for name in set(os.listdir(self.path)) - self.before:
            path = self.path / name
            if path.is_file() and SENTINEL in path.read_bytes():
                found.append(path)
        return found + [p for p in open_temp_files(self.path) if p not in self.open_before]


def open_temp_files(tmp: Path) -> list[Path]:
    """Files under ``tmp`` this process holds open, named or not (O_TMPFILE, unlinked)."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        return []
    found = []
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(f"{tmp}{os.sep}"):
            found.append(Path(target))
    return found


@pytest.fixture
def no_temp_files(monkeypatch: pytest.MonkeyPatch) -> Iterator[TempDir]:
    """Any attempt to create a temporary file fails the test; the temp directory is watched."""
    tmp = Path(tempfile.gettempdir())
    watched = TempDir(tmp, frozenset(os.listdir(tmp)), frozenset(open_temp_files(tmp)))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a temporary file was requested while parsing a body")

    for name in (
        "TemporaryFile",
        "NamedTemporaryFile",
        "SpooledTemporaryFile",
        "mkstemp",
        "mkdtemp",
    ):
        monkeypatch.setattr(tempfile, name, refuse)
    yield watched
    assert watched.new_files_with_sentinel() == []


def five_mb_media() -> bytes:
    return (SENTINEL + os.urandom(1000)) * (5 * MB // (len(SENTINEL) + 1000))


def test_five_mb_form_is_parsed_without_a_temp_file(no_temp_files: TempDir) -> None:
    media = five_mb_media()
    body = form_body({"fast": "true"}, {"media": media})
    settings = Settings(max_input_bytes=8 * MB)
    found_during: list[Path] = []

    class Watching(Receiver):
        async def __call__(self) -> Mapping[str, Any]:
            if self.calls % 20 == 10:  # look while the form is half parsed
                found_during.extend(no_temp_files.new_files_with_sentinel())
            return await super().__call__()

    receive = Watching(chunked(body, 64 * 1024))
    form = asyncio.run(
        read_multipart(
            receive,
            content_type=CONTENT_TYPE,
            settings=settings,
            content_length=str(len(body)),
        )
    )
    assert form.file("media").data == media
    assert receive.calls > 20
    assert found_during == []


def test_five_mb_form_through_an_asgi_app_stays_in_memory(no_temp_files: TempDir) -> None:
    settings = Settings(max_input_bytes=8 * MB)

    async def upload(request: Request) -> JSONResponse:
        form = await read_multipart(
            request.receive,
            content_type=request.headers.get("content-type", ""),
            content_length=request.headers.get("content-length"),
            settings=settings,
        )
        data = form.file("media").data
        return JSONResponse({"sha256": hashlib.sha256(data).hexdigest(), "fields": form.fields})

    app = Starlette(routes=[Route("/upload", upload, methods=["POST"])])
    media = five_mb_media()

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(
                "/upload",
                files={"media": ("private-name.jpg", media, "image/jpeg")},
                data={"fast": "true"},
            )

    response = asyncio.run(post())
    assert response.status_code == 200, response.text
    assert response.json() == {
        "sha256": hashlib.sha256(media).hexdigest(),
        "fields": {"fast": "true"},
    }


def test_the_detector_sees_starlettes_own_parser_spool_to_disk() -> None:
    """Why these helpers exist: ``request.form()`` writes a 5 MB file part to a temp file."""
    tmp = Path(tempfile.gettempdir())
    before = set(open_temp_files(tmp))
    seen: list[Path] = []

    async def upload(request: Request) -> JSONResponse:
        async with request.form() as form:
            seen.extend(set(open_temp_files(tmp)) - before)
            return JSONResponse({"fields": len(form)})

    app = Starlette(routes=[Route("/upload", upload, methods=["POST"])])

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/upload", files={"media": ("x.jpg", five_mb_media())})

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to see open files")
    assert asyncio.run(post()).status_code == 200
    assert seen, "Starlette's parser kept the 5 MB part in memory: the detector proves nothing"
