"""Request and response bodies of the HTTP API (pydantic), the contract the SDK mirrors.

Every model forbids unknown fields on the way in (a typo is a 422, not a silent default) and is
built from the service's own results on the way out (``from_result``). Field limits here are
only the shape of a request; the rules (what a valid PDQ hash is, who may do what) are the
service's, which answers with hashwall's error codes.

Secrets appear in exactly three responses, once each: the PIN of a new case
(:class:`CaseCreated`), a re-issued PIN (:class:`PinReissued`) and a new API key
(:class:`ApiKeyCreated`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from hashwall.service import casework, intake, operator, retention, reviews, verdicts, withdraw
from hashwall.service import feed as feed_service
from hashwall.service.check import CheckResult

#: Most items in one intake request, and most uploads in one batch check.
MAX_ITEMS = intake.MAX_ITEMS_PER_REQUEST
MAX_BATCH = 100
#: Most signals one item or upload carries (one per type; a few types exist).
MAX_SIGNALS = 16

ShortText = Annotated[str, Field(min_length=1, max_length=256)]
CaseNumber = Annotated[
    str,
    Field(min_length=1, max_length=64, description="The case number, e.g. HW-0A1B-2C3D-4E5F."),
]
Pin = Annotated[str, Field(min_length=1, max_length=64, description="The case's PIN.")]


class ApiModel(BaseModel):
    """Base of every request model: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    """Base of every response model."""

    model_config = ConfigDict(extra="forbid")


# --- signals ----------------------------------------------------------------------------------


class SignalIn(ApiModel):
    """One fingerprint: ``{"type", "value", "quality"}`` (``quality`` 0-100 for ``pdq``)."""

    type: Annotated[str, Field(min_length=1, max_length=32, examples=["pdq"])]
    value: Annotated[str, Field(min_length=1, max_length=256)]
    quality: Annotated[StrictInt, Field(ge=0, le=100)] | None = None

    def wire(self) -> dict[str, Any]:
        """The mapping the service validates."""
        return {"type": self.type, "value": self.value, "quality": self.quality}


class SignalOut(ResponseModel):
    """A stored fingerprint, as the feed and the allowlist show it."""

    model_config = ConfigDict(extra="allow")

    type: str
    value: str | None
    quality: int | None = None


# --- cases ------------------------------------------------------------------------------------


class ItemIn(ApiModel):
    """One photo or video to bank: its signals (computed on the reporter's device), and the 8
    dihedral PDQ hashes of the image if computed (compared with the allowlist only, so that a
    rotated copy of an allowlisted image is refused too; never stored)."""

    kind: Literal["image", "video"] = "image"
    signals: Annotated[list[SignalIn], Field(min_length=1, max_length=MAX_SIGNALS)]
    pdq_orientations: (
        Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=8, max_length=8)]
        | None
    ) = None

    def submission(self) -> intake.ItemSubmission:
        """The service's form."""
        orientations = tuple(self.pdq_orientations) if self.pdq_orientations else None
        return intake.ItemSubmission(
            tuple(s.wire() for s in self.signals), kind=self.kind, pdq_orientations=orientations
        )


class CaseCreate(ApiModel):
    """``POST /v1/cases`` (JSON): open a case with 1 to 100 items."""

    items: Annotated[list[ItemIn], Field(min_length=1, max_length=MAX_ITEMS)]


class ItemOutcome(ResponseModel):
    """What became of item ``index`` of the request: banked as ``item_ref``, or refused."""

    index: int
    status: Literal["accepted", "refused"]
    item_ref: str | None = None
    code: str | None = None
    message: str | None = None

    @classmethod
    def from_result(cls, outcome: intake.ItemOutcome) -> ItemOutcome:
        """From the service's outcome."""
        if isinstance(outcome, intake.ItemAccepted):
            return cls(index=outcome.index, status="accepted", item_ref=outcome.item_ref)
        return cls(
            index=outcome.index, status="refused", code=outcome.code, message=outcome.message
        )


