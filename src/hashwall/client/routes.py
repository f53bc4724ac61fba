"""Every route of the API as a :class:`~hashwall.client.call.Call`: the one definition of each
request (method, path, body, query, ``Idempotency-Key``) and of the model its answer is read
as. :class:`~hashwall.client.Client` and :class:`~hashwall.client.AsyncClient` send these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hashwall import wire
from hashwall.client.bodies import (
    ItemLike,
    Media,
    SignalLike,
    UploadLike,
    item_body,
    signal_body,
    upload_body,
)
from hashwall.client.call import Call, idempotent, many, nothing, one
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
    import httpx

    from hashwall.hashing.image import ImageHashes


def _segment(value: str) -> str:
    """``value`` as one URL path segment (a ref never contains '/', but be safe)."""
    return quote(value, safe="")


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


def _batch(response: httpx.Response) -> list[BatchCheckResult]:
    return one(wire.BatchCheckOut)(response).results


# --- reporter and intake -----------------------------------------------------------------------


def create_case(
    items: Sequence[ItemLike] | None,
    media: Media | None,
    filename: str,
    idempotency_key: str | None = None,
) -> Call[CaseCreated]:
    """``POST /v1/cases``: items as JSON, or one image's bytes as a form."""
    if (items is None) == (media is None):
        raise TypeError("create_case takes items or media=, exactly one of them")
    key = idempotent(idempotency_key)
    if media is not None:
        files = _media_file(media, filename)
        return Call("POST", "/v1/cases", one(CaseCreated), files=files, **key)
    assert items is not None
    body = {"items": [item_body(i) for i in items]}
    return Call("POST", "/v1/cases", one(CaseCreated), json=body, **key)


def case_status(case_number: str, pin: str | None) -> Call[CaseStatus]:
    """``POST /v1/cases/status``."""
    return Call("POST", "/v1/cases/status", one(CaseStatus), _case_body(case_number, pin))


def add_items(
    case_number: str,
    items: Sequence[ItemLike],
    pin: str | None,
    idempotency_key: str | None = None,
) -> Call[CaseItemsAdded]:
    """``POST /v1/cases/items``."""
    body = _case_body(case_number, pin, items=[item_body(i) for i in items])
    key = idempotent(idempotency_key)
    return Call("POST", "/v1/cases/items", one(CaseItemsAdded), body, **key)


def withdraw(
    case_number: str,
    pin: str | None,
    item_ref: str | None,
    idempotency_key: str | None = None,
) -> Call[CaseWithdrawal]:
    """``POST /v1/cases/withdraw``: the case, or one item of it."""
    body = _case_body(case_number, pin, item_ref=item_ref)
    key = idempotent(idempotency_key)
    return Call("POST", "/v1/cases/withdraw", one(CaseWithdrawal), body, **key)


def reissue_pin(case_number: str) -> Call[PinReissued]:
    """``POST /v1/cases/reissue-pin``."""
    body = {"case_number": case_number}
    return Call("POST", "/v1/cases/reissue-pin", one(PinReissued), body)


def vouch(case_number: str, pin: str, idempotency_key: str | None = None) -> Call[CaseVouched]:
    """``POST /v1/cases/vouch``."""
    body = {"case_number": case_number, "pin": pin}
    key = idempotent(idempotency_key)
    return Call("POST", "/v1/cases/vouch", one(CaseVouched), body, **key)


# --- platforms ---------------------------------------------------------------------------------


def check(
    upload: UploadLike | None,
    media: Media | None,
    filename: str,
    idempotency_key: str | None,
) -> Call[CheckResult]:
    """``POST /v1/check``: an upload's signals as JSON, or its bytes as a form."""
    if (upload is None) == (media is None):
        raise TypeError("check takes an upload's hashes or media=, exactly one of them")
    key = idempotent(idempotency_key)
    if media is not None:
        files = _media_file(media, filename)
        return Call("POST", "/v1/check", one(CheckResult), files=files, **key)
    assert upload is not None
    return Call("POST", "/v1/check", one(CheckResult), upload_body(upload), **key)


