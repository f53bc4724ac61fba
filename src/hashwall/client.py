"""The SDK: :class:`Client` and :class:`AsyncClient`, hashwall's HTTP API from Python.

Modelled on httpx: two twins with the same method names (the async one awaits), typed
responses, and errors that say what happened::

    from hashwall import Client, hash_file

    with Client("http://127.0.0.1:8000", key=PLATFORM_KEY) as hw:
        answer = hw.check(hash_file("upload.jpg", fast=True, orientations=True))
        if answer.decision != "allow":
            ...                                     # hold the upload; answer.matches[0].match_ref

- **Requests**: an item or an upload is an :class:`~hashwall.ImageHashes` (its PDQ, md5 and
  sha256, and for checks its 8 orientations if computed), an :class:`Item`, or a list of
  signals (:class:`~hashwall.Signal` or ``{"type", "value", "quality"}`` mappings). Media bytes
  are sent only where asked (``media=``): as a multipart form, hashed by the service in memory.
- **Responses**: frozen pydantic models mirroring ``hashwall.api.models`` (a test keeps them in
  step); fields the service adds later are kept, not refused.
- **Errors**: an ``application/problem+json`` answer raises :class:`ApiError`, whose ``code``,
  ``status`` and ``detail`` are the server's; where hashwall has an error class for that code
  the exception is also an instance of it (``except hashwall.errors.InvalidCredentials``).
  A service that cannot be reached (refused, DNS, timeout) raises :class:`ConnectionFailed`.
- **Retries**: creating a case, adding items, withdrawing and vouching send an
  ``Idempotency-Key`` (a new UUID per call unless ``idempotency_key=`` is given), as do checks
  given one; such a request is retried with the same key after a timeout, a connection error or
  a 503 (``retries`` more times, waits doubling from ``backoff`` seconds, or the server's
  ``Retry-After``, at most :data:`MAX_BACKOFF`): the server answers a retry with the first
  answer, so a create that timed out but committed is never made twice.

The client does not import the server: it needs httpx and pydantic only.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, Self, TypeAlias, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter

from hashwall import errors

if TYPE_CHECKING:
    from hashwall.hashing.image import ImageHashes
    from hashwall.hashing.signals import Signal

__all__ = [
    "AllowlistEntry",
    "ApiError",
    "ApiKey",
    "ApiKeyCreated",
    "AsyncClient",
    "AuditRecord",
    "BatchCheckResult",
    "BatchError",
    "CaseCreated",
    "CaseErasure",
    "CaseItem",
    "CaseItemsAdded",
    "CaseRecord",
    "CaseStatus",
    "CaseVouched",
    "CaseWithdrawn",
    "CheckMatch",
    "CheckResult",
    "Client",
    "ConnectionFailed",
    "FeedEvent",
    "FeedItem",
    "FeedPage",
    "FlaggedItem",
    "Health",
    "Item",
    "ItemOutcome",
    "ItemStateChange",
    "ItemStatus",
    "Organisation",
    "Partner",
    "PendingMatch",
    "PinReissued",
    "Platform",
    "PlatformRetention",
    "Policy",
    "QuarantinedItem",
    "Readiness",
    "RetentionReport",
    "SignalValue",
    "VerdictRecorded",
]

DEFAULT_TIMEOUT: Final = 30.0
#: Retries of a request that carries an ``Idempotency-Key`` (after the first attempt).
DEFAULT_RETRIES: Final = 3
#: The first wait before a retry (seconds), doubled at each retry.
DEFAULT_BACKOFF: Final = 0.5
#: The longest wait before a retry (seconds), whatever ``Retry-After`` says.
MAX_BACKOFF: Final = 10.0
_PROBLEM_JSON: Final = "application/problem+json"
_USER_AGENT: Final = "hashwall-python/{version}"

Decision = Literal["allow", "review", "block"]
VerdictKind = Literal["confirmed", "not_ncii", "csam"]
Role = Literal["admin", "intake", "platform"]
ScopeName = Literal["check", "feed", "verdict"]


# --- errors ----------------------------------------------------------------------------------


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
    if response.headers.get("content-type", "").startswith((_PROBLEM_JSON, "application/json")):
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


def _connection_failed(exc: httpx.TransportError, base_url: str) -> ConnectionFailed:
    what = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return ConnectionFailed(
        f"the request to {base_url} {what} ({type(exc).__name__}: {exc or 'no detail'}); "
        "check the server URL and that the service is running"
    )


# --- responses ---------------------------------------------------------------------------------


class Response(BaseModel):
    """Base of the SDK's response models: frozen; fields a newer service adds are kept."""

    model_config = ConfigDict(frozen=True, extra="allow")


class SignalValue(Response):
    """A stored fingerprint, as the feed and the allowlist show it."""

    type: str
    value: str | None
    quality: int | None = None


class ItemOutcome(Response):
    """What became of item ``index`` of a request: banked as ``item_ref``, or refused."""

    index: int
    status: Literal["accepted", "refused"]
    item_ref: str | None = None
    code: str | None = None
    message: str | None = None


class CaseCreated(Response):
    """A new case: its number and PIN (shown this once: keep both) and each item's outcome."""

    case_number: str
    pin: str
    channel: Literal["anonymous", "partner"]
    items: list[ItemOutcome]


class ItemStatus(Response):
    """An item as its case holder sees it (never its hash values)."""

    item_ref: str
    kind: str
    trust: Literal["unvouched", "vouched", "confirmed"]
    state: Literal["active", "quarantined", "withdrawn", "deleted"]
    created_at: datetime
    blocked_uploads: int = 0


class CaseStatus(Response):
    """A case and its items (``status`` ``removed``: the service erased it on request)."""

    case_number: str
    channel: Literal["anonymous", "partner"]
    status: Literal["active", "withdrawn", "removed"]
    created_at: datetime
    withdrawn_at: datetime | None
    items: list[ItemStatus]
    removed_at: datetime | None = None


class CaseItemsAdded(Response):
    """Each added item's outcome."""

    case_number: str
    items: list[ItemOutcome]


