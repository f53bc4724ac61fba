"""The SDK: :class:`Client` and :class:`AsyncClient`, hashwall's HTTP API from Python.

Modelled on httpx: two twins with the same method names (the async one awaits), typed
responses, and errors that say what happened::

    from hashwall import Client, hash_file

    with Client("http://127.0.0.1:8000", key=PLATFORM_KEY) as hw:
        answer = hw.check(hash_file("upload.jpg", fast=True, orientations=True, regions=True,
                                     keypoints="upload"))
        if answer.decision != "allow":
            ...                                     # hold the upload; answer.matches[0].match_ref

- **Requests**: an item or an upload is an :class:`~hashwall.ImageHashes` (its PDQ, md5 and
  sha256, and for checks its 8 orientations and its regions, the photo inside a border, bars
  or an app frame, if computed; its keypoint codes when hashed with ``keypoints="bank"`` for a
  case or ``keypoints="upload"`` for a check: they find crops, turns and screenshots that PDQ
  misses), an :class:`Item`, or a list of
  signals (:class:`~hashwall.Signal` or ``{"type", "value", "quality"}`` mappings). Media bytes
  are sent only where asked (``media=``): as a multipart form, hashed by the service in memory.
  Every request is built once, in :mod:`hashwall.client.routes`; the two clients only send it.
- **Responses**: the server's own models, from :mod:`hashwall.wire` (frozen pydantic models;
  ``CheckResult`` is ``hashwall.wire.CheckOut``, see :mod:`hashwall.client.responses`); fields
  a newer service adds are kept, not refused.
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

import warnings
from typing import TYPE_CHECKING, Any

from hashwall.client.async_client import AsyncClient
from hashwall.client.bodies import (
    Item,
    ItemLike,
    Media,
    SignalLike,
    UploadLike,
    item_body,
    signal_body,
    upload_body,
)
from hashwall.client.call import (
    DEFAULT_BACKOFF,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    MAX_BACKOFF,
    Call,
    new_idempotency_key,
    retry_wait,
)
from hashwall.client.problems import (
    ApiError,
    ConnectionFailed,
    api_error_class,
    error_from_response,
)
from hashwall.client.responses import (
    AllowlistEntry,
    ApiKey,
    ApiKeyCreated,
    AuditRecord,
    BatchCheckResult,
    BatchError,
    CaseCreated,
    CaseErasure,
    CaseItem,
    CaseItemsAdded,
    CaseRecord,
    CaseStatus,
    CaseVouched,
    CaseWithdrawal,
    CheckMatch,
    CheckResult,
    FeedEvent,
    FeedItem,
    FeedPage,
    FlaggedItem,
    Health,
    ItemConfirmed,
    ItemOutcome,
    ItemStateChange,
    ItemStatus,
    Organisation,
    Partner,
    PendingMatch,
    PinReissued,
    Platform,
    PlatformRetention,
    Policy,
    QuarantinedItem,
    Readiness,
    Response,
    RetentionReport,
    SignalValue,
    VerdictRecorded,
)
from hashwall.client.sync_client import Client
from hashwall.wire import VerdictKind

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "MAX_BACKOFF",
    "AllowlistEntry",
    "ApiError",
    "ApiKey",
    "ApiKeyCreated",
    "AsyncClient",
    "AuditRecord",
    "BatchCheckResult",
    "BatchError",
    "Call",
    "CaseCreated",
    "CaseErasure",
    "CaseItem",
    "CaseItemsAdded",
    "CaseRecord",
    "CaseStatus",
    "CaseVouched",
    "CaseWithdrawal",
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
    "ItemConfirmed",
    "ItemLike",
    "ItemOutcome",
    "ItemStateChange",
    "ItemStatus",
    "Media",
    "Organisation",
    "Partner",
    "PendingMatch",
    "PinReissued",
    "Platform",
    "PlatformRetention",
    "Policy",
    "QuarantinedItem",
    "Readiness",
    "Response",
    "RetentionReport",
    "SignalLike",
    "SignalValue",
    "UploadLike",
    "VerdictKind",
    "VerdictRecorded",
    "api_error_class",
    "error_from_response",
    "item_body",
    "new_idempotency_key",
    "retry_wait",
    "signal_body",
    "upload_body",
]

# Old names that still work, with a warning: CaseWithdrawn is also the error of a case already
# withdrawn (hashwall.errors.CaseWithdrawn); the answer to a withdrawal is CaseWithdrawal.
_RENAMED = {"CaseWithdrawn": "CaseWithdrawal"}

if TYPE_CHECKING:  # type checkers see the old names as aliases, and no catch-all __getattr__
    CaseWithdrawn = CaseWithdrawal
else:

    def __getattr__(name: str) -> Any:
        new = _RENAMED.get(name)
        if new is None:
            raise AttributeError(f"module 'hashwall.client' has no attribute {name!r}")
        warnings.warn(
            f"hashwall.client.{name} is now hashwall.client.{new}",
            DeprecationWarning,
            stacklevel=2,
        )
        return globals()[new]
