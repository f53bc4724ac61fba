"""Operator routes (``admin`` key): what the CLI's operator commands do, over HTTP.

Organisations, platforms and policies, partners, API keys, quarantine, cases (look one up,
erase it at the person's request), items, the csam queue, allowlist, audit and retention. Every
change is audited with the acting key by the use case itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from starlette.concurrency import run_in_threadpool

from hashwall.api import mapping
from hashwall.api.auth import AdminCaller
from hashwall.api.routes.common import ERRORS, StateDep
from hashwall.service import (
    audit,
    casework,
    keys,
    moderation,
    operator,
    retention,
    tenants,
    verdicts,
)
from hashwall.wire import (
    AllowlistEntryOut,
    AllowlistIn,
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    AuditOut,
    CaseEraseIn,
    CaseErasureOut,
    CaseLookupIn,
    CaseRecordOut,
    FlaggedItemOut,
    ItemConfirmedOut,
    ItemDeleteIn,
    ItemStateChangeOut,
    OrganisationIn,
    OrganisationOut,
    PartnerIn,
    PartnerOut,
    PlatformIn,
    PlatformOut,
    PlatformPolicyIn,
    QuarantinedItemOut,
    RetentionOut,
)

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=ERRORS)

Limit = Annotated[int, Query(ge=1, le=operator.MAX_LIST_LIMIT, description="Rows per page.")]
ItemRef = Annotated[str, Path(min_length=1, max_length=64)]
KeyId = Annotated[str, Path(min_length=1, max_length=64)]


# --- organisations, platforms, partners ------------------------------------------------------


@router.post("/organisations", status_code=status.HTTP_201_CREATED, response_model=OrganisationOut)
async def add_organisation(
    body: OrganisationIn, who: AdminCaller, state: StateDep
) -> OrganisationOut:
    """Create an organisation (``already_exists`` if the name is taken)."""
    info = await run_in_threadpool(tenants.add_organisation, state.ctx, who.actor, body.name)
    return mapping.organisation(info)


@router.get("/organisations", response_model=list[OrganisationOut])
async def list_organisations(who: AdminCaller, state: StateDep) -> list[OrganisationOut]:
    """All organisations, by name."""
    infos = await run_in_threadpool(tenants.list_organisations, state.ctx, who.actor)
    return [mapping.organisation(i) for i in infos]


@router.post("/platforms", status_code=status.HTTP_201_CREATED, response_model=PlatformOut)
async def add_platform(body: PlatformIn, who: AdminCaller, state: StateDep) -> PlatformOut:
    """Create a platform of an organisation, with the default policy plus ``policy``."""
    info = await run_in_threadpool(
        tenants.add_platform,
        state.ctx,
        who.actor,
        organisation=body.organisation,
        name=body.name,
        policy=mapping.policy_update(body.policy) if body.policy is not None else None,
    )
    return mapping.platform(info)


@router.get("/platforms", response_model=list[PlatformOut])
async def list_platforms(
    who: AdminCaller,
    state: StateDep,
    organisation: Annotated[str | None, Query(max_length=256)] = None,
) -> list[PlatformOut]:
    """All platforms (of one organisation if named), with their policies."""
    infos = await run_in_threadpool(
        tenants.list_platforms, state.ctx, who.actor, organisation=organisation
    )
    return [mapping.platform(i) for i in infos]


@router.post("/platforms/policy", response_model=PlatformOut)
async def set_platform_policy(
    body: PlatformPolicyIn, who: AdminCaller, state: StateDep
) -> PlatformOut:
    """Change some fields of a platform's policy (the result is validated as a whole)."""
    info = await run_in_threadpool(
        tenants.set_platform_policy,
        state.ctx,
        who.actor,
        body.platform,
        mapping.policy_update(body.changes),
    )
    return mapping.platform(info)


@router.post("/partners", status_code=status.HTTP_201_CREATED, response_model=PartnerOut)
async def add_partner(body: PartnerIn, who: AdminCaller, state: StateDep) -> PartnerOut:
    """Create an intake partner."""
    info = await run_in_threadpool(tenants.add_partner, state.ctx, who.actor, body.name)
    return mapping.partner(info)