class CaseWithdrawn(Response):
    """What a withdrawal changed; it is in force everywhere when this answer arrives."""

    case_number: str
    case_withdrawn: bool
    withdrawn_items: list[str]


class PinReissued(Response):
    """A new PIN (shown this once; the old one no longer works)."""

    case_number: str
    pin: str


class CaseVouched(Response):
    """Items whose trust became ``vouched`` (they may now ``block``)."""

    case_number: str
    vouched_items: list[str]


class CheckMatch(Response):
    """A banked item behind a non-allow answer: its match ref (for verdicts). The service never
    says which banked item it is: a platform learns nothing about the bank from its answers.

    ``distance`` and ``orientation`` are set only where the platform's policy reveals them.
    """

    match_ref: str
    decision: Literal["review", "block"]
    signal_type: str
    distance: int | None = None
    orientation: str | None = None


class PendingMatch(Response):
    """One of the platform's matches awaiting its verdict (``distance``/``orientation`` only
    where the platform's policy reveals them)."""

    match_ref: str
    check_id: str
    decision: Literal["review", "block"]
    created_at: datetime
    distance: int | None = None
    orientation: str | None = None


class CheckResult(Response):
    """The answer for one upload. ``reason``: ``match``, ``no_match`` or ``low_quality``."""

    check_id: str
    decision: Decision
    reason: Literal["match", "no_match", "low_quality"]
    matches: list[CheckMatch]


class BatchError(Response):
    """Why one upload of a batch could not be checked (the others still were)."""

    code: str
    status: int
    detail: str


class BatchCheckResult(Response):
    """Upload ``index``'s answer, or its error."""

    index: int
    result: CheckResult | None = None
    error: BatchError | None = None


class VerdictRecorded(Response):
    """Whether the verdict was recorded (false: the item has left the bank meanwhile)."""

    match_ref: str
    verdict: VerdictKind
    recorded: bool


class Policy(Response):
    """A platform's matching policy."""

    pdq_threshold: int
    reveal_distance: bool
    reveal_orientation: bool
    unvouched_answer: Literal["review", "allow"]
    video_upload_percent: int
    video_bank_percent: int
    retention_days: int


class FeedItem(Response):
    """A live item of the feed's snapshot, with everything needed to match it locally."""

    item: str
    kind: str
    trust: str
    state: str
    signals: list[SignalValue]


class FeedEvent(Response):
    """One event of the log; besides these fields, those of its type (``signals``, ...)."""

    seq: int
    type: str
    item: str | None
    created_at: datetime


class FeedPage(Response):
    """One page of the feed; pass ``cursor`` to the next call while ``more`` is true."""

    platform: str
    policy: Policy
    phase: Literal["snapshot", "events"]
    snapshot_seq: int | None
    items: list[FeedItem]
    events: list[FeedEvent]
    cursor: str
    more: bool
    head_seq: int

    def wire(self) -> dict[str, Any]:
        """The page as the service sent it (JSON types), e.g. for ``FeedMirror.apply``."""
        return self.model_dump(mode="json")


class Organisation(Response):
    """An organisation."""

    name: str
    created_at: datetime


class Platform(Response):
    """A platform, its organisation and its policy."""

    name: str
    organisation: str
    policy: Policy
    created_at: datetime


class Partner(Response):
    """An intake partner."""

    name: str
    created_at: datetime


class ApiKey(Response):
    """An API key without its secret."""

    id: str
    role: Role
    scopes: list[str]
    platform: str | None
    partner: str | None
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    revoked: bool


class ApiKeyCreated(ApiKey):
    """A new key; ``key`` (``<key_id>.<secret>``) is shown this once, never again."""

    key: str


class QuarantinedItem(Response):
    """An item waiting for the operator, with the verdicts that put it there."""

    item: str
    kind: str
    trust: str
    state: str
    csam: bool
    created_at: datetime
    state_changed_at: datetime | None
    not_ncii_verdicts: int
    not_ncii_organisations: int


class ItemStateChange(Response):
    """An operator's quarantine decision: the item's states before and after."""

    item: str
    previous_state: str
    state: str
    event_seq: int


class ItemConfirmed(Response):
    """The operator's confirmation: the item blocks on every platform (``changed`` False when it
    already did)."""

    item: str
    trust: str
    changed: bool


class AllowlistEntry(Response):
    """An allowlist entry; ``added`` is true when this call created it."""

    id: int
    type: str
    value: str
    quality: int | None
    note: str | None
    created_at: datetime
    added: bool


class AuditRecord(Response):
    """One audit row: who (``actor``: ``operator``, ``admin:KEY_ID``, ``partner:NAME``,
    ``platform:NAME`` or ``reporter``; ``actor_key_id``: the key used), what, on what, when."""

    id: int
    actor: str | None
    actor_key_id: str | None = None
    action: str
    target: str | None
    details: dict[str, Any]
    created_at: datetime


class CaseItem(Response):
    """One item of a case as the operator sees it (no hash values)."""

    item: str
    kind: str
    trust: str
    state: str
    csam: bool
    created_at: datetime
    state_changed_at: datetime | None
    matches: int
    verdicts: dict[str, int]


class CaseRecord(Response):
    """A case as the operator sees it (``status`` ``removed`` once erased)."""

    case_number: str
    channel: str
    partner: str | None
    status: str
    created_at: datetime
    withdrawn_at: datetime | None
    removed_at: datetime | None
    items: list[CaseItem]


class CaseErasure(Response):
    """What erasing a case did (``already_removed``: it had been erased before)."""

    case_number: str
    deleted_items: list[str]
    already_removed: bool
    removed_at: datetime | None


class FlaggedItem(Response):
    """An item a reviewer flagged ``csam``, for the operator's legal duties (no hash values)."""

    item: str
    case_number: str
    kind: str
    trust: str
    state: str
    created_at: datetime
    csam_verdicts: int
    platforms: list[str]
    first_flagged_at: datetime | None


class PlatformRetention(Response):
    """What one platform's retention deleted."""

    platform: str
    retention_days: int
    cutoff: datetime
    deleted: int