class CaseCreated(ResponseModel):
    """A new case: its number and PIN (shown this once; keep both) and each item's outcome."""

    case_number: str
    pin: str
    channel: Literal["anonymous", "partner"]
    items: list[ItemOutcome]

    @classmethod
    def from_result(cls, receipt: intake.CaseReceipt) -> CaseCreated:
        """From the service's receipt."""
        return cls(
            case_number=receipt.case_number,
            pin=receipt.pin,
            channel=receipt.channel,
            items=[ItemOutcome.from_result(i) for i in receipt.items],
        )


class CaseAccess(ApiModel):
    """A case number and its PIN (the PIN may be left out by the partner that filed the case).

    Always in a request body, never in a URL, so they stay out of access logs and history.
    """

    case_number: CaseNumber
    pin: Pin | None = None


class ItemStatus(ResponseModel):
    """An item as its case holder sees it (never its hash values)."""

    item_ref: str
    kind: str
    trust: Literal["unvouched", "vouched", "confirmed"]
    state: Literal["active", "quarantined", "withdrawn", "deleted"]
    created_at: datetime
    blocked_uploads: int = Field(
        0, description="Uploads blocked because they matched this item (records kept by platforms)."
    )


class CaseStatus(ResponseModel):
    """``POST /v1/cases/status``: the case and its items.

    ``status`` ``removed``: the service erased the case at the person's request (``removed_at``);
    its items are ``deleted`` and no longer listed.
    """

    case_number: str
    channel: Literal["anonymous", "partner"]
    status: Literal["active", "withdrawn", "removed"]
    created_at: datetime
    withdrawn_at: datetime | None
    items: list[ItemStatus]
    removed_at: datetime | None = None

    @classmethod
    def from_result(cls, view: intake.CaseView) -> CaseStatus:
        """From the service's view."""
        return cls(
            case_number=view.case_number,
            channel=view.channel,
            status=view.status,
            created_at=view.created_at,
            withdrawn_at=view.withdrawn_at,
            removed_at=view.removed_at,
            items=[
                ItemStatus(
                    item_ref=i.item_ref,
                    kind=i.kind,
                    trust=i.trust,
                    state=i.state,
                    created_at=i.created_at,
                    blocked_uploads=i.blocked_uploads,
                )
                for i in view.items
            ],
        )


class CaseItemsAdd(CaseAccess):
    """``POST /v1/cases/items``: more items for an active case."""

    items: Annotated[list[ItemIn], Field(min_length=1, max_length=MAX_ITEMS)]


class CaseItemsAdded(ResponseModel):
    """Each new item's outcome."""

    case_number: str
    items: list[ItemOutcome]

    @classmethod
    def from_result(cls, added: intake.ItemsAdded) -> CaseItemsAdded:
        """From the service's result."""
        return cls(
            case_number=added.case_number, items=[ItemOutcome.from_result(i) for i in added.items]
        )


class CaseWithdraw(CaseAccess):
    """``POST /v1/cases/withdraw``: the whole case, or one item of it (``item_ref``)."""

    item_ref: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class CaseWithdrawn(ResponseModel):
    """What the withdrawal changed; it is in force everywhere when this answer arrives."""

    case_number: str
    case_withdrawn: bool
    withdrawn_items: list[str]

    @classmethod
    def from_result(cls, result: withdraw.Withdrawal) -> CaseWithdrawn:
        """From the service's result."""
        return cls(
            case_number=result.case_number,
            case_withdrawn=result.case_withdrawn,
            withdrawn_items=list(result.item_refs),
        )


class PinReissue(ApiModel):
    """``POST /v1/cases/reissue-pin`` (intake key): a new PIN for a case the partner filed."""

    case_number: CaseNumber


class PinReissued(ResponseModel):
    """The new PIN (shown this once; the old one no longer works)."""

    case_number: str
    pin: str