@router.get("/partners", response_model=list[PartnerOut])
async def list_partners(who: AdminCaller, state: StateDep) -> list[PartnerOut]:
    """All intake partners, by name."""
    infos = await run_in_threadpool(tenants.list_partners, state.ctx, who.actor)
    return [mapping.partner(i) for i in infos]


# --- API keys --------------------------------------------------------------------------------


@router.post("/keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_key(body: ApiKeyIn, who: AdminCaller, state: StateDep) -> ApiKeyCreated:
    """Create a key; the answer's ``key`` is shown this once (only its hash is stored)."""
    created = await run_in_threadpool(
        keys.create_api_key,
        state.ctx,
        who.actor,
        role=body.role,
        platform=body.platform,
        partner=body.partner,
        scopes=body.scopes,
        label=body.label,
    )
    return mapping.created_key(created)


@router.get("/keys", response_model=list[ApiKeyOut])
async def list_keys(
    who: AdminCaller, state: StateDep, include_revoked: bool = True
) -> list[ApiKeyOut]:
    """All keys, oldest first, without secrets."""
    infos = await run_in_threadpool(
        keys.list_api_keys, state.ctx, who.actor, include_revoked=include_revoked
    )
    return [mapping.api_key(i) for i in infos]


@router.post("/keys/{key_id}/revoke", response_model=ApiKeyOut)
async def revoke_key(key_id: KeyId, who: AdminCaller, state: StateDep) -> ApiKeyOut:
    """Revoke a key: it stops working with the next request (idempotent)."""
    info = await run_in_threadpool(keys.revoke_api_key, state.ctx, who.actor, key_id)
    return mapping.api_key(info)


# --- quarantine ------------------------------------------------------------------------------


@router.get("/quarantine", response_model=list[QuarantinedItemOut])
async def list_quarantine(
    who: AdminCaller,
    state: StateDep,
    limit: Limit = 100,
    after: Annotated[str | None, Query(max_length=64, description="Last item of a page.")] = None,
) -> list[QuarantinedItemOut]:
    """Quarantined items, oldest first, with the verdicts that put them there."""
    items = await run_in_threadpool(
        moderation.list_quarantine, state.ctx, who.actor, limit=limit, after=after
    )
    return [mapping.quarantined_item(i) for i in items]


@router.post("/quarantine/{item_ref}/reinstate", response_model=ItemStateChangeOut)
async def reinstate_item(
    item_ref: ItemRef, who: AdminCaller, state: StateDep
) -> ItemStateChangeOut:
    """Return a quarantined item to ``active``."""
    change = await run_in_threadpool(moderation.reinstate_item, state.ctx, who.actor, item_ref)
    return mapping.state_change(change)


@router.post("/quarantine/{item_ref}/delete", response_model=ItemStateChangeOut)
async def delete_item(item_ref: ItemRef, who: AdminCaller, state: StateDep) -> ItemStateChangeOut:
    """Delete a quarantined item (``invalid_state`` otherwise): its hash values are erased."""
    change = await run_in_threadpool(
        moderation.delete_quarantined_item, state.ctx, who.actor, item_ref
    )
    return mapping.state_change(change)


# --- cases, items, the csam queue ------------------------------------------------------------


@router.post("/cases/show", response_model=CaseRecordOut)
async def show_case(body: CaseLookupIn, who: AdminCaller, state: StateDep) -> CaseRecordOut:
    """A case by its number: items, states, trust, match and verdict counts (no hash values)."""
    record = await run_in_threadpool(casework.find_case, state.ctx, who.actor, body.case_number)
    return mapping.case_record(record)


@router.post("/cases/erase", response_model=CaseErasureOut)
async def erase_case(body: CaseEraseIn, who: AdminCaller, state: StateDep) -> CaseErasureOut:
    """Erase a case at the person's request: its items deleted, its status ``removed``."""
    erased = await run_in_threadpool(
        lambda: casework.erase_case(state.ctx, who.actor, body.case_number, reason=body.reason)
    )
    return mapping.case_erasure(erased)


@router.post("/items/{item_ref}/delete", response_model=ItemStateChangeOut)
async def delete_banked_item(
    item_ref: ItemRef, body: ItemDeleteIn, who: AdminCaller, state: StateDep
) -> ItemStateChangeOut:
    """Delete an item in the bank (active or quarantined), with a reason for the audit log."""
    change = await run_in_threadpool(
        lambda: casework.delete_active_item(state.ctx, who.actor, item_ref, reason=body.reason)
    )
    return mapping.state_change(change)


@router.post("/items/{item_ref}/confirm", response_model=ItemConfirmedOut)
async def confirm_item(item_ref: ItemRef, who: AdminCaller, state: StateDep) -> ItemConfirmedOut:
    """Confirm an item for everyone: it blocks on every platform (see docs/trust.md)."""
    confirmed = await run_in_threadpool(verdicts.confirm_item, state.ctx, who.actor, item_ref)
    return mapping.confirmed(confirmed)


@router.get("/csam", response_model=list[FlaggedItemOut])
async def list_csam(
    who: AdminCaller,
    state: StateDep,
    limit: Limit = 100,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> list[FlaggedItemOut]:
    """Items reviewers flagged ``csam``, oldest first, paged by ``after`` (an item ref)."""
    flagged = await run_in_threadpool(
        lambda: casework.list_csam(state.ctx, who.actor, limit=limit, after=after)
    )
    return [mapping.flagged_item(f) for f in flagged]


# --- allowlist -------------------------------------------------------------------------------


@router.post("/allowlist", response_model=list[AllowlistEntryOut])
async def add_to_allowlist(
    body: AllowlistIn, who: AdminCaller, state: StateDep
) -> list[AllowlistEntryOut]:
    """Allowlist the signals of an image known not to be NCII (idempotent)."""
    entries = await run_in_threadpool(
        moderation.add_to_allowlist,
        state.ctx,
        who.actor,
        [s.wire() for s in body.signals],
        note=body.note,
        pdq_orientations=body.pdq_orientations or (),
    )
    return [mapping.allowlist_entry(e) for e in entries]


@router.get("/allowlist", response_model=list[AllowlistEntryOut])
async def list_allowlist(
    who: AdminCaller,
    state: StateDep,
    type: Annotated[str | None, Query(max_length=32, description="One signal type.")] = None,
    limit: Limit = 100,
    after_id: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> list[AllowlistEntryOut]:
    """Allowlist entries by id, paged by ``after_id``."""
    entries = await run_in_threadpool(
        moderation.list_allowlist,
        state.ctx,
        who.actor,
        signal_type=type,
        limit=limit,
        after_id=after_id,
    )
    return [mapping.allowlist_entry(e) for e in entries]


@router.delete("/allowlist/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_from_allowlist(
    entry_id: Annotated[int, Path(ge=1, le=2**62)], who: AdminCaller, state: StateDep
) -> Response:
    """Remove an allowlist entry (``not_found`` if there is none)."""
    await run_in_threadpool(moderation.remove_from_allowlist, state.ctx, who.actor, entry_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- audit and retention ---------------------------------------------------------------------


@router.get("/audit", response_model=list[AuditOut])
async def list_audit(
    who: AdminCaller,
    state: StateDep,
    limit: Limit = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    key_id: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AuditOut]:
    """Audit entries, newest first, paged by ``before_id``, filtered by key and/or action."""
    records = await run_in_threadpool(
        audit.list_audit,
        state.ctx,
        who.actor,
        limit=limit,
        before_id=before_id,
        actor_key_id=key_id,
        action=action,
    )
    return [mapping.audit_record(r) for r in records]


@router.post("/retention/run", response_model=RetentionOut)
async def run_retention(who: AdminCaller, state: StateDep) -> RetentionOut:
    """Delete every platform's match records older than its retention days, now."""
    report = await run_in_threadpool(retention.run_retention, state.ctx, who.actor)
    return mapping.retention_report(report)
