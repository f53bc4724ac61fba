"""The synchronous client: :class:`Client`, hashwall's API over one pooled ``httpx.Client``."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Self, TypeVar

import httpx

from hashwall import wire
from hashwall.client import routes
from hashwall.client.bodies import ItemLike, Media, SignalLike, UploadLike
from hashwall.client.call import (
    DEFAULT_BACKOFF,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    Call,
    default_headers,
    new_idempotency_key,
    retry_wait,
)
from hashwall.client.problems import (
    ApiError,
    ConnectionFailed,
    connection_failed,
    error_from_response,
)
from hashwall.client.responses import (
    AllowlistEntry,
    ApiKey,
    ApiKeyCreated,
    AuditRecord,
    BatchCheckResult,
    CaseCreated,
    CaseErasure,
    CaseItemsAdded,
    CaseRecord,
    CaseStatus,
    CaseVouched,
    CaseWithdrawal,
    CheckResult,
    FeedPage,
    FlaggedItem,
    Health,
    ItemConfirmed,
    ItemStateChange,
    Organisation,
    Partner,
    PendingMatch,
    PinReissued,
    Platform,
    QuarantinedItem,
    Readiness,
    RetentionReport,
    VerdictRecorded,
)

if TYPE_CHECKING:
    from hashwall.hashing.image import ImageHashes

T = TypeVar("T")


class _BodyReader(io.RawIOBase):
    """A streamed body as a readable file (``read(n)`` returns up to n bytes; b"" at the end)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = memoryview(chunk)
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