class CaseVouch(ApiModel):
    """``POST /v1/cases/vouch`` (intake key): vouch for an anonymous case the person showed."""

    case_number: CaseNumber
    pin: Pin


class CaseVouched(ResponseModel):
    """Items whose trust became ``vouched`` (they may now ``block``)."""

    case_number: str
    vouched_items: list[str]


# --- checks -----------------------------------------------------------------------------------


class CheckIn(ApiModel):
    """One upload's signals; ``pdq_orientations``: its 8 dihedral PDQ hashes, if computed."""

    signals: Annotated[list[SignalIn], Field(min_length=1, max_length=MAX_SIGNALS)]
    pdq_orientations: (
        Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=8, max_length=8)]
        | None
    ) = None


class CheckMatchOut(ResponseModel):
    """A banked item behind a non-allow answer: its match ref (for verdicts), never the item's
    own ref (a platform learns nothing about the bank from its answers).

    ``distance`` and ``orientation`` are present only where the platform's policy reveals them.
    """

    match_ref: str
    decision: Literal["review", "block"]
    signal_type: str
    distance: int | None = None
    orientation: str | None = None


class CheckOut(ResponseModel):
    """The answer for one upload: ``allow``, ``review`` or ``block``, and why.

    ``reason``: ``match``, ``no_match`` (nothing more is said about why) or ``low_quality``.
    """

    check_id: str
    decision: Literal["allow", "review", "block"]
    reason: Literal["match", "no_match", "low_quality"]
    matches: list[CheckMatchOut]

    @classmethod
    def from_result(cls, result: CheckResult) -> CheckOut:
        """From the service's result."""
        return cls(
            check_id=result.check_id,
            decision=result.decision,
            reason=result.reason,
            matches=[
                CheckMatchOut(
                    match_ref=m.match_ref,
                    decision=m.decision,
                    signal_type=m.signal_type,
                    distance=m.distance,
                    orientation=m.orientation,
                )
                for m in result.matches
            ],
        )


class BatchCheckIn(ApiModel):
    """``POST /v1/check/batch``: 1 to 100 uploads, each answered on its own."""

    uploads: Annotated[list[CheckIn], Field(min_length=1, max_length=MAX_BATCH)]


class BatchError(ResponseModel):
    """Why one upload of a batch could not be checked (the others still were)."""

    code: str
    status: int
    detail: str


class BatchCheckResult(ResponseModel):
    """Upload ``index``'s answer, or its error."""

    index: int
    result: CheckOut | None = None
    error: BatchError | None = None


class BatchCheckOut(ResponseModel):
    """One result per upload, in request order."""

    results: list[BatchCheckResult]


# --- verdicts ---------------------------------------------------------------------------------


class VerdictIn(ApiModel):
    """A reviewer's verdict on a match, with the upload's PDQ and/or sha256.

    ``not_ncii`` needs at least one of them (it exempts that upload on this platform).
    """

    verdict: Literal["confirmed", "not_ncii", "csam"]
    upload_pdq: Annotated[str, Field(max_length=64)] | None = None
    upload_sha256: Annotated[str, Field(max_length=64)] | None = None


class VerdictOut(ResponseModel):
    """Whether the verdict was recorded (false: the item has left the bank meanwhile)."""

    match_ref: str
    verdict: Literal["confirmed", "not_ncii", "csam"]
    recorded: bool

    @classmethod
    def from_result(cls, result: verdicts.VerdictResult) -> VerdictOut:
        """From the service's result."""
        return cls(match_ref=result.match_ref, verdict=result.verdict, recorded=result.recorded)


class PendingMatchOut(ResponseModel):
    """``GET /v1/matches?state=pending``: one of the platform's matches awaiting its verdict.

    ``distance`` and ``orientation`` appear only where the platform's policy reveals them.
    """

    match_ref: str
    check_id: str
    decision: Literal["review", "block"]
    created_at: datetime
    distance: int | None = None
    orientation: str | None = None

    @classmethod
    def from_result(cls, match: reviews.PendingMatch) -> PendingMatchOut:
        """From the service's result."""
        return cls.model_validate(match.to_dict())


