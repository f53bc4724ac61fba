"""The SDK's errors: a problem answer (``application/problem+json``) becomes an :class:`ApiError`
that is also hashwall's own error class for that ``code``; no answer at all becomes
:class:`ConnectionFailed`."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import httpx

from hashwall import errors
from hashwall.wire import PROBLEM_JSON


class ApiError(errors.HashwallError):
    """The service answered with a problem (``application/problem+json``), or not with JSON.

    ``code`` and ``status`` are the server's (``invalid_credentials``, 401, ...), ``detail``
    its message; ``problem`` the whole document (``errors`` of a 422, ``refusals`` of
    ``no_items_accepted``). ``retry_after`` (seconds) is set for 429 and 503 answers.
    """

    code = "api_error"
    status = 500

    def __init__(
        self,
        detail: str,
        *,
        problem: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        errors.HashwallError.__init__(self, detail)
        self.detail = detail
        self.problem: dict[str, Any] = dict(problem or {})
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.code} ({self.status}): {self.detail}"


class ConnectionFailed(errors.HashwallError):
    """The service could not be reached or did not answer in time (nothing was received)."""

    code = "connection_failed"
    status = 503


def _known_errors() -> dict[str, type[errors.HashwallError]]:
    found: dict[str, type[errors.HashwallError]] = {}
    stack: list[type[errors.HashwallError]] = [errors.HashwallError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__ == errors.__name__:
            found.setdefault(cls.code, cls)
    return found


@cache
def api_error_class(code: str, status: int) -> type[ApiError]:
    """The :class:`ApiError` subclass for a problem ``code`` (also the local error class of it)."""
    local = _known_errors().get(code)
    bases: tuple[type, ...] = (ApiError,) if local is None else (ApiError, local)
    name = (local.__name__ if local is not None else "ApiError") + "FromApi"
    cls: type[ApiError] = type(name, bases, {"code": code, "status": status})
    return cls


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def error_from_response(response: httpx.Response) -> ApiError:
    """The exception for a non-2xx answer (a problem document, or anything else)."""
    problem: dict[str, Any] = {}
    if response.headers.get("content-type", "").startswith((PROBLEM_JSON, "application/json")):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            problem = body
    code = problem.get("code")
    detail = problem.get("detail")
    if not isinstance(code, str) or not code:
        code = "http_error"
    if not isinstance(detail, str) or not detail:
        reason = response.reason_phrase or "error"
        detail = f"HTTP {response.status_code} {reason} from {response.request.url.path}"
    cls = api_error_class(code, response.status_code)
    return cls(detail, problem=problem, retry_after=_retry_after(response))


def connection_failed(exc: httpx.TransportError, base_url: str) -> ConnectionFailed:
    """The error for a request that got no answer (refused, DNS, timeout)."""
    what = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return ConnectionFailed(
        f"the request to {base_url} {what} ({type(exc).__name__}: {exc or 'no detail'}); "
        "check the server URL and that the service is running"
    )