class RetentionReport(Response):
    """One retention run: match records deleted, per platform and in total."""

    ran_at: datetime
    deleted: int
    platforms: list[PlatformRetention]


class Health(Response):
    """``GET /healthz``: the process answers."""

    status: Literal["ok"]


class Readiness(Response):
    """``GET /readyz``: ready when the index is built and caught up with the event log."""

    ready: bool
    schema_ok: bool
    index_built: bool
    index_size: int
    last_seq: int
    lag_seconds: float | None
    detail: str


# --- requests ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item:
    """One photo or video to bank, by its signals (computed on the person's own device)."""

    signals: Sequence[Signal | Mapping[str, Any]]
    kind: Literal["image", "video"] = "image"


#: One signal: a :class:`~hashwall.Signal` or a ``{"type", "value", "quality"}`` mapping.
SignalLike: TypeAlias = "Signal | Mapping[str, Any]"
#: What can be banked: an image's hashes, an :class:`Item`, or one item's signals.
ItemLike: TypeAlias = "ImageHashes | Item | Sequence[Signal | Mapping[str, Any]]"
#: What can be checked: an upload's hashes, or its signals.
UploadLike: TypeAlias = "ImageHashes | Sequence[Signal | Mapping[str, Any]]"
#: Media to upload: the file's bytes.
Media: TypeAlias = bytes


def _signal(signal: SignalLike) -> dict[str, Any]:
    if isinstance(signal, Mapping):
        out = {"type": signal["type"], "value": signal["value"]}
        if signal.get("quality") is not None:
            out["quality"] = signal["quality"]
        return out
    wire: dict[str, Any] = {"type": signal.type, "value": signal.value}
    if signal.quality is not None:
        wire["quality"] = signal.quality
    return wire


def _is_image_hashes(value: object) -> bool:
    return all(hasattr(value, name) for name in ("pdq", "quality", "md5", "sha256", "mode"))


def _image_signals(hashes: ImageHashes) -> list[dict[str, Any]]:
    # The PDQ is sent even when its quality is low: the service answers ``low_quality`` for it.
    return [
        {"type": "pdq", "value": hashes.pdq.hex, "quality": hashes.quality},
        {"type": "md5", "value": hashes.md5},
        {"type": "sha256", "value": hashes.sha256},
    ]


def item_body(item: ItemLike) -> dict[str, Any]:
    """The wire form of one item to bank: ``{"kind", "signals", "pdq_orientations"?}`` (the
    orientations, when hashed with them, are only compared with the allowlist: a rotated copy
    of a public image is refused too; they are not stored)."""
    if isinstance(item, Item):
        return {"kind": item.kind, "signals": [_signal(s) for s in item.signals]}
    if _is_image_hashes(item):
        hashes: ImageHashes = item  # type: ignore[assignment]
        body: dict[str, Any] = {"kind": "image", "signals": _image_signals(hashes)}
        if hashes.orientations is not None:
            body["pdq_orientations"] = [h.hex for h in hashes.orientations]
        return body
    if isinstance(item, str | bytes) or not isinstance(item, Sequence):
        raise TypeError("an item is ImageHashes, hashwall.client.Item or a list of signals")
    return {"kind": "image", "signals": [_signal(s) for s in item]}


def upload_body(upload: UploadLike) -> dict[str, Any]:
    """The wire form of one upload to check: ``{"signals", "pdq_orientations"?}``."""
    if _is_image_hashes(upload):
        hashes: ImageHashes = upload  # type: ignore[assignment]
        body: dict[str, Any] = {"signals": _image_signals(hashes)}
        if hashes.orientations is not None:
            body["pdq_orientations"] = [h.hex for h in hashes.orientations]
        return body
    if isinstance(upload, str | bytes) or not isinstance(upload, Sequence):
        raise TypeError("an upload is ImageHashes or a list of signals")
    return {"signals": [_signal(s) for s in upload]}


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One API call: how to send it and how to read its answer (shared by both twins)."""

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


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key`` (a random UUID) for one logical request."""
    return str(uuid.uuid4())


def _idempotent(key: str | None) -> dict[str, Any]:
    """The ``Call`` fields of a request sent with ``key`` (none: not retried)."""
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


M = TypeVar("M", bound=BaseModel)


def _model(model: type[M]) -> Callable[[httpx.Response], M]:
    def parse(response: httpx.Response) -> M:
        return model.model_validate_json(response.content)

    return parse


def _models(model: type[M]) -> Callable[[httpx.Response], list[M]]:
    adapter = TypeAdapter(list[model])  # type: ignore[valid-type]

    def parse(response: httpx.Response) -> list[M]:
        result: list[M] = adapter.validate_json(response.content)
        return result

    return parse


def _batch(response: httpx.Response) -> list[BatchCheckResult]:
    body = json.loads(response.content)
    return [BatchCheckResult.model_validate(entry) for entry in body["results"]]


def _nothing(response: httpx.Response) -> None:
    return None


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _case_body(case_number: str, pin: str | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"case_number": case_number}
    if pin is not None:
        body["pin"] = pin
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def _media_file(media: Media, filename: str) -> dict[str, tuple[str, bytes, str]]:
    return {"file": (filename, bytes(media), "application/octet-stream")}


