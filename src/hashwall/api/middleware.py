"""The ASGI layers every request passes, outermost first.

- :class:`RequestMetrics`: latency and status per route template (``/metrics``);
- :class:`ProblemBoundary`: a :class:`~hashwall.errors.HashwallError` raised outside a route
  becomes its problem document, and anything unexpected the last-resort 500 (logged, no
  traceback to the client);
- :class:`SecurityHeaders`: ``X-Content-Type-Options: nosniff`` on every answer,
  ``Cache-Control: no-store`` on the case routes' (they hold case numbers and PINs);
- :class:`RequestBodies`: a body must say it is JSON, or a media form on a media route with an
  ``Authorization`` header, else ``415 unsupported_content_type`` (a browser sends plain-text,
  form-encoded and multipart bodies cross-site without a CORS preflight: another site's page
  cannot act through a visitor's browser); a JSON body is read within ``max_json_bytes`` (413)
  before FastAPI sees it; media routes read their own bodies (:mod:`hashwall.api.body`).
"""

from __future__ import annotations

import time
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hashwall.api.body import BodyKind, read_body
from hashwall.api.metrics import Metrics
from hashwall.api.problems import error_response, internal_error_response, log_unexpected
from hashwall.errors import HashwallError, UnsupportedContentType

#: Routes that read their own bodies (JSON or a media form, up to the media limits).
MEDIA_ROUTES: Final = frozenset({("POST", "/v1/cases"), ("POST", "/v1/check")})
#: JSON routes whose body may carry a video's frame hashes: read within ``video_max_json_bytes``
#: (the media routes read their JSON themselves, with the same limit).
VIDEO_JSON_ROUTES: Final = frozenset({("POST", "/v1/cases/items"), ("POST", "/v1/check/batch")})
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NOSNIFF: Final = (b"x-content-type-options", b"nosniff")
_NO_STORE: Final = (b"cache-control", b"no-store")
_CASE_ROUTES: Final = "/v1/cases"


def route_of(scope: Scope) -> str:
    """The route template a request matched (``/v1/cases/{number}``), or ``"unmatched"``."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestMetrics:
    """Counts every HTTP request by route template, method and status, with its latency."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # nothing answered: the server will say 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            self.metrics.observe_request(
                route_of(scope), scope["method"], status, time.perf_counter() - started
            )


class ProblemBoundary:
    """The last word on errors: a problem document for a :class:`HashwallError` raised outside
    a route's handlers, a logged 500 without a traceback for anything else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except HashwallError as exc:
            if not started:
                await error_response(exc)(scope, receive, send)
        except Exception as exc:
            log_unexpected(exc, f"{scope['method']} {route_of(scope)}")
            if not started:
                await internal_error_response()(scope, receive, send)


class SecurityHeaders:
    """``nosniff`` on every answer; ``no-store`` on the case routes' answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope["path"].startswith(_CASE_ROUTES)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if private:
                    headers = [(k, v) for k, v in headers if k != _NO_STORE[0]]
                    headers.append(_NO_STORE)
                headers.append(_NOSNIFF)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class RequestBodies:
    """A body is JSON, or a media form on a media route (415 otherwise); a JSON body is read
    within ``max_json_bytes`` (``video_json_bytes`` on a route that takes video frame hashes,
    when larger) (413) and handed on in one message."""

    def __init__(self, app: ASGIApp, max_json_bytes: int, video_json_bytes: int = 0) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.video_json_bytes = max(max_json_bytes, video_json_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (method := scope["method"]) in _BODY_METHODS:
            _require_content_type(scope)
            if (method, scope["path"]) not in MEDIA_ROUTES:
                receive = await self._buffered(scope, receive)
        await self.app(scope, receive, send)

    async def _buffered(self, scope: Scope, receive: Receive) -> Receive:
        headers = dict(scope.get("headers", ()))
        length = headers.get(b"content-length")
        body = await read_body(
            receive,
            limit=self.video_json_bytes
            if (scope["method"], scope["path"]) in VIDEO_JSON_ROUTES
            else self.max_json_bytes,
            content_length=length.decode("latin-1") if length is not None else None,
            kind=BodyKind.JSON,
        )
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


def _require_content_type(scope: Scope) -> None:
    """A body is JSON, or a media form on a media route from a caller with a key."""
    headers = dict(scope.get("headers", ()))
    length = headers.get(b"content-length", b"").strip()
    if b"transfer-encoding" not in headers and length in (b"", b"0"):
        return  # no body: nothing to read, nothing to say about its type
    kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if kind == b"application/json":
        return
    if (
        kind == b"multipart/form-data"
        and (scope["method"], scope["path"]) in MEDIA_ROUTES
        and b"authorization" in headers
    ):
        return
    raise UnsupportedContentType(
        "send the body as Content-Type: application/json (a media file as multipart/form-data, "
        "with an API key)"
    )
