"""Every error as ``application/problem+json`` (RFC 9457), with hashwall's stable ``code``.

One handler per kind of failure, installed by :func:`install_problem_handlers`:

- a :class:`~hashwall.errors.HashwallError`: its ``status`` and ``code``, its message as
  ``detail`` (messages never carry media bytes, PINs or key secrets), ``Retry-After`` for
  ``rate_limited``, ``overloaded`` and ``store_unavailable``; per-item ``refusals`` for
  ``no_items_accepted``;
- a request that does not fit its schema (FastAPI's ``RequestValidationError``): 422
  ``invalid_request``, with where and what (never the input values themselves);
- an unknown route or method: 404 ``not_found`` / 405 ``method_not_allowed``;
- a database that cannot be reached (:mod:`hashwall.api.outage`): 503 ``store_unavailable``
  with ``Retry-After``, one log line when the outage starts and one when it ends;
- anything else: 500 ``internal_error``, without a traceback in the body; the log gets the
  exception type and traceback but not its message (a database error's message can quote the
  statement's parameters) and never the request body.
"""

from __future__ import annotations

import logging
import math
import traceback
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from hashwall.api.outage import StoreOutage, is_store_unavailable
from hashwall.errors import HashwallError, Overloaded, RateLimited, StoreUnavailable
from hashwall.service.intake import AllItemsRefused

log = logging.getLogger("hashwall.api")

PROBLEM_JSON: Final = "application/problem+json"
TYPE_PREFIX: Final = "urn:hashwall:error:"
INVALID_REQUEST: Final = "invalid_request"
INTERNAL_ERROR: Final = "internal_error"
METHOD_NOT_ALLOWED: Final = "method_not_allowed"

_MAX_VALIDATION_ERRORS: Final = 20


def title_of(code: str) -> str:
    """A short human title for a code: ``rate_limited`` -> ``Rate limited``."""
    return code.replace("_", " ").capitalize()


def problem_body(code: str, status: int, detail: str, **extra: Any) -> dict[str, Any]:
    """The problem document: ``type``, ``title``, ``status``, ``code``, ``detail``, extras."""
    return {
        "type": TYPE_PREFIX + code,
        "title": title_of(code),
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }


def problem_response(
    code: str,
    status: int,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A ``JSONResponse`` with the problem document and its media type."""
    return JSONResponse(
        problem_body(code, status, detail, **extra),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def error_response(exc: HashwallError) -> JSONResponse:
    """The problem response of a :class:`HashwallError`."""
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited | Overloaded | StoreUnavailable):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    extra: dict[str, Any] = {}
    if isinstance(exc, AllItemsRefused):
        extra["refusals"] = [
            {"index": r.index, "code": r.code, "message": r.message} for r in exc.refusals
        ]
    return problem_response(exc.code, exc.status, exc.message, headers=headers, **extra)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only where and what: pydantic's "input" echoes the caller's values (PINs among them).
    out = []
    for error in exc.errors()[:_MAX_VALIDATION_ERRORS]:
        out.append(
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "type": str(error.get("type", "")),
                "msg": str(error.get("msg", "")),
            }
        )
    return out


async def _hashwall_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HashwallError)
    return error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    where = ", ".join(".".join(e["loc"]) + ": " + e["msg"] for e in errors[:3])
    return problem_response(
        INVALID_REQUEST,
        422,
        f"the request does not match its schema ({where}); see /docs",
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    headers = dict(exc.headers) if exc.headers else None
    if status == 404:
        return problem_response("not_found", 404, "no such route; see /docs", headers=headers)
    if status == 405:
        return problem_response(
            METHOD_NOT_ALLOWED, 405, "this route does not take that method", headers=headers
        )
    code = INVALID_REQUEST if 400 <= status < 500 else INTERNAL_ERROR
    detail = exc.detail if isinstance(exc.detail, str) else title_of(code)
    return problem_response(code, status, detail, headers=headers)


def log_unexpected(exc: BaseException, where: str) -> None:
    """Log an unexpected exception: its type and traceback, never its message or the body."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("unexpected %s in %s\n%s", type(exc).__name__, where, frames)


def internal_error_response() -> JSONResponse:
    """The 500 answer for anything unexpected (caught by the app's guard middleware)."""
    return problem_response(
        INTERNAL_ERROR, 500, "the service failed on this request; it was logged, retry later"
    )


def store_outage(app: Any) -> StoreOutage:
    """The app's :class:`StoreOutage` (made on first use, watching the app's store)."""
    outage: StoreOutage | None = getattr(app.state, "store_outage", None)
    if outage is None:
        outage = app.state.store_outage = StoreOutage()
        outage.watch(app.state.hashwall.ctx.store.engine)
        app.state.hashwall.metrics.outage = outage
    return outage


async def _store_error(request: Request, exc: Exception) -> JSONResponse:
    if is_store_unavailable(exc):
        return error_response(store_outage(request.app).failed(exc))
    route = getattr(request.scope.get("route"), "path", "?")  # the template: no refs in logs
    log_unexpected(exc, f"{request.method} {route}")
    return internal_error_response()


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers above on ``app`` (unexpected exceptions: ``ProblemBoundary``)."""
    app.add_exception_handler(DBAPIError, _store_error)
    app.add_exception_handler(PoolTimeout, _store_error)
    app.add_exception_handler(HashwallError, _hashwall_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