class _Calls:
    """Every route as a :class:`Call`: the single definition both twins send."""

    @staticmethod
    def create_case(
        items: Sequence[ItemLike] | None,
        media: Media | None,
        filename: str,
        idempotency_key: str | None = None,
    ) -> Call[CaseCreated]:
        if (items is None) == (media is None):
            raise TypeError("create_case takes items or media=, exactly one of them")
        key = _idempotent(idempotency_key)
        if media is not None:
            files = _media_file(media, filename)
            return Call("POST", "/v1/cases", _model(CaseCreated), files=files, **key)
        assert items is not None
        body = {"items": [item_body(i) for i in items]}
        return Call("POST", "/v1/cases", _model(CaseCreated), json=body, **key)

    @staticmethod
    def case_status(case_number: str, pin: str | None) -> Call[CaseStatus]:
        return Call("POST", "/v1/cases/status", _model(CaseStatus), _case_body(case_number, pin))

    @staticmethod
    def add_items(
        case_number: str,
        items: Sequence[ItemLike],
        pin: str | None,
        idempotency_key: str | None = None,
    ) -> Call[CaseItemsAdded]:
        body = _case_body(case_number, pin, items=[item_body(i) for i in items])
        key = _idempotent(idempotency_key)
        return Call("POST", "/v1/cases/items", _model(CaseItemsAdded), body, **key)

    @staticmethod
    def withdraw(
        case_number: str,
        pin: str | None,
        item_ref: str | None,
        idempotency_key: str | None = None,
    ) -> Call[CaseWithdrawn]:
        body = _case_body(case_number, pin, item_ref=item_ref)
        key = _idempotent(idempotency_key)
        return Call("POST", "/v1/cases/withdraw", _model(CaseWithdrawn), body, **key)

    @staticmethod
    def reissue_pin(case_number: str) -> Call[PinReissued]:
        body = {"case_number": case_number}
        return Call("POST", "/v1/cases/reissue-pin", _model(PinReissued), body)

    @staticmethod
    def vouch(case_number: str, pin: str, idempotency_key: str | None = None) -> Call[CaseVouched]:
        body = {"case_number": case_number, "pin": pin}
        key = _idempotent(idempotency_key)
        return Call("POST", "/v1/cases/vouch", _model(CaseVouched), body, **key)

    @staticmethod
    def check(
        upload: UploadLike | None,
        media: Media | None,
        filename: str,
        idempotency_key: str | None,
    ) -> Call[CheckResult]:
        if (upload is None) == (media is None):
            raise TypeError("check takes an upload's hashes or media=, exactly one of them")
        key = _idempotent(idempotency_key)
        if media is not None:
            files = _media_file(media, filename)
            return Call("POST", "/v1/check", _model(CheckResult), files=files, **key)
        assert upload is not None
        body = upload_body(upload)
        return Call("POST", "/v1/check", _model(CheckResult), body, **key)

    @staticmethod
    def check_batch(
        uploads: Sequence[UploadLike], idempotency_key: str | None
    ) -> Call[list[BatchCheckResult]]:
        body = {"uploads": [upload_body(u) for u in uploads]}
        return Call("POST", "/v1/check/batch", _batch, body, **_idempotent(idempotency_key))

    @staticmethod
    def verdict(
        match_ref: str,
        verdict: VerdictKind,
        upload: ImageHashes | None,
        upload_pdq: str | None,
        upload_sha256: str | None,
    ) -> Call[VerdictRecorded]:
        if upload is not None:
            upload_pdq = upload_pdq or upload.pdq.hex
            upload_sha256 = upload_sha256 or upload.sha256
        body = _params(verdict=verdict, upload_pdq=upload_pdq, upload_sha256=upload_sha256)
        path = f"/v1/matches/{_segment(match_ref)}/verdict"
        return Call("POST", path, _model(VerdictRecorded), body)

    @staticmethod
    def pending_matches(limit: int | None, after: str | None) -> Call[list[PendingMatch]]:
        params = _params(state="pending", limit=limit, after=after)
        return Call("GET", "/v1/matches", _models(PendingMatch), params=params)

    @staticmethod
    def feed(cursor: str | None, limit: int | None, platform: str | None) -> Call[FeedPage]:
        params = _params(cursor=cursor, limit=limit, platform=platform)
        return Call("GET", "/v1/feed", _model(FeedPage), params=params)

    # operator

    @staticmethod
    def add_organisation(name: str) -> Call[Organisation]:
        return Call("POST", "/v1/admin/organisations", _model(Organisation), {"name": name})

    @staticmethod
    def list_organisations() -> Call[list[Organisation]]:
        return Call("GET", "/v1/admin/organisations", _models(Organisation))

    @staticmethod
    def add_platform(
        organisation: str, name: str, policy: Mapping[str, Any] | None
    ) -> Call[Platform]:
        body = _params(organisation=organisation, name=name, policy=dict(policy or {}) or None)
        return Call("POST", "/v1/admin/platforms", _model(Platform), body)

    @staticmethod
    def list_platforms(organisation: str | None) -> Call[list[Platform]]:
        params = _params(organisation=organisation)
        return Call("GET", "/v1/admin/platforms", _models(Platform), params=params)

    @staticmethod
    def set_policy(platform: str, changes: Mapping[str, Any]) -> Call[Platform]:
        body = {"platform": platform, "changes": dict(changes)}
        return Call("POST", "/v1/admin/platforms/policy", _model(Platform), body)

    @staticmethod
    def add_partner(name: str) -> Call[Partner]:
        return Call("POST", "/v1/admin/partners", _model(Partner), {"name": name})

    @staticmethod
    def list_partners() -> Call[list[Partner]]:
        return Call("GET", "/v1/admin/partners", _models(Partner))

    @staticmethod
    def create_key(
        role: Role,
        platform: str | None,
        partner: str | None,
        scopes: Sequence[ScopeName] | None,
        label: str | None,
    ) -> Call[ApiKeyCreated]:
        body = _params(
            role=role,
            platform=platform,
            partner=partner,
            scopes=list(scopes) if scopes is not None else None,
            label=label,
        )
        return Call("POST", "/v1/admin/keys", _model(ApiKeyCreated), body)

    @staticmethod
    def list_keys(include_revoked: bool) -> Call[list[ApiKey]]:
        params = {"include_revoked": str(include_revoked).lower()}
        return Call("GET", "/v1/admin/keys", _models(ApiKey), params=params)

    @staticmethod
    def revoke_key(key_id: str) -> Call[ApiKey]:
        return Call("POST", f"/v1/admin/keys/{_segment(key_id)}/revoke", _model(ApiKey))

    @staticmethod
    def list_quarantine(limit: int | None, after: str | None) -> Call[list[QuarantinedItem]]:
        params = _params(limit=limit, after=after)
        return Call("GET", "/v1/admin/quarantine", _models(QuarantinedItem), params=params)

    @staticmethod
    def quarantine_decision(item_ref: str, action: str) -> Call[ItemStateChange]:
        path = f"/v1/admin/quarantine/{_segment(item_ref)}/{action}"
        return Call("POST", path, _model(ItemStateChange))

    @staticmethod
    def add_to_allowlist(
        signals: Sequence[SignalLike], note: str | None
    ) -> Call[list[AllowlistEntry]]:
        body = _params(signals=[_signal(s) for s in signals], note=note)
        return Call("POST", "/v1/admin/allowlist", _models(AllowlistEntry), body)

    @staticmethod
    def list_allowlist(
        signal_type: str | None, limit: int | None, after_id: int | None
    ) -> Call[list[AllowlistEntry]]:
        params = _params(type=signal_type, limit=limit, after_id=after_id)
        return Call("GET", "/v1/admin/allowlist", _models(AllowlistEntry), params=params)

    @staticmethod
    def remove_from_allowlist(entry_id: int) -> Call[None]:
        return Call("DELETE", f"/v1/admin/allowlist/{int(entry_id)}", _nothing)

    @staticmethod
    def show_case(case_number: str) -> Call[CaseRecord]:
        body = {"case_number": case_number}
        return Call("POST", "/v1/admin/cases/show", _model(CaseRecord), body)

    @staticmethod
    def erase_case(case_number: str, reason: str) -> Call[CaseErasure]:
        body = {"case_number": case_number, "reason": reason}
        return Call("POST", "/v1/admin/cases/erase", _model(CaseErasure), body)

    @staticmethod
    def delete_active_item(item_ref: str, reason: str) -> Call[ItemStateChange]:
        path = f"/v1/admin/items/{_segment(item_ref)}/delete"
        return Call("POST", path, _model(ItemStateChange), {"reason": reason})

    @staticmethod
    def confirm_item(item_ref: str) -> Call[ItemConfirmed]:
        path = f"/v1/admin/items/{_segment(item_ref)}/confirm"
        return Call("POST", path, _model(ItemConfirmed))

    @staticmethod
    def list_csam(limit: int | None, after: str | None) -> Call[list[FlaggedItem]]:
        params = _params(limit=limit, after=after)
        return Call("GET", "/v1/admin/csam", _models(FlaggedItem), params=params)

    @staticmethod
    def list_audit(
        limit: int | None, before_id: int | None, key_id: str | None, action: str | None
    ) -> Call[list[AuditRecord]]:
        params = _params(limit=limit, before_id=before_id, key_id=key_id, action=action)
        return Call("GET", "/v1/admin/audit", _models(AuditRecord), params=params)

    @staticmethod
    def run_retention() -> Call[RetentionReport]:
        return Call("POST", "/v1/admin/retention/run", _model(RetentionReport))

    # health

    @staticmethod
    def health() -> Call[Health]:
        return Call("GET", "/healthz", _model(Health))

    @staticmethod
    def ready() -> Call[Readiness]:
        return Call("GET", "/readyz", _model(Readiness), ok_statuses=(503,))


