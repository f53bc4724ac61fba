"""One API call as data (:class:`Call`): what both clients send, and how they read the answer.

The clients only send calls (:mod:`hashwall.client.routes` builds them): everything else about
a request (method, path, body, headers, retries, how an answer becomes a wire model or an
error) is decided here, once, for both.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from hashwall._version import __version__
from hashwall.client.problems import ApiError, ConnectionFailed, error_from_response

DEFAULT_TIMEOUT: Final = 30.0
#: Retries of a request that carries an ``Idempotency-Key`` (after the first attempt).
DEFAULT_RETRIES: Final = 3
#: The first wait before a retry (seconds), doubled at each retry.
DEFAULT_BACKOFF: Final = 0.5
#: The longest wait before a retry (seconds), whatever ``Retry-After`` says.
MAX_BACKOFF: Final = 10.0
USER_AGENT: Final = f"hashwall-python/{__version__}"

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One API call: how to send it and how to read its answer (shared by both clients)."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    params: dict[str, Any] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    ok_statuses: tuple[int, ...] = ()
    #: Safe to send again (it carries an ``Idempotency-Key``): retried on timeouts and 503s.
    retry: bool = False

    def request_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``httpx.Client.request`` for this call."""
        kwargs: dict[str, Any] = {"headers": self.headers}
        if self.json is not None:
            kwargs["json"] = self.json
        if self.params:
            kwargs["params"] = self.params
        if self.files is not None:
            kwargs["files"] = self.files
        return kwargs

    def result(self, response: httpx.Response) -> T:
        """The answer as this call's type, or the :class:`ApiError` it is."""
        if response.is_success or response.status_code in self.ok_statuses:
            return self.parse(response)
        raise error_from_response(response)


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key`` (a random UUID) for one logical request."""
    return str(uuid.uuid4())


def idempotent(key: str | None) -> dict[str, Any]:
    """The :class:`Call` fields of a request sent with ``key`` (none: not retried)."""
    if not key:
        return {"headers": {}, "retry": False}
    return {"headers": {"Idempotency-Key": key}, "retry": True}


def retry_wait(
    call: Call[Any], attempt: int, retries: int, backoff: float, error: Exception
) -> float | None:
    """Seconds to wait before sending ``call`` again after ``error`` (``attempt`` retries made
    so far), or None: not retried (no key, retries spent, or an answer a retry cannot change)."""
    if not call.retry or attempt >= retries:
        return None
    wait = backoff * (1 << attempt)
    if isinstance(error, ApiError):
        if error.status != 503:
            return None
        wait = max(wait, error.retry_after or 0.0)
    elif not isinstance(error, ConnectionFailed):
        return None
    return min(wait, MAX_BACKOFF)


def default_headers(key: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    """The headers of every request of a client: its user agent, its key, and ``extra``."""
    headers = {"User-Agent": USER_AGENT}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    headers.update(extra or {})
    return headers


# A newer server may add fields: they are kept (``extra="allow"``), not refused, although the
# wire models forbid undeclared fields where the server builds them.


def one(model: type[M]) -> Callable[[httpx.Response], M]:
    """Read an answer as one ``model``."""

    def parse(response: httpx.Response) -> M:
        return model.model_validate_json(response.content, extra="allow")

    return parse


def many(model: type[M]) -> Callable[[httpx.Response], list[M]]:
    """Read an answer as a list of ``model``."""
    adapter = TypeAdapter(list[model])  # type: ignore[valid-type]

    def parse(response: httpx.Response) -> list[M]:
        result: list[M] = adapter.validate_json(response.content, extra="allow")
        return result

    return parse


def nothing(response: httpx.Response) -> None:
    """An answer without a body (``204``)."""
    return None