def check_batch(
    uploads: Sequence[UploadLike], idempotency_key: str | None
) -> Call[list[BatchCheckResult]]:
    """``POST /v1/check/batch`` (read as the list of results)."""
    body = {"uploads": [upload_body(u) for u in uploads]}
    return Call("POST", "/v1/check/batch", _batch, body, **idempotent(idempotency_key))


def verdict(
    match_ref: str,
    verdict: wire.VerdictKind,
    upload: ImageHashes | None,
    upload_pdq: str | None,
    upload_sha256: str | None,
) -> Call[VerdictRecorded]:
    """``POST /v1/matches/{match_ref}/verdict``."""
    if upload is not None:
        upload_pdq = upload_pdq or upload.pdq.hex
        upload_sha256 = upload_sha256 or upload.sha256
    body = _params(verdict=verdict, upload_pdq=upload_pdq, upload_sha256=upload_sha256)
    path = f"/v1/matches/{_segment(match_ref)}/verdict"
    return Call("POST", path, one(VerdictRecorded), body)


def pending_matches(limit: int | None, after: str | None) -> Call[list[PendingMatch]]:
    """``GET /v1/matches?state=pending``."""
    params = _params(state="pending", limit=limit, after=after)
    return Call("GET", "/v1/matches", many(PendingMatch), params=params)


def feed(cursor: str | None, limit: int | None, platform: str | None) -> Call[FeedPage]:
    """``GET /v1/feed``."""
    params = _params(cursor=cursor, limit=limit, platform=platform)
    return Call("GET", "/v1/feed", one(FeedPage), params=params)


# --- operator ----------------------------------------------------------------------------------


def add_organisation(name: str) -> Call[Organisation]:
    """``POST /v1/admin/organisations``."""
    return Call("POST", "/v1/admin/organisations", one(Organisation), {"name": name})


def list_organisations() -> Call[list[Organisation]]:
    """``GET /v1/admin/organisations``."""
    return Call("GET", "/v1/admin/organisations", many(Organisation))


def add_platform(organisation: str, name: str, policy: Mapping[str, Any] | None) -> Call[Platform]:
    """``POST /v1/admin/platforms``."""
    body = _params(organisation=organisation, name=name, policy=dict(policy or {}) or None)
    return Call("POST", "/v1/admin/platforms", one(Platform), body)


def list_platforms(organisation: str | None) -> Call[list[Platform]]:
    """``GET /v1/admin/platforms``."""
    params = _params(organisation=organisation)
    return Call("GET", "/v1/admin/platforms", many(Platform), params=params)


def set_policy(platform: str, changes: Mapping[str, Any]) -> Call[Platform]:
    """``POST /v1/admin/platforms/policy``."""
    body = {"platform": platform, "changes": dict(changes)}
    return Call("POST", "/v1/admin/platforms/policy", one(Platform), body)


def add_partner(name: str) -> Call[Partner]:
    """``POST /v1/admin/partners``."""
    return Call("POST", "/v1/admin/partners", one(Partner), {"name": name})


def list_partners() -> Call[list[Partner]]:
    """``GET /v1/admin/partners``."""
    return Call("GET", "/v1/admin/partners", many(Partner))


def create_key(
    role: wire.Role,
    platform: str | None,
    partner: str | None,
    scopes: Sequence[wire.ScopeName] | None,
    label: str | None,
) -> Call[ApiKeyCreated]:
    """``POST /v1/admin/keys``."""
    body = _params(
        role=role,
        platform=platform,
        partner=partner,
        scopes=list(scopes) if scopes is not None else None,
        label=label,
    )
    return Call("POST", "/v1/admin/keys", one(ApiKeyCreated), body)


def list_keys(include_revoked: bool) -> Call[list[ApiKey]]:
    """``GET /v1/admin/keys``."""
    params = {"include_revoked": str(include_revoked).lower()}
    return Call("GET", "/v1/admin/keys", many(ApiKey), params=params)


