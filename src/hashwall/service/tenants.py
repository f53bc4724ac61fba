"""The tenants: organisations, their platforms and each one's policy, intake partners."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hashwall.domain import Actor, Organisation, Partner, Platform, PlatformPolicy, UnvouchedAnswer
from hashwall.errors import InvalidInput
from hashwall.service.audit import (
    ORGANISATION_ADDED,
    PARTNER_ADDED,
    PLATFORM_ADDED,
    PLATFORM_POLICY_SET,
)
from hashwall.service.context import ServiceContext
from hashwall.service.operator import (
    clean_name,
    find_organisation,
    find_platform,
    require_operator,
)
from hashwall.service.signal_policy import (
    effective_thresholds,
    threshold_changes,
    validate_thresholds,
)
from hashwall.store import events as event_log
from hashwall.store.repo import Repository


@dataclass(frozen=True, slots=True)
class OrganisationInfo:
    """An organisation, as the operator sees it."""

    name: str
    created_at: datetime

    @classmethod
    def of(cls, org: Organisation) -> OrganisationInfo:
        """From a store row."""
        return cls(name=org.name, created_at=org.created_at)


@dataclass(frozen=True, slots=True)
class PlatformInfo:
    """A platform with its organisation's name and its policy."""

    name: str
    organisation: str
    policy: PlatformPolicy
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PartnerInfo:
    """An intake partner."""

    name: str
    created_at: datetime

    @classmethod
    def of(cls, partner: Partner) -> PartnerInfo:
        """From a store row."""
        return cls(name=partner.name, created_at=partner.created_at)