class Client:
    """hashwall's API over HTTP, synchronously (one pooled ``httpx.Client``; thread-safe).

    ``key``: an API key (``<key_id>.<secret>``); none for the anonymous reporter channel.
    ``timeout``: seconds per request. ``retries``/``backoff``: how a request that carries an
    ``Idempotency-Key`` is sent again after a timeout, a connection error or a 503 (see
    :mod:`hashwall.client`). ``transport``/``http``: for tests and proxies (an
    ``httpx.Client`` passed as ``http`` is used as is and not closed here).
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
            headers=default_headers(key, headers),
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
                    response = self._http.request(call.method, call.path, **call.request_kwargs())
                except httpx.TransportError as exc:
                    raise connection_failed(exc, self.base_url) from None
                return call.result(response)
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
        return self.send(routes.create_case(items, media, filename, key))

    def case_status(self, case_number: str, pin: str | None = None) -> CaseStatus:
        """The case and its items (the PIN, or the intake key of the partner that filed it)."""
        return self.send(routes.case_status(case_number, pin))

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
        return self.send(routes.add_items(case_number, items, pin, key))

    def withdraw(
        self,
        case_number: str,
        pin: str | None = None,
        *,
        item_ref: str | None = None,
        idempotency_key: str | None = None,
    ) -> CaseWithdrawal:
        """Withdraw the case, or one item of it: final everywhere when this returns (retried
        with one ``idempotency_key``, a UUID by default)."""
        key = idempotency_key or new_idempotency_key()
        return self.send(routes.withdraw(case_number, pin, item_ref, key))

    def reissue_pin(self, case_number: str) -> PinReissued:
        """A new PIN for a case this partner filed (intake key; the old PIN stops working)."""
        return self.send(routes.reissue_pin(case_number))

    def vouch(
        self, case_number: str, pin: str, *, idempotency_key: str | None = None
    ) -> CaseVouched:
        """Vouch for an anonymous case the person showed (intake key): its items may block."""
        key = idempotency_key or new_idempotency_key()
        return self.send(routes.vouch(case_number, pin, key))

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
        return self.send(routes.check(upload, media, filename, idempotency_key))

    def check_batch(
        self, uploads: Sequence[UploadLike], *, idempotency_key: str | None = None
    ) -> list[BatchCheckResult]:
        """Check up to 100 uploads at once; each gets its own answer or error, in order."""
        return self.send(routes.check_batch(uploads, idempotency_key))

    def verdict(
        self,
        match_ref: str,
        verdict: wire.VerdictKind,
        *,
        upload: ImageHashes | None = None,
        upload_pdq: str | None = None,
        upload_sha256: str | None = None,
    ) -> VerdictRecorded:
        """A reviewer's verdict on a match (``not_ncii`` needs the upload's PDQ or sha256)."""
        return self.send(routes.verdict(match_ref, verdict, upload, upload_pdq, upload_sha256))

    def pending_matches(
        self, *, limit: int | None = None, after: str | None = None
    ) -> list[PendingMatch]:
        """This platform's matches awaiting its verdict, oldest first (``verdict`` scope).

        Paged: pass the last ``match_ref`` of a page as ``after`` for the next one.
        """
        return self.send(routes.pending_matches(limit, after))

    def feed(
        self, cursor: str | None = None, *, limit: int | None = None, platform: str | None = None
    ) -> FeedPage:
        """One page of the bank (snapshot, then events); pass ``page.cursor`` back for more."""
        return self.send(routes.feed(cursor, limit, platform))

    @contextmanager
    def feed_snapshot(
        self, cursor: str | None = None, *, block: int | None = None, platform: str | None = None
    ) -> Iterator[BinaryIO]:
        """``GET /v1/feed/snapshot``: the snapshot phase as binary blocks, for a first sync of
        a big bank; a file-like of the body, read as it arrives (see
        ``hashwall.service.feed_blocks``). Not retried: resume from the last block's cursor."""
        params = {k: v for k, v in (("cursor", cursor), ("block", block),
                                    ("platform", platform)) if v is not None}  # fmt: skip
        try:
            with self._http.stream("GET", "/v1/feed/snapshot", params=params) as response:
                if not response.is_success:
                    response.read()
                    raise error_from_response(response)
                yield io.BufferedReader(_BodyReader(response.iter_bytes()), 1 << 20)
        except httpx.TransportError as exc:
            raise connection_failed(exc, self.base_url) from None

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
        return self.send(routes.add_organisation(name))

    def list_organisations(self) -> list[Organisation]:
        """All organisations, by name."""
        return self.send(routes.list_organisations())

    def add_platform(
        self, organisation: str, name: str, *, policy: Mapping[str, Any] | None = None
    ) -> Platform:
        """Create a platform of an organisation (``policy``: changes from the defaults)."""
        return self.send(routes.add_platform(organisation, name, policy))

    def list_platforms(self, organisation: str | None = None) -> list[Platform]:
        """All platforms (of one organisation if named), with their policies."""
        return self.send(routes.list_platforms(organisation))

    def set_policy(self, platform: str, **changes: Any) -> Platform:
        """Change some fields of a platform's policy (``pdq_threshold=20``, ...)."""
        return self.send(routes.set_policy(platform, changes))

    def add_partner(self, name: str) -> Partner:
        """Create an intake partner."""
        return self.send(routes.add_partner(name))

    def list_partners(self) -> list[Partner]:
        """All intake partners, by name."""
        return self.send(routes.list_partners())

    def create_key(
        self,
        role: wire.Role,
        *,
        platform: str | None = None,
        partner: str | None = None,
        scopes: Sequence[wire.ScopeName] | None = None,
        label: str | None = None,
    ) -> ApiKeyCreated:
        """Create an API key; its ``key`` is shown this once."""
        return self.send(routes.create_key(role, platform, partner, scopes, label))

    def list_keys(self, *, include_revoked: bool = True) -> list[ApiKey]:
        """All keys, oldest first, without secrets."""
        return self.send(routes.list_keys(include_revoked))

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key: it stops working with the next request."""
        return self.send(routes.revoke_key(key_id))

    def list_quarantine(
        self, *, limit: int | None = None, after: str | None = None
    ) -> list[QuarantinedItem]:
        """Quarantined items, oldest first."""
        return self.send(routes.list_quarantine(limit, after))

    def reinstate_item(self, item_ref: str) -> ItemStateChange:
        """Return a quarantined item to ``active``."""
        return self.send(routes.quarantine_decision(item_ref, "reinstate"))

    def delete_item(self, item_ref: str) -> ItemStateChange:
        """Delete a quarantined item (``invalid_state`` otherwise): its hash values are erased."""
        return self.send(routes.quarantine_decision(item_ref, "delete"))

    def delete_active_item(self, item_ref: str, *, reason: str) -> ItemStateChange:
        """Delete an item in the bank (active or quarantined), with a reason for the audit."""
        return self.send(routes.delete_active_item(item_ref, reason))

    def confirm_item(self, item_ref: str) -> ItemConfirmed:
        """Confirm an item for everyone: it blocks on every platform (docs/trust.md)."""
        return self.send(routes.confirm_item(item_ref))

    def show_case(self, case_number: str) -> CaseRecord:
        """A case by its number: items, states, trust, match and verdict counts (no hashes)."""
        return self.send(routes.show_case(case_number))

    def erase_case(self, case_number: str, *, reason: str) -> CaseErasure:
        """Erase a case at the person's request: items deleted, its status ``removed``."""
        return self.send(routes.erase_case(case_number, reason))

    def list_csam(self, *, limit: int | None = None, after: str | None = None) -> list[FlaggedItem]:
        """Items reviewers flagged ``csam``, oldest first."""
        return self.send(routes.list_csam(limit, after))

    def add_to_allowlist(
        self, signals: Sequence[SignalLike], *, note: str | None = None
    ) -> list[AllowlistEntry]:
        """Allowlist the signals of an image known not to be NCII (idempotent)."""
        return self.send(routes.add_to_allowlist(signals, note))

    def list_allowlist(
        self,
        *,
        signal_type: str | None = None,
        limit: int | None = None,
        after_id: int | None = None,
    ) -> list[AllowlistEntry]:
        """Allowlist entries by id, paged by ``after_id``."""
        return self.send(routes.list_allowlist(signal_type, limit, after_id))

    def remove_from_allowlist(self, entry_id: int) -> None:
        """Remove an allowlist entry."""
        self.send(routes.remove_from_allowlist(entry_id))

    def list_audit(
        self,
        *,
        limit: int | None = None,
        before_id: int | None = None,
        key_id: str | None = None,
        action: str | None = None,
    ) -> list[AuditRecord]:
        """Audit entries, newest first, paged by ``before_id``."""
        return self.send(routes.list_audit(limit, before_id, key_id, action))

    def run_retention(self) -> RetentionReport:
        """Delete every platform's match records older than its retention, now."""
        return self.send(routes.run_retention())

    # health

    def health(self) -> Health:
        """``/healthz``: the process answers."""
        return self.send(routes.health())

    def ready(self) -> Readiness:
        """``/readyz``: whether the service is ready (a 503 is returned, not raised)."""
        return self.send(routes.ready())