def revoke_key(key_id: str) -> Call[ApiKey]:
    """``POST /v1/admin/keys/{key_id}/revoke``."""
    return Call("POST", f"/v1/admin/keys/{_segment(key_id)}/revoke", one(ApiKey))


def list_quarantine(limit: int | None, after: str | None) -> Call[list[QuarantinedItem]]:
    """``GET /v1/admin/quarantine``."""
    params = _params(limit=limit, after=after)
    return Call("GET", "/v1/admin/quarantine", many(QuarantinedItem), params=params)


def quarantine_decision(item_ref: str, action: str) -> Call[ItemStateChange]:
    """``POST /v1/admin/quarantine/{item_ref}/{reinstate|delete}``."""
    path = f"/v1/admin/quarantine/{_segment(item_ref)}/{action}"
    return Call("POST", path, one(ItemStateChange))


def add_to_allowlist(signals: Sequence[SignalLike], note: str | None) -> Call[list[AllowlistEntry]]:
    """``POST /v1/admin/allowlist``."""
    body = _params(signals=[signal_body(s) for s in signals], note=note)
    return Call("POST", "/v1/admin/allowlist", many(AllowlistEntry), body)


def list_allowlist(
    signal_type: str | None, limit: int | None, after_id: int | None
) -> Call[list[AllowlistEntry]]:
    """``GET /v1/admin/allowlist``."""
    params = _params(type=signal_type, limit=limit, after_id=after_id)
    return Call("GET", "/v1/admin/allowlist", many(AllowlistEntry), params=params)


def remove_from_allowlist(entry_id: int) -> Call[None]:
    """``DELETE /v1/admin/allowlist/{entry_id}``."""
    return Call("DELETE", f"/v1/admin/allowlist/{int(entry_id)}", nothing)


def show_case(case_number: str) -> Call[CaseRecord]:
    """``POST /v1/admin/cases/show``."""
    body = {"case_number": case_number}
    return Call("POST", "/v1/admin/cases/show", one(CaseRecord), body)


def erase_case(case_number: str, reason: str) -> Call[CaseErasure]:
    """``POST /v1/admin/cases/erase``."""
    body = {"case_number": case_number, "reason": reason}
    return Call("POST", "/v1/admin/cases/erase", one(CaseErasure), body)


def delete_active_item(item_ref: str, reason: str) -> Call[ItemStateChange]:
    """``POST /v1/admin/items/{item_ref}/delete``."""
    path = f"/v1/admin/items/{_segment(item_ref)}/delete"
    return Call("POST", path, one(ItemStateChange), {"reason": reason})


def confirm_item(item_ref: str) -> Call[ItemConfirmed]:
    """``POST /v1/admin/items/{item_ref}/confirm``."""
    path = f"/v1/admin/items/{_segment(item_ref)}/confirm"
    return Call("POST", path, one(ItemConfirmed))


def list_csam(limit: int | None, after: str | None) -> Call[list[FlaggedItem]]:
    """``GET /v1/admin/csam``."""
    params = _params(limit=limit, after=after)
    return Call("GET", "/v1/admin/csam", many(FlaggedItem), params=params)


def list_audit(
    limit: int | None, before_id: int | None, key_id: str | None, action: str | None
) -> Call[list[AuditRecord]]:
    """``GET /v1/admin/audit``."""
    params = _params(limit=limit, before_id=before_id, key_id=key_id, action=action)
    return Call("GET", "/v1/admin/audit", many(AuditRecord), params=params)


def run_retention() -> Call[RetentionReport]:
    """``POST /v1/admin/retention/run``."""
    return Call("POST", "/v1/admin/retention/run", one(RetentionReport))


# --- health ------------------------------------------------------------------------------------


def health() -> Call[Health]:
    """``GET /healthz``."""
    return Call("GET", "/healthz", one(Health))


def ready() -> Call[Readiness]:
    """``GET /readyz`` (a 503 is an answer, not an error)."""
    return Call("GET", "/readyz", one(Readiness), ok_statuses=(503,))