@dataclass(frozen=True, slots=True)
class PolicyUpdate:
    """Changes to a platform's policy: ``None`` keeps the current value.

    The merged policy is validated as a whole (:class:`PlatformPolicy`): each radius in
    ``thresholds`` within its signal type's range (PDQ 0..31), unvouched answer ``review`` (the
    default) or ``allow``, video percentages 1..100, retention days >= 0. ``thresholds`` changes
    the radius of the types it names and keeps the others'.
    """

    thresholds: Mapping[str, int] | None = None
    reveal_distance: bool | None = None
    reveal_orientation: bool | None = None
    unvouched_answer: UnvouchedAnswer | None = None
    video_upload_percent: int | None = None
    video_bank_percent: int | None = None
    retention_days: int | None = None

    def __post_init__(self) -> None:
        if self.thresholds is not None:
            if not isinstance(self.thresholds, Mapping):
                raise InvalidInput("thresholds maps signal types to radii")
            validate_thresholds(self.thresholds)
        for name in (
            "video_upload_percent",
            "video_bank_percent",
            "retention_days",
        ):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidInput(f"{name} must be an integer")
        for name in ("reveal_distance", "reveal_orientation"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise InvalidInput(f"{name} must be true or false")
        if self.unvouched_answer is not None and not isinstance(self.unvouched_answer, str):
            raise InvalidInput("unvouched_answer must be review or allow")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> PolicyUpdate:
        """From a JSON object; unknown fields are :class:`~hashwall.errors.InvalidInput`.

        A signal type's older field (``pdq_threshold``) is read as its entry in ``thresholds``.
        """
        fields, radii = threshold_changes(raw)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise InvalidInput(
                f"unknown policy field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        if radii:
            fields["thresholds"] = radii
        return cls(**fields)

    def changes(self) -> dict[str, Any]:
        """The fields that are set."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }

    def apply(self, policy: PlatformPolicy) -> PlatformPolicy:
        """``policy`` with these changes, validated."""
        changes = self.changes()
        radii = changes.pop("thresholds", None)
        if radii is not None:
            changes["thresholds"] = {**policy.thresholds, **validate_thresholds(radii)}
        return dataclasses.replace(policy, **changes)


def _platform_info(repo: Repository, platform: Platform) -> PlatformInfo:
    org = repo.get_organisation_by_id(platform.organisation_id)
    return PlatformInfo(
        name=platform.name,
        organisation=org.name if org is not None else "",
        policy=platform.policy,
        created_at=platform.created_at,
    )


def add_organisation(ctx: ServiceContext, actor: Actor, name: str) -> OrganisationInfo:
    """Create an organisation (a company that owns platforms); ``already_exists`` if taken."""
    require_operator(actor)
    clean = clean_name(name, "organisation")
    with ctx.store.write() as repo:
        org = repo.add_organisation(clean)
        repo.add_audit(ORGANISATION_ADDED, actor_key_id=actor.key_id, target=clean)
    return OrganisationInfo.of(org)


def list_organisations(ctx: ServiceContext, actor: Actor) -> list[OrganisationInfo]:
    """All organisations, by name."""
    require_operator(actor)
    with ctx.store.read() as repo:
        return [OrganisationInfo.of(org) for org in repo.list_organisations()]


def default_policy(ctx: ServiceContext) -> PlatformPolicy:
    """A new platform's policy: :class:`PlatformPolicy` defaults, every distance type's default
    radius, retention from the settings."""
    return PlatformPolicy(
        thresholds=effective_thresholds(PlatformPolicy()),
        retention_days=ctx.settings.match_retention_days,
    )


def add_platform(
    ctx: ServiceContext,
    actor: Actor,
    *,
    organisation: str,
    name: str,
    policy: PolicyUpdate | None = None,
) -> PlatformInfo:
    """Create a platform of ``organisation`` with :func:`default_policy` plus ``policy``."""
    require_operator(actor)
    clean = clean_name(name, "platform")
    full_policy = (policy or PolicyUpdate()).apply(default_policy(ctx))
    with ctx.store.write() as repo:
        org = find_organisation(repo, organisation)
        platform = repo.add_platform(org.id, clean, full_policy)
        repo.add_audit(
            PLATFORM_ADDED,
            actor_key_id=actor.key_id,
            target=clean,
            details={"organisation": org.name, "policy": full_policy.to_dict()},
        )
        return _platform_info(repo, platform)


def list_platforms(
    ctx: ServiceContext, actor: Actor, *, organisation: str | None = None
) -> list[PlatformInfo]:
    """All platforms (of one organisation if named), by name, with their policies."""
    require_operator(actor)
    with ctx.store.read() as repo:
        org_id = find_organisation(repo, organisation).id if organisation is not None else None
        names = {org.id: org.name for org in repo.list_organisations()}
        return [
            PlatformInfo(
                name=p.name,
                organisation=names.get(p.organisation_id, ""),
                policy=p.policy,
                created_at=p.created_at,
            )
            for p in repo.list_platforms(org_id)
        ]


def set_platform_policy(
    ctx: ServiceContext, actor: Actor, platform: str, update: PolicyUpdate
) -> PlatformInfo:
    """Change some fields of a platform's policy; the result is validated as a whole."""
    require_operator(actor)
    with ctx.store.write() as repo:
        current = find_platform(repo, platform)
        new_policy = update.apply(current.policy)
        updated = repo.set_platform_policy(current.id, new_policy)
        repo.add_audit(
            PLATFORM_POLICY_SET,
            actor_key_id=actor.key_id,
            target=current.name,
            details={"changes": update.changes(), "policy": new_policy.to_dict()},
        )
        # Serving processes hold the policy with the platform's keys: tell them (in this
        # transaction, so the event exists exactly when the change does).
        event = repo.append_event(event_log.PLATFORM_CHANGED, {"platform_id": current.id})
        info = _platform_info(repo, updated)
    if ctx.live is not None:
        ctx.live.keys.platform_changed(current.id, event.seq)
    return info


def add_partner(ctx: ServiceContext, actor: Actor, name: str) -> PartnerInfo:
    """Create an intake partner (helpline, hotline); ``already_exists`` if the name is taken."""
    require_operator(actor)
    clean = clean_name(name, "partner")
    with ctx.store.write() as repo:
        partner = repo.add_partner(clean)
        repo.add_audit(PARTNER_ADDED, actor_key_id=actor.key_id, target=clean)
    return PartnerInfo.of(partner)


def list_partners(ctx: ServiceContext, actor: Actor) -> list[PartnerInfo]:
    """All intake partners, by name."""
    require_operator(actor)
    with ctx.store.read() as repo:
        return [PartnerInfo.of(p) for p in repo.list_partners()]