# --- feed -------------------------------------------------------------------------------------


class PolicyOut(ResponseModel):
    """A platform's matching policy."""

    pdq_threshold: int
    reveal_distance: bool
    reveal_orientation: bool
    unvouched_answer: Literal["review", "allow"]
    video_upload_percent: int
    video_bank_percent: int
    retention_days: int


class FeedItemOut(ResponseModel):
    """A live item of the snapshot, with everything needed to match it locally."""

    item: str
    kind: str
    trust: str
    state: str
    signals: list[SignalOut]


class FeedEventOut(ResponseModel):
    """One event of the log; besides these fields, those of its type (``signals``, ...)."""

    model_config = ConfigDict(extra="allow")

    seq: int
    type: str
    item: str | None
    created_at: datetime


class FeedPageOut(ResponseModel):
    """One page of the feed: snapshot items and/or events, and the cursor for the next call."""

    platform: str
    policy: PolicyOut
    phase: Literal["snapshot", "events"]
    snapshot_seq: int | None
    items: list[FeedItemOut]
    events: list[FeedEventOut]
    cursor: str
    more: bool
    head_seq: int

    @classmethod
    def from_result(cls, page: feed_service.FeedPage) -> FeedPageOut:
        """From the service's page."""
        return cls.model_validate(page.to_dict())


# --- operator ---------------------------------------------------------------------------------


class OrganisationIn(ApiModel):
    """A new organisation."""

    name: ShortText


class OrganisationOut(ResponseModel):
    """An organisation."""

    name: str
    created_at: datetime

    @classmethod
    def from_result(cls, info: operator.OrganisationInfo) -> OrganisationOut:
        """From the service's result."""
        return cls(name=info.name, created_at=info.created_at)


class PolicyChanges(ApiModel):
    """Changes to a platform's policy; fields left out keep their value."""

    pdq_threshold: Annotated[StrictInt, Field(ge=0, le=31)] | None = None
    reveal_distance: StrictBool | None = None
    reveal_orientation: StrictBool | None = None
    unvouched_answer: Literal["review", "allow"] | None = None
    video_upload_percent: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    video_bank_percent: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    retention_days: Annotated[StrictInt, Field(ge=0, le=36_500)] | None = None

    def update(self) -> operator.PolicyUpdate:
        """The service's form."""
        return operator.PolicyUpdate(**self.model_dump())


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

    @classmethod
    def from_result(cls, info: operator.PlatformInfo) -> PlatformOut:
        """From the service's result."""
        return cls.model_validate(info.to_dict())


class PartnerIn(ApiModel):
    """A new intake partner."""

    name: ShortText


class PartnerOut(ResponseModel):
    """An intake partner."""

    name: str
    created_at: datetime

    @classmethod
    def from_result(cls, info: operator.PartnerInfo) -> PartnerOut:
        """From the service's result."""
        return cls(name=info.name, created_at=info.created_at)


class ApiKeyIn(ApiModel):
    """A new API key: ``admin`` (no owner), ``intake`` (a partner) or ``platform`` (scopes)."""

    role: Literal["admin", "intake", "platform"]
    platform: ShortText | None = None
    partner: ShortText | None = None
    scopes: Annotated[list[Literal["check", "feed", "verdict"]], Field(max_length=3)] | None = None
    label: Annotated[str, Field(max_length=200)] | None = None


class ApiKeyOut(ResponseModel):
    """An API key without its secret."""

    id: str
    role: Literal["admin", "intake", "platform"]
    scopes: list[str]
    platform: str | None
    partner: str | None
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    revoked: bool

    @classmethod
    def from_result(cls, info: operator.KeyInfo) -> ApiKeyOut:
        """From the service's result."""
        return cls.model_validate(info.to_dict())


