"""Between the wire and the service: request bodies to the service's inputs, and the service's
results to response bodies.

The wire models (:mod:`hashwall.wire`) know nothing of the service, and the service nothing of
the wire; this module is the one place that knows both.
"""

from __future__ import annotations

from typing import Any

from hashwall import wire
from hashwall.domain import PlatformPolicy
from hashwall.hashing.signals import distance_types
from hashwall.hashing.video_match import VideoMatch
from hashwall.service import (
    audit,
    casework,
    intake,
    keys,
    moderation,
    retention,
    reviews,
    tenants,
    verdicts,
    withdraw,
)
from hashwall.service import feed as feed_service
from hashwall.service.check import CheckResult
from hashwall.service.signal_policy import effective_thresholds

# --- requests ----------------------------------------------------------------------------------


def submission(item: wire.ItemIn) -> intake.ItemSubmission:
    """The service's form of an item to bank."""
    orientations = tuple(item.pdq_orientations) if item.pdq_orientations else None
    return intake.ItemSubmission(
        tuple(s.wire() for s in item.signals),
        kind=item.kind,
        pdq_orientations=orientations,
        frames=None if item.frames is None else [f.wire() for f in item.frames],
    )


def policy_update(changes: wire.PolicyChanges) -> tenants.PolicyUpdate:
    """The service's form of policy changes (``pdq_threshold`` read into ``thresholds``)."""
    return tenants.PolicyUpdate.from_mapping(changes.model_dump(exclude_none=True))


# --- policy ------------------------------------------------------------------------------------


def policy(platform_policy: PlatformPolicy) -> wire.PolicyOut:
    """A platform's policy: every field, the radius of every type matched by distance, and
    each type's older policy field (``pdq_threshold``) for the clients that read it."""
    thresholds = effective_thresholds(platform_policy)
    legacy = {
        kind.policy_field: thresholds[kind.name]
        for kind in distance_types()
        if kind.policy_field is not None
    }
    shown = {**platform_policy.to_dict(), **legacy, "thresholds": thresholds}
    return wire.PolicyOut.model_validate(shown)


# --- cases -------------------------------------------------------------------------------------


def item_outcome(outcome: intake.ItemOutcome) -> wire.ItemOutcome:
    """What became of one item of a request."""
    if isinstance(outcome, intake.ItemAccepted):
        return wire.ItemOutcome(index=outcome.index, status="accepted", item_ref=outcome.item_ref)
    return wire.ItemOutcome(
        index=outcome.index, status="refused", code=outcome.code, message=outcome.message
    )


def case_created(receipt: intake.CaseReceipt) -> wire.CaseCreated:
    """A new case's receipt."""
    return wire.CaseCreated(
        case_number=receipt.case_number,
        pin=receipt.pin,
        channel=receipt.channel,
        items=[item_outcome(i) for i in receipt.items],
    )


