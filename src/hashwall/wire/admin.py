"""The operator's routes (``admin`` key): tenants, keys, quarantine, casework, allowlist, audit
and retention.

A secret appears in one of these answers, once: a new API key (:class:`ApiKeyCreated`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from hashwall.wire.base import (
    MAX_SIGNALS,
    ApiModel,
    CaseNumber,
    Orientations,
    Reason,
    ResponseModel,
    ShortText,
)
from hashwall.wire.policy import PolicyChanges, PolicyOut
from hashwall.wire.signals import SignalIn

# --- tenants -----------------------------------------------------------------------------------


class OrganisationIn(ApiModel):
    """A new organisation."""

    name: ShortText


class OrganisationOut(ResponseModel):
    """An organisation."""

    name: str
    created_at: datetime


class PlatformIn(ApiModel):
    """A new platform of an existing organisation, with policy changes from the defaults."""

    organisation: ShortText
    name: ShortText
    policy: PolicyChanges | None = None


class PlatformPolicyIn(ApiModel):
    """``POST /v1/admin/platforms/policy``: change some fields of a platform's policy."""

    platform: ShortText
    changes: PolicyChanges


class PlatformOut(ResponseModel):
    """A platform, its organisation and its policy."""

    name: str
    organisation: str
    policy: PolicyOut
    created_at: datetime


class PartnerIn(ApiModel):
    """A new intake partner."""

    name: ShortText


class PartnerOut(ResponseModel):
    """An intake partner."""

    name: str
    created_at: datetime


# --- keys --------------------------------------------------------------------------------------

Role = Literal["admin", "intake", "platform"]
ScopeName = Literal["check", "feed", "verdict"]


class ApiKeyIn(ApiModel):
    """A new API key: ``admin`` (no owner), ``intake`` (a partner) or ``platform`` (scopes)."""

    role: Role
    platform: ShortText | None = None
    partner: ShortText | None = None
    scopes: Annotated[list[ScopeName], Field(max_length=3)] | None = None
    label: Annotated[str, Field(max_length=200)] | None = None


class ApiKeyOut(ResponseModel):
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


class ApiKeyCreated(ApiKeyOut):
    """A new key with ``key``, the full ``<key_id>.<secret>``: shown this once, never again."""

    key: str


# --- items and cases ---------------------------------------------------------------------------


class QuarantinedItemOut(ResponseModel):
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


class CaseLookupIn(ApiModel):
    """``POST /v1/admin/cases/show``: a case number (in the body, never in a URL)."""

    case_number: CaseNumber


class CaseEraseIn(ApiModel):
    """``POST /v1/admin/cases/erase``: the case to erase at the person's request, and why."""

    case_number: CaseNumber
    reason: Reason


class ItemDeleteIn(ApiModel):
    """``POST /v1/admin/items/{item_ref}/delete``: why this item is deleted."""

    reason: Reason


class CaseItemOut(ResponseModel):
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


class CaseRecordOut(ResponseModel):
    """A case as the operator sees it (``status`` ``removed`` once erased)."""

    case_number: str
    channel: str
    partner: str | None
    status: str
    created_at: datetime
    withdrawn_at: datetime | None
    removed_at: datetime | None
    items: list[CaseItemOut]


class CaseErasureOut(ResponseModel):
    """What erasing a case did (``already_removed``: it had been erased before)."""

    case_number: str
    deleted_items: list[str]
    already_removed: bool
    removed_at: datetime | None


class FlaggedItemOut(ResponseModel):
    """An item a reviewer flagged ``csam`` (no hash values)."""

    item: str
    case_number: str
    kind: str
    trust: str
    state: str
    created_at: datetime
    csam_verdicts: int
    platforms: list[str]
    first_flagged_at: datetime | None


class ItemStateChangeOut(ResponseModel):
    """An operator's quarantine decision: the item's states before and after."""

    item: str
    previous_state: str
    state: str
    event_seq: int


class ItemConfirmedOut(ResponseModel):
    """The operator's confirmation: the item blocks on every platform (``changed`` False when
    it already did)."""

    item: str
    trust: str
    changed: bool


# --- allowlist, audit, retention ---------------------------------------------------------------


class AllowlistIn(ApiModel):
    """Signals of one image known not to be NCII (a famous photo, a stock image, a meme)."""

    signals: Annotated[list[SignalIn], Field(min_length=1, max_length=MAX_SIGNALS)]
    pdq_orientations: Orientations | None = None
    note: Annotated[str, Field(max_length=500)] | None = None


class AllowlistEntryOut(ResponseModel):
    """An allowlist entry; ``added`` is true when this call created it."""

    id: int
    type: str
    value: str
    quality: int | None
    note: str | None
    created_at: datetime
    added: bool


class AuditOut(ResponseModel):
    """One audit row: who, what, on what, when.

    ``actor``: role and name (``operator``, ``admin:KEY_ID``, ``partner:NAME``,
    ``platform:NAME``, ``reporter`` for the anonymous channel); ``actor_key_id``: the key used,
    null without one.
    """

    id: int
    actor: str | None
    actor_key_id: str | None = None
    action: str
    target: str | None
    details: dict[str, Any]
    created_at: datetime


class PlatformRetentionOut(ResponseModel):
    """What one platform's retention deleted."""

    platform: str
    retention_days: int
    cutoff: datetime
    deleted: int


class RetentionOut(ResponseModel):
    """One retention run: match records deleted, per platform and in total."""

    ran_at: datetime
    deleted: int
    platforms: list[PlatformRetentionOut]