class ApiKeyCreated(ApiKeyOut):
    """A new key with ``key``, the full ``<key_id>.<secret>``: shown this once, never again."""

    key: str

    @classmethod
    def from_created(cls, created: operator.CreatedKey) -> ApiKeyCreated:
        """From the service's result."""
        return cls.model_validate(created.to_dict())


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

    @classmethod
    def from_result(cls, item: operator.QuarantinedItem) -> QuarantinedItemOut:
        """From the service's result."""
        return cls.model_validate(item.to_dict())


Reason = Annotated[
    str,
    Field(
        min_length=1,
        max_length=operator.MAX_REASON_LENGTH,
        description="Why, for the audit log (a ticket number; no personal data).",
    ),
]


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

    @classmethod
    def from_result(cls, record: casework.CaseRecord) -> CaseRecordOut:
        """From the service's result."""
        return cls.model_validate(record.to_dict())


class CaseErasureOut(ResponseModel):
    """What erasing a case did (``already_removed``: it had been erased before)."""

    case_number: str
    deleted_items: list[str]
    already_removed: bool
    removed_at: datetime | None

    @classmethod
    def from_result(cls, erasure: casework.CaseErasure) -> CaseErasureOut:
        """From the service's result."""
        return cls.model_validate(erasure.to_dict())


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

    @classmethod
    def from_result(cls, item: casework.FlaggedItem) -> FlaggedItemOut:
        """From the service's result."""
        return cls.model_validate(item.to_dict())


class ItemStateChangeOut(ResponseModel):
    """An operator's quarantine decision: the item's states before and after."""

    item: str
    previous_state: str
    state: str
    event_seq: int

    @classmethod
    def from_result(cls, change: operator.ItemStateChange) -> ItemStateChangeOut:
        """From the service's result."""
        return cls.model_validate(change.to_dict())


class ItemConfirmedOut(ResponseModel):
    """The operator's confirmation: the item blocks on every platform (``changed`` False when
    it already did)."""

    item: str
    trust: str
    changed: bool

    @classmethod
    def from_result(cls, confirmed: verdicts.Confirmed) -> ItemConfirmedOut:
        """From the service's result."""
        return cls.model_validate(confirmed.to_dict())


class AllowlistIn(ApiModel):
    """Signals of one image known not to be NCII (a famous photo, a stock image, a meme)."""

    signals: Annotated[list[SignalIn], Field(min_length=1, max_length=MAX_SIGNALS)]
    pdq_orientations: (
        Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=8, max_length=8)]
        | None
    ) = None
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

    @classmethod
    def from_result(cls, entry: operator.AllowlistInfo) -> AllowlistEntryOut:
        """From the service's result."""
        return cls.model_validate(entry.to_dict())


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

    @classmethod
    def from_result(cls, record: operator.AuditRecord) -> AuditOut:
        """From the service's result."""
        return cls.model_validate(record.to_dict())


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

    @classmethod
    def from_result(cls, report: retention.RetentionReport) -> RetentionOut:
        """From the service's result."""
        return cls.model_validate(report.to_dict())


# --- health and errors ------------------------------------------------------------------------


class Health(ResponseModel):
    """``GET /healthz``: the process answers."""

    status: Literal["ok"]


class Readiness(ResponseModel):
    """``GET /readyz``: the index is built and within ``index_max_lag`` seconds of the log."""

    ready: bool
    schema_ok: bool
    index_built: bool
    index_size: int
    last_seq: int
    lag_seconds: float | None
    detail: str


class ValidationIssue(ResponseModel):
    """Where a request did not fit its schema (no input values are echoed)."""

    loc: list[str]
    type: str
    msg: str


class Problem(ResponseModel):
    """Every error: ``application/problem+json`` with hashwall's stable ``code``."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    code: str
    detail: str
    errors: list[ValidationIssue] | None = None
    refusals: list[dict[str, Any]] | None = None