def case_status(view: intake.CaseView) -> wire.CaseStatus:
    """A case as its holder sees it."""
    return wire.CaseStatus(
        case_number=view.case_number,
        channel=view.channel,
        status=view.status,
        created_at=view.created_at,
        withdrawn_at=view.withdrawn_at,
        removed_at=view.removed_at,
        items=[
            wire.ItemStatus(
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


def items_added(added: intake.ItemsAdded) -> wire.CaseItemsAdded:
    """The outcomes of items added to a case."""
    return wire.CaseItemsAdded(
        case_number=added.case_number, items=[item_outcome(i) for i in added.items]
    )


def withdrawal(result: withdraw.Withdrawal) -> wire.CaseWithdrawal:
    """What a withdrawal changed."""
    return wire.CaseWithdrawal(
        case_number=result.case_number,
        case_withdrawn=result.case_withdrawn,
        withdrawn_items=list(result.item_refs),
    )


# --- checks, matches, feed ---------------------------------------------------------------------


def check_answer(result: CheckResult) -> wire.CheckOut:
    """The answer for one upload."""
    return wire.CheckOut(
        check_id=result.check_id,
        decision=result.decision,
        reason=result.reason,
        matches=[
            wire.CheckMatchOut(
                match_ref=m.match_ref,
                decision=m.decision,
                signal_type=m.signal_type,
                distance=m.distance,
                orientation=m.orientation,
                **_video_match(m.video),
            )
            for m in result.matches
        ],
    )


def _video_match(video: VideoMatch | None) -> dict[str, Any]:
    """A video match's shares and ranges (nothing for an image, or where they are not told)."""
    if video is None:
        return {}
    shown = video.to_dict()
    return {
        "upload_frames_matched_pct": shown["upload_frames_matched_pct"],
        "banked_frames_matched_pct": shown["banked_frames_matched_pct"],
        "ranges": wire.VideoRangesOut.model_validate(shown["ranges"]),
    }


def verdict(result: verdicts.VerdictResult) -> wire.VerdictOut:
    """Whether a verdict was recorded."""
    return wire.VerdictOut(
        match_ref=result.match_ref, verdict=result.verdict, recorded=result.recorded
    )


def pending_match(match: reviews.PendingMatch) -> wire.PendingMatchOut:
    """A match awaiting the platform's verdict."""
    return wire.PendingMatchOut(
        match_ref=match.match_ref,
        check_id=match.check_id,
        decision=match.decision,
        created_at=match.created_at,
        distance=match.distance,
        orientation=match.orientation,
    )


def feed_page(page: feed_service.FeedPage) -> wire.FeedPageOut:
    """One page of the feed (its policy as shown: every type's radius)."""
    return wire.FeedPageOut(
        platform=page.platform,
        policy=policy(page.policy),
        phase=page.phase,
        snapshot_seq=page.snapshot_seq,
        items=[feed_item(i) for i in page.items],
        events=[feed_event(e) for e in page.events],
        cursor=page.cursor,
        more=page.more,
        head_seq=page.head_seq,
    )


def feed_item(item: feed_service.FeedItem) -> wire.FeedItemOut:
    """A live item of the snapshot, with its signals."""
    return wire.FeedItemOut(
        item=item.item_ref,
        kind=item.kind,
        trust=item.trust,
        state=item.state,
        signals=[wire.SignalOut.model_validate(s) for s in item.signals],
    )


def feed_event(event: feed_service.FeedEvent) -> wire.FeedEventOut:
    """One event of the log: its seq, type, item and time, and the fields of its type."""
    fields = {"seq": event.seq, "type": event.type, "item": event.item_ref, **event.data}
    return wire.FeedEventOut.model_validate({**fields, "created_at": event.created_at})


# --- operator ----------------------------------------------------------------------------------


def organisation(info: tenants.OrganisationInfo) -> wire.OrganisationOut:
    """An organisation."""
    return wire.OrganisationOut(name=info.name, created_at=info.created_at)


def platform(info: tenants.PlatformInfo) -> wire.PlatformOut:
    """A platform and its policy."""
    return wire.PlatformOut(
        name=info.name,
        organisation=info.organisation,
        policy=policy(info.policy),
        created_at=info.created_at,
    )


def partner(info: tenants.PartnerInfo) -> wire.PartnerOut:
    """An intake partner."""
    return wire.PartnerOut(name=info.name, created_at=info.created_at)


def api_key(info: keys.KeyInfo) -> wire.ApiKeyOut:
    """An API key without its secret."""
    return wire.ApiKeyOut(
        id=info.key_id,
        role=info.role,
        scopes=list(info.scopes),
        platform=info.platform,
        partner=info.partner,
        label=info.label,
        created_at=info.created_at,
        revoked_at=info.revoked_at,
        revoked=info.revoked,
    )


def created_key(created: keys.CreatedKey) -> wire.ApiKeyCreated:
    """A new API key, with its secret (shown this once)."""
    return wire.ApiKeyCreated(**api_key(created.info).model_dump(), key=created.key)


def quarantined_item(item: moderation.QuarantinedItem) -> wire.QuarantinedItemOut:
    """An item waiting for the operator."""
    return wire.QuarantinedItemOut(
        item=item.item_ref,
        kind=item.kind,
        trust=item.trust,
        state=item.state,
        csam=item.csam,
        created_at=item.created_at,
        state_changed_at=item.state_changed_at,
        not_ncii_verdicts=item.not_ncii_verdicts,
        not_ncii_organisations=item.not_ncii_organisations,
    )


def state_change(change: moderation.ItemStateChange) -> wire.ItemStateChangeOut:
    """An item's states before and after an operator's decision."""
    return wire.ItemStateChangeOut(
        item=change.item_ref,
        previous_state=change.previous_state,
        state=change.state,
        event_seq=change.event_seq,
    )


def confirmed(result: verdicts.Confirmed) -> wire.ItemConfirmedOut:
    """The operator's confirmation of an item."""
    return wire.ItemConfirmedOut(item=result.item_ref, trust=result.trust, changed=result.changed)


def case_record(record: casework.CaseRecord) -> wire.CaseRecordOut:
    """A case as the operator sees it."""
    return wire.CaseRecordOut(
        case_number=record.case_number,
        channel=record.channel,
        partner=record.partner,
        status=record.status,
        created_at=record.created_at,
        withdrawn_at=record.withdrawn_at,
        removed_at=record.removed_at,
        items=[
            wire.CaseItemOut(
                item=i.item_ref,
                kind=i.kind,
                trust=i.trust,
                state=i.state,
                csam=i.csam,
                created_at=i.created_at,
                state_changed_at=i.state_changed_at,
                matches=i.matches,
                verdicts=dict(i.verdicts),
            )
            for i in record.items
        ],
    )


def case_erasure(erasure: casework.CaseErasure) -> wire.CaseErasureOut:
    """What erasing a case did."""
    return wire.CaseErasureOut(
        case_number=erasure.case_number,
        deleted_items=list(erasure.deleted_items),
        already_removed=erasure.already_removed,
        removed_at=erasure.removed_at,
    )


def flagged_item(item: casework.FlaggedItem) -> wire.FlaggedItemOut:
    """An item flagged ``csam``."""
    return wire.FlaggedItemOut(
        item=item.item_ref,
        case_number=item.case_number,
        kind=item.kind,
        trust=item.trust,
        state=item.state,
        created_at=item.created_at,
        csam_verdicts=item.csam_verdicts,
        platforms=list(item.platforms),
        first_flagged_at=item.first_flagged_at,
    )


def allowlist_entry(entry: moderation.AllowlistInfo) -> wire.AllowlistEntryOut:
    """An allowlist entry."""
    return wire.AllowlistEntryOut(
        id=entry.id,
        type=entry.type,
        value=entry.value,
        quality=entry.quality,
        note=entry.note,
        created_at=entry.created_at,
        added=entry.added,
    )


def audit_record(record: audit.AuditRecord) -> wire.AuditOut:
    """One audit row."""
    return wire.AuditOut(
        id=record.id,
        actor=record.actor,
        actor_key_id=record.actor_key_id,
        action=record.action,
        target=record.target,
        details=record.details,
        created_at=record.created_at,
    )


def retention_report(report: retention.RetentionReport) -> wire.RetentionOut:
    """One retention run."""
    return wire.RetentionOut(
        ran_at=report.ran_at,
        deleted=report.deleted,
        platforms=[
            wire.PlatformRetentionOut(
                platform=p.platform,
                retention_days=p.retention_days,
                cutoff=p.cutoff,
                deleted=p.deleted,
            )
            for p in report.platforms
        ],
    )
