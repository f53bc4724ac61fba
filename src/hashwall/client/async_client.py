"""The asyncio client: :class:`AsyncClient`, the twin of :class:`~hashwall.client.Client` (the same
methods, awaited)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

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
            headers=default_headers(key, headers),
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
                        call.method, call.path, **call.request_kwargs()
                    )
                except httpx.TransportError as exc:
                    raise connection_failed(exc, self.base_url) from None
                return call.result(response)
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
        return await self.send(routes.create_case(items, media, filename, key))

    async def case_status(self, case_number: str, pin: str | None = None) -> CaseStatus:
        """See :meth:`Client.case_status`."""
        return await self.send(routes.case_status(case_number, pin))

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
        return await self.send(routes.add_items(case_number, items, pin, key))

    async def withdraw(
        self,
        case_number: str,
        pin: str | None = None,
        *,
        item_ref: str | None = None,
        idempotency_key: str | None = None,
    ) -> CaseWithdrawal:
        """See :meth:`Client.withdraw`."""
        key = idempotency_key or new_idempotency_key()
        return await self.send(routes.withdraw(case_number, pin, item_ref, key))

    async def reissue_pin(self, case_number: str) -> PinReissued:
        """See :meth:`Client.reissue_pin`."""
        return await self.send(routes.reissue_pin(case_number))

    async def vouch(
        self, case_number: str, pin: str, *, idempotency_key: str | None = None
    ) -> CaseVouched:
        """See :meth:`Client.vouch`."""
        key = idempotency_key or new_idempotency_key()
        return await self.send(routes.vouch(case_number, pin, key))

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
        return await self.send(routes.check(upload, media, filename, idempotency_key))

    async def check_batch(
        self, uploads: Sequence[UploadLike], *, idempotency_key: str | None = None
    ) -> list[BatchCheckResult]:
        """See :meth:`Client.check_batch`."""
        return await self.send(routes.check_batch(uploads, idempotency_key))

    async def verdict(
        self,
        match_ref: str,
        verdict: wire.VerdictKind,
        *,
        upload: ImageHashes | None = None,
        upload_pdq: str | None = None,
        upload_sha256: str | None = None,
    ) -> VerdictRecorded:
        """See :meth:`Client.verdict`."""
        call = routes.verdict(match_ref, verdict, upload, upload_pdq, upload_sha256)
        return await self.send(call)

    async def pending_matches(
        self, *, limit: int | None = None, after: str | None = None
    ) -> list[PendingMatch]:
        """See :meth:`Client.pending_matches`."""
        return await self.send(routes.pending_matches(limit, after))

    async def feed(
        self, cursor: str | None = None, *, limit: int | None = None, platform: str | None = None
    ) -> FeedPage:
        """See :meth:`Client.feed`."""
        return await self.send(routes.feed(cursor, limit, platform))

    @asynccontextmanager
    async def feed_snapshot(
        self, cursor: str | None = None, *, block: int | None = None, platform: str | None = None
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """See :meth:`Client.feed_snapshot`; here the body is an async iterator of its chunks,
        read as they arrive."""
        params = {k: v for k, v in (("cursor", cursor), ("block", block),
                                    ("platform", platform)) if v is not None}  # fmt: skip
        try:
            async with self._http.stream("GET", "/v1/feed/snapshot", params=params) as response:
                if not response.is_success:
                    await response.aread()
                    raise error_from_response(response)
                yield response.aiter_bytes()
        except httpx.TransportError as exc:
            raise connection_failed(exc, self.base_url) from None

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
        return await self.send(routes.add_organisation(name))

    async def list_organisations(self) -> list[Organisation]:
        """See :meth:`Client.list_organisations`."""
        return await self.send(routes.list_organisations())

    async def add_platform(
        self, organisation: str, name: str, *, policy: Mapping[str, Any] | None = None
    ) -> Platform:
        """See :meth:`Client.add_platform`."""
        return await self.send(routes.add_platform(organisation, name, policy))

    async def list_platforms(self, organisation: str | None = None) -> list[Platform]:
        """See :meth:`Client.list_platforms`."""
        return await self.send(routes.list_platforms(organisation))

    async def set_policy(self, platform: str, **changes: Any) -> Platform:
        """See :meth:`Client.set_policy`."""
        return await self.send(routes.set_policy(platform, changes))

    async def add_partner(self, name: str) -> Partner:
        """See :meth:`Client.add_partner`."""
        return await self.send(routes.add_partner(name))

    async def list_partners(self) -> list[Partner]:
        """See :meth:`Client.list_partners`."""
        return await self.send(routes.list_partners())

    async def create_key(
        self,
        role: wire.Role,
        *,
        platform: str | None = None,
        partner: str | None = None,
        scopes: Sequence[wire.ScopeName] | None = None,
        label: str | None = None,
    ) -> ApiKeyCreated:
        """See :meth:`Client.create_key`."""
        return await self.send(routes.create_key(role, platform, partner, scopes, label))

    async def list_keys(self, *, include_revoked: bool = True) -> list[ApiKey]:
        """See :meth:`Client.list_keys`."""
        return await self.send(routes.list_keys(include_revoked))

    async def revoke_key(self, key_id: str) -> ApiKey:
        """See :meth:`Client.revoke_key`."""
        return await self.send(routes.revoke_key(key_id))

    async def list_quarantine(
        self, *, limit: int | None = None, after: str | None = None
    ) -> list[QuarantinedItem]:
        """See :meth:`Client.list_quarantine`."""
        return await self.send(routes.list_quarantine(limit, after))

    async def reinstate_item(self, item_ref: str) -> ItemStateChange:
        """See :meth:`Client.reinstate_item`."""
        return await self.send(routes.quarantine_decision(item_ref, "reinstate"))

    async def delete_item(self, item_ref: str) -> ItemStateChange:
        """See :meth:`Client.delete_item`."""
        return await self.send(routes.quarantine_decision(item_ref, "delete"))

    async def delete_active_item(self, item_ref: str, *, reason: str) -> ItemStateChange:
        """See :meth:`Client.delete_active_item`."""
        return await self.send(routes.delete_active_item(item_ref, reason))

    async def confirm_item(self, item_ref: str) -> ItemConfirmed:
        """See :meth:`Client.confirm_item`."""
        return await self.send(routes.confirm_item(item_ref))

    async def show_case(self, case_number: str) -> CaseRecord:
        """See :meth:`Client.show_case`."""
        return await self.send(routes.show_case(case_number))

    async def erase_case(self, case_number: str, *, reason: str) -> CaseErasure:
        """See :meth:`Client.erase_case`."""
        return await self.send(routes.erase_case(case_number, reason))

    async def list_csam(
        self, *, limit: int | None = None, after: str | None = None
    ) -> list[FlaggedItem]:
        """See :meth:`Client.list_csam`."""
        return await self.send(routes.list_csam(limit, after))

    async def add_to_allowlist(
        self, signals: Sequence[SignalLike], *, note: str | None = None
    ) -> list[AllowlistEntry]:
        """See :meth:`Client.add_to_allowlist`."""
        return await self.send(routes.add_to_allowlist(signals, note))

    async def list_allowlist(
        self,
        *,
        signal_type: str | None = None,
        limit: int | None = None,
        after_id: int | None = None,
    ) -> list[AllowlistEntry]:
        """See :meth:`Client.list_allowlist`."""
        return await self.send(routes.list_allowlist(signal_type, limit, after_id))

    async def remove_from_allowlist(self, entry_id: int) -> None:
        """See :meth:`Client.remove_from_allowlist`."""
        await self.send(routes.remove_from_allowlist(entry_id))

    async def list_audit(
        self,
        *,
        limit: int | None = None,
        before_id: int | None = None,
        key_id: str | None = None,
        action: str | None = None,
    ) -> list[AuditRecord]:
        """See :meth:`Client.list_audit`."""
        return await self.send(routes.list_audit(limit, before_id, key_id, action))

    async def run_retention(self) -> RetentionReport:
        """See :meth:`Client.run_retention`."""
        return await self.send(routes.run_retention())

    # health

    async def health(self) -> Health:
        """See :meth:`Client.health`."""
        return await self.send(routes.health())

    async def ready(self) -> Readiness:
        """See :meth:`Client.ready`."""
        return await self.send(routes.ready())