def _segment(value: str) -> str:
    """``value`` as one URL path segment (a ref never contains '/', but be safe)."""
    from urllib.parse import quote

    return quote(value, safe="")


def _headers(key: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    import hashwall

    headers = {"User-Agent": _USER_AGENT.format(version=hashwall.__version__)}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    headers.update(extra or {})
    return headers


def _request_kwargs(call: Call[Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"headers": call.headers}
    if call.json is not None:
        kwargs["json"] = call.json
    if call.params:
        kwargs["params"] = call.params
    if call.files is not None:
        kwargs["files"] = call.files
    return kwargs


def _result(call: Call[T], response: httpx.Response) -> T:
    if response.is_success or response.status_code in call.ok_statuses:
        return call.parse(response)
    raise error_from_response(response)


# --- the twins ---------------------------------------------------------------------------------


class Client:
    """hashwall's API over HTTP, synchronously (one pooled ``httpx.Client``; thread-safe).

    ``key``: an API key (``<key_id>.<secret>``); none for the anonymous reporter channel.
    ``timeout``: seconds per request. ``retries``/``backoff``: how a request that carries an
    ``Idempotency-Key`` is sent again after a timeout, a connection error or a 503 (see the
    module docstring). ``transport``/``http``: for tests and proxies (an ``httpx.Client`` passed
    as ``http`` is used as is and not closed here).
    """

    def __init__(
        self,
        base_url: str,
        *,
        key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self._owns_http = http is None
        self._http = http or httpx.Client(
            base_url=self.base_url,
            headers=_headers(key, headers),
            timeout=timeout,
            transport=transport,
        )
        if http is not None and key:
            self._http.headers["Authorization"] = f"Bearer {key}"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (if this client opened it)."""
        if self._owns_http:
            self._http.close()

    def send(self, call: Call[T]) -> T:
        """Send one :class:`Call` and read its answer (every method goes through here); a call
        with an ``Idempotency-Key`` is sent again after a timeout or a 503 (bounded)."""
        attempt = 0
        while True:
            try:
                try:
                    response = self._http.request(call.method, call.path, **_request_kwargs(call))
                except httpx.TransportError as exc:
                    raise _connection_failed(exc, self.base_url) from None
                return _result(call, response)
            except (ApiError, ConnectionFailed) as exc:
                wait = retry_wait(call, attempt, self.retries, self.backoff, exc)
                if wait is None:
                    raise
            attempt += 1
            time.sleep(wait)

    # reporter and intake

    def create_case(
        self,
        items: Sequence[ItemLike] | None = None,
        *,
        media: Media | None = None,
        filename: str = "upload",
        idempotency_key: str | None = None,
    ) -> CaseCreated:
        """Open a case with 1 to 100 items (no key: anonymous; intake key: partner channel).

        ``media=`` (intake keys only): one image's bytes, hashed by the service and discarded.
        ``idempotency_key``: this call's key (a new UUID by default); retries send it, so a
        create that timed out but committed is answered, not made twice.
        """
        key = idempotency_key or new_idempotency_key()
        return self.send(_Calls.create_case(items, media, filename, key))

    def case_status(self, case_number: str, pin: str | None = None) -> CaseStatus:
        """The case and its items (the PIN, or the intake key of the partner that filed it)."""
        return self.send(_Calls.case_status(case_number, pin))

    def add_items(
        self,
        case_number: str,
        items: Sequence[ItemLike],
        pin: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> CaseItemsAdded:
        """Add items to an active case (retried with one ``idempotency_key``, a UUID by default)."""
        key = idempotency_key or new_idempotency_key()
        return self.send(_Calls.add_items(case_number, items, pin, key))

    def withdraw(
        self,
        case_number: str,
        pin: str | None = None,
        *,
        item_ref: str | None = None,
        idempotency_key: str | None = None,
    ) -> CaseWithdrawn:
        """Withdraw the case, or one item of it: final everywhere when this returns (retried
        with one ``idempotency_key``, a UUID by default)."""
        key = idempotency_key or new_idempotency_key()
        return self.send(_Calls.withdraw(case_number, pin, item_ref, key))

    def reissue_pin(self, case_number: str) -> PinReissued:
        """A new PIN for a case this partner filed (intake key; the old PIN stops working)."""
        return self.send(_Calls.reissue_pin(case_number))

    def vouch(
        self, case_number: str, pin: str, *, idempotency_key: str | None = None
    ) -> CaseVouched:
        """Vouch for an anonymous case the person showed (intake key): its items may block."""
        key = idempotency_key or new_idempotency_key()
        return self.send(_Calls.vouch(case_number, pin, key))

    # platforms

    def check(
        self,
        upload: UploadLike | None = None,
        *,
        media: Media | None = None,
        filename: str = "upload",
        idempotency_key: str | None = None,
    ) -> CheckResult:
        """Check one upload by its hashes (or its bytes, ``media=``): allow, review or block.

        ``idempotency_key``: a retry with the same key gets the first answer and writes no
        second match record.
        """
        return self.send(_Calls.check(upload, media, filename, idempotency_key))

    def check_batch(
        self, uploads: Sequence[UploadLike], *, idempotency_key: str | None = None
    ) -> list[BatchCheckResult]:
        """Check up to 100 uploads at once; each gets its own answer or error, in order."""
        return self.send(_Calls.check_batch(uploads, idempotency_key))

    def verdict(
        self,
        match_ref: str,
        verdict: VerdictKind,
        *,
        upload: ImageHashes | None = None,
        upload_pdq: str | None = None,
        upload_sha256: str | None = None,
    ) -> VerdictRecorded:
        """A reviewer's verdict on a match (``not_ncii`` needs the upload's PDQ or sha256)."""
        return self.send(_Calls.verdict(match_ref, verdict, upload, upload_pdq, upload_sha256))

    def pending_matches(
        self, *, limit: int | None = None, after: str | None = None
    ) -> list[PendingMatch]:
        """This platform's matches awaiting its verdict, oldest first (``verdict`` scope).

        Paged: pass the last ``match_ref`` of a page as ``after`` for the next one.
        """
        return self.send(_Calls.pending_matches(limit, after))

    def feed(
        self, cursor: str | None = None, *, limit: int | None = None, platform: str | None = None
    ) -> FeedPage:
        """One page of the bank (snapshot, then events); pass ``page.cursor`` back for more."""
        return self.send(_Calls.feed(cursor, limit, platform))

    def iter_feed(
        self, cursor: str | None = None, *, limit: int | None = None, platform: str | None = None
    ) -> Iterator[FeedPage]:
        """Every page from ``cursor`` until the feed has nothing more right now."""
        while True:
            page = self.feed(cursor, limit=limit, platform=platform)
            yield page
            cursor = page.cursor
            if not page.more:
                return

    # operator (admin key)

    def add_organisation(self, name: str) -> Organisation:
        """Create an organisation."""
        return self.send(_Calls.add_organisation(name))

    def list_organisations(self) -> list[Organisation]:
        """All organisations, by name."""
        return self.send(_Calls.list_organisations())

    def add_platform(
        self, organisation: str, name: str, *, policy: Mapping[str, Any] | None = None
    ) -> Platform:
        """Create a platform of an organisation (``policy``: changes from the defaults)."""
        return self.send(_Calls.add_platform(organisation, name, policy))

    def list_platforms(self, organisation: str | None = None) -> list[Platform]:
        """All platforms (of one organisation if named), with their policies."""
        return self.send(_Calls.list_platforms(organisation))

    def set_policy(self, platform: str, **changes: Any) -> Platform:
        """Change some fields of a platform's policy (``pdq_threshold=20``, ...)."""
        return self.send(_Calls.set_policy(platform, changes))

    def add_partner(self, name: str) -> Partner:
        """Create an intake partner."""
        return self.send(_Calls.add_partner(name))

    def list_partners(self) -> list[Partner]:
        """All intake partners, by name."""
        return self.send(_Calls.list_partners())

    def create_key(
        self,
        role: Role,
        *,
        platform: str | None = None,
        partner: str | None = None,
        scopes: Sequence[ScopeName] | None = None,
        label: str | None = None,
    ) -> ApiKeyCreated:
        """Create an API key; its ``key`` is shown this once."""
        return self.send(_Calls.create_key(role, platform, partner, scopes, label))

    def list_keys(self, *, include_revoked: bool = True) -> list[ApiKey]:
        """All keys, oldest first, without secrets."""
        return self.send(_Calls.list_keys(include_revoked))

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key: it stops working with the next request."""
        return self.send(_Calls.revoke_key(key_id))

    def list_quarantine(
        self, *, limit: int | None = None, after: str | None = None
    ) -> list[QuarantinedItem]:
        """Quarantined items, oldest first."""
        return self.send(_Calls.list_quarantine(limit, after))

    def reinstate_item(self, item_ref: str) -> ItemStateChange:
        """Return a quarantined item to ``active``."""
        return self.send(_Calls.quarantine_decision(item_ref, "reinstate"))

    def delete_item(self, item_ref: str) -> ItemStateChange:
        """Delete a quarantined item (``invalid_state`` otherwise): its hash values are erased."""
        return self.send(_Calls.quarantine_decision(item_ref, "delete"))

    def delete_active_item(self, item_ref: str, *, reason: str) -> ItemStateChange:
        """Delete an item in the bank (active or quarantined), with a reason for the audit."""
        return self.send(_Calls.delete_active_item(item_ref, reason))

    def confirm_item(self, item_ref: str) -> ItemConfirmed:
        """Confirm an item for everyone: it blocks on every platform (docs/trust.md)."""
        return self.send(_Calls.confirm_item(item_ref))

    def show_case(self, case_number: str) -> CaseRecord:
        """A case by its number: items, states, trust, match and verdict counts (no hashes)."""
        return self.send(_Calls.show_case(case_number))

    def erase_case(self, case_number: str, *, reason: str) -> CaseErasure:
        """Erase a case at the person's request: items deleted, its status ``removed``."""
        return self.send(_Calls.erase_case(case_number, reason))

    def list_csam(self, *, limit: int | None = None, after: str | None = None) -> list[FlaggedItem]:
        """Items reviewers flagged ``csam``, oldest first."""
        return self.send(_Calls.list_csam(limit, after))

    def add_to_allowlist(
        self, signals: Sequence[SignalLike], *, note: str | None = None
    ) -> list[AllowlistEntry]:
        """Allowlist the signals of an image known not to be NCII (idempotent)."""
        return self.send(_Calls.add_to_allowlist(signals, note))

    def list_allowlist(
        self,
        *,
        signal_type: str | None = None,
        limit: int | None = None,
        after_id: int | None = None,
    ) -> list[AllowlistEntry]:
        """Allowlist entries by id, paged by ``after_id``."""
        return self.send(_Calls.list_allowlist(signal_type, limit, after_id))

    def remove_from_allowlist(self, entry_id: int) -> None:
        """Remove an allowlist entry."""
        self.send(_Calls.remove_from_allowlist(entry_id))

    def list_audit(
        self,
        *,
        limit: int | None = None,
        before_id: int | None = None,
        key_id: str | None = None,
        action: str | None = None,
    ) -> list[AuditRecord]:
        """Audit entries, newest first, paged by ``before_id``."""
        return self.send(_Calls.list_audit(limit, before_id, key_id, action))

    def run_retention(self) -> RetentionReport:
        """Delete every platform's match records older than its retention, now."""
        return self.send(_Calls.run_retention())

    # health

    def health(self) -> Health:
        """``/healthz``: the process answers."""
        return self.send(_Calls.health())

    def ready(self) -> Readiness:
        """``/readyz``: whether the service is ready (a 503 is returned, not raised)."""
        return self.send(_Calls.ready())


class AsyncClient:
    """The twin of :class:`Client` for asyncio: the same methods, awaited."""

    def __init__(
        self,
        base_url: str,
        *,
        key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http: httpx.AsyncClient | None = None,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            base_url=self.base_url,
            headers=_headers(key, headers),
            timeout=timeout,
            transport=transport,
        )
        if http is not None and key:
            self._http.headers["Authorization"] = f"Bearer {key}"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (if this client opened it)."""
        if self._owns_http:
            await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        """Send one :class:`Call` and read its answer (every method goes through here); a call
        with an ``Idempotency-Key`` is sent again after a timeout or a 503 (bounded)."""
        attempt = 0
        while True:
            try:
                try:
                    response = await self._http.request(
                        call.method, call.path, **_request_kwargs(call)
                    )
                except httpx.TransportError as exc:
                    raise _connection_failed(exc, self.base_url) from None
                return _result(call, response)
            except (ApiError, ConnectionFailed) as exc:
                wait = retry_wait(call, attempt, self.retries, self.backoff, exc)
                if wait is None:
                    raise
            attempt += 1
            await asyncio.sleep(wait)

    # reporter and intake

    async def create_case(
        self,
        items: Sequence[ItemLike] | None = None,
        *,
        media: Media | None = None,
        filename: str = "upload",
        idempotency_key: str | None = None,
    ) -> CaseCreated:
        """See :meth:`Client.create_case`."""
        key = idempotency_key or new_idempotency_key()
        return await self.send(_Calls.create_case(items, media, filename, key))

    async def case_status(self, case_number: str, pin: str | None = None) -> CaseStatus:
        """See :meth:`Client.case_status`."""
        return await self.send(_Calls.case_status(case_number, pin))

    async def add_items(
        self,
        case_number: str,
        items: Sequence[ItemLike],
        pin: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> CaseItemsAdded:
        """See :meth:`Client.add_items`."""
        key = idempotency_key or new_idempotency_key()
        return await self.send(_Calls.add_items(case_number, items, pin, key))

    async def withdraw(
        self,
        case_number: str,
        pin: str | None = None,
        *,
        item_ref: str | None = None,
        idempotency_key: str | None = None,
    ) -> CaseWithdrawn:
        """See :meth:`Client.withdraw`."""
        key = idempotency_key or new_idempotency_key()
        return await self.send(_Calls.withdraw(case_number, pin, item_ref, key))

    async def reissue_pin(self, case_number: str) -> PinReissued:
        """See :meth:`Client.reissue_pin`."""
        return await self.send(_Calls.reissue_pin(case_number))

    async def vouch(
        self, case_number: str, pin: str, *, idempotency_key: str | None = None
    ) -> CaseVouched:
        """See :meth:`Client.vouch`."""
        key = idempotency_key or new_idempotency_key()
        return await self.send(_Calls.vouch(case_number, pin, key))

    # platforms

    async def check(
        self,
        upload: UploadLike | None = None,
        *,
        media: Media | None = None,
        filename: str = "upload",
        idempotency_key: str | None = None,
    ) -> CheckResult:
        """See :meth:`Client.check`."""
        return await self.send(_Calls.check(upload, media, filename, idempotency_key))

    async def check_batch(
        self, uploads: Sequence[UploadLike], *, idempotency_key: str | None = None
    ) -> list[BatchCheckResult]:
        """See :meth:`Client.check_batch`."""
        return await self.send(_Calls.check_batch(uploads, idempotency_key))

    async def verdict(
        self,
        match_ref: str,
        verdict: VerdictKind,
        *,
        upload: ImageHashes | None = None,
        upload_pdq: str | None = None,
        upload_sha256: str | None = None,
    ) -> VerdictRecorded:
        """See :meth:`Client.verdict`."""
        call = _Calls.verdict(match_ref, verdict, upload, upload_pdq, upload_sha256)
        return await self.send(call)

    async def pending_matches(
        self, *, limit: int | None = None, after: str | None = None
    ) -> list[PendingMatch]:
        """See :meth:`Client.pending_matches`."""
        return await self.send(_Calls.pending_matches(limit, after))

    async def feed(
        self, cursor: str | None = None, *, limit: int | None = None, platform: str | None = None
    ) -> FeedPage:
        """See :meth:`Client.feed`."""
        return await self.send(_Calls.feed(cursor, limit, platform))

    async def iter_feed(
        self, cursor: str | None = None, *, limit: int | None = None, platform: str | None = None
    ) -> AsyncIterator[FeedPage]:
        """See :meth:`Client.iter_feed`."""
        while True:
            page = await self.feed(cursor, limit=limit, platform=platform)
            yield page
            cursor = page.cursor
            if not page.more:
                return

    # operator (admin key)

    async def add_organisation(self, name: str) -> Organisation:
        """See :meth:`Client.add_organisation`."""
        return await self.send(_Calls.add_organisation(name))

    async def list_organisations(self) -> list[Organisation]:
        """See :meth:`Client.list_organisations`."""
        return await self.send(_Calls.list_organisations())

    async def add_platform(
        self, organisation: str, name: str, *, policy: Mapping[str, Any] | None = None
    ) -> Platform:
        """See :meth:`Client.add_platform`."""
        return await self.send(_Calls.add_platform(organisation, name, policy))

    async def list_platforms(self, organisation: str | None = None) -> list[Platform]:
        """See :meth:`Client.list_platforms`."""
        return await self.send(_Calls.list_platforms(organisation))

    async def set_policy(self, platform: str, **changes: Any) -> Platform:
        """See :meth:`Client.set_policy`."""
        return await self.send(_Calls.set_policy(platform, changes))

    async def add_partner(self, name: str) -> Partner:
        """See :meth:`Client.add_partner`."""
        return await self.send(_Calls.add_partner(name))

    async def list_partners(self) -> list[Partner]:
        """See :meth:`Client.list_partners`."""
        return await self.send(_Calls.list_partners())

    async def create_key(
        self,
        role: Role,
        *,
        platform: str | None = None,
        partner: str | None = None,
        scopes: Sequence[ScopeName] | None = None,
        label: str | None = None,
    ) -> ApiKeyCreated:
        """See :meth:`Client.create_key`."""
        return await self.send(_Calls.create_key(role, platform, partner, scopes, label))

    async def list_keys(self, *, include_revoked: bool = True) -> list[ApiKey]:
        """See :meth:`Client.list_keys`."""
        return await self.send(_Calls.list_keys(include_revoked))

    async def revoke_key(self, key_id: str) -> ApiKey:
        """See :meth:`Client.revoke_key`."""
        return await self.send(_Calls.revoke_key(key_id))

    async def list_quarantine(
        self, *, limit: int | None = None, after: str | None = None
    ) -> list[QuarantinedItem]:
        """See :meth:`Client.list_quarantine`."""
        return await self.send(_Calls.list_quarantine(limit, after))

    async def reinstate_item(self, item_ref: str) -> ItemStateChange:
        """See :meth:`Client.reinstate_item`."""
        return await self.send(_Calls.quarantine_decision(item_ref, "reinstate"))

    async def delete_item(self, item_ref: str) -> ItemStateChange:
        """See :meth:`Client.delete_item`."""
        return await self.send(_Calls.quarantine_decision(item_ref, "delete"))

    async def delete_active_item(self, item_ref: str, *, reason: str) -> ItemStateChange:
        """See :meth:`Client.delete_active_item`."""
        return await self.send(_Calls.delete_active_item(item_ref, reason))

    async def confirm_item(self, item_ref: str) -> ItemConfirmed:
        """See :meth:`Client.confirm_item`."""
        return await self.send(_Calls.confirm_item(item_ref))

    async def show_case(self, case_number: str) -> CaseRecord:
        """See :meth:`Client.show_case`."""
        return await self.send(_Calls.show_case(case_number))

    async def erase_case(self, case_number: str, *, reason: str) -> CaseErasure:
        """See :meth:`Client.erase_case`."""
        return await self.send(_Calls.erase_case(case_number, reason))

    async def list_csam(
        self, *, limit: int | None = None, after: str | None = None
    ) -> list[FlaggedItem]:
        """See :meth:`Client.list_csam`."""
        return await self.send(_Calls.list_csam(limit, after))

    async def add_to_allowlist(
        self, signals: Sequence[SignalLike], *, note: str | None = None
    ) -> list[AllowlistEntry]:
        """See :meth:`Client.add_to_allowlist`."""
        return await self.send(_Calls.add_to_allowlist(signals, note))

    async def list_allowlist(
        self,
        *,
        signal_type: str | None = None,
        limit: int | None = None,
        after_id: int | None = None,
    ) -> list[AllowlistEntry]:
        """See :meth:`Client.list_allowlist`."""
        return await self.send(_Calls.list_allowlist(signal_type, limit, after_id))

    async def remove_from_allowlist(self, entry_id: int) -> None:
        """See :meth:`Client.remove_from_allowlist`."""
        await self.send(_Calls.remove_from_allowlist(entry_id))

    async def list_audit(
        self,
        *,
        limit: int | None = None,
        before_id: int | None = None,
        key_id: str | None = None,
        action: str | None = None,
    ) -> list[AuditRecord]:
        """See :meth:`Client.list_audit`."""
        return await self.send(_Calls.list_audit(limit, before_id, key_id, action))

    async def run_retention(self) -> RetentionReport:
        """See :meth:`Client.run_retention`."""
        return await self.send(_Calls.run_retention())

    # health

    async def health(self) -> Health:
        """See :meth:`Client.health`."""
        return await self.send(_Calls.health())

    async def ready(self) -> Readiness:
        """See :meth:`Client.ready`."""
        return await self.send(_Calls.ready())
