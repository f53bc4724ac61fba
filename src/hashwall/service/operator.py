"""The operator's use cases: organisations, platforms and policies, partners, API keys,
quarantine decisions, the allowlist and the audit log; and :func:`authenticate` for the API.

Every function takes the :class:`~hashwall.service.context.ServiceContext` and the acting
:class:`~hashwall.service.context.Actor` first; the actor must be the ``operator`` (the CLI on
the store, no key) or hold an ``admin`` key, else :class:`~hashwall.errors.Forbidden`. Every
state change writes an ``audit`` row with the acting key id (``None`` for the CLI operator) in
the same transaction as the change. Results are frozen dataclasses with ``to_dict()`` (the
``--json`` and API form); they carry public identifiers and names, never row ids or secrets.

Usage::

    ctx = ServiceContext(Store.from_url(settings.database_url), settings)
    op = Actor.operator()
    add_organisation(ctx, op, "Example Social")
    add_platform(ctx, op, organisation="Example Social", name="photos")
    created = create_api_key(ctx, op, role="platform", platform="photos", scopes=["check"])
    created.key                       # "<key_id>.<secret>": shown once, stored as a hash
    actor = authenticate(ctx, created.key)   # Actor(kind="platform", ...) or InvalidKey
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from hashwall.domain import (
    PLATFORM_SCOPES,
    ROLES,
    Actor,
    AllowlistEntry,
    ApiKey,
    AuditEntry,
    Item,
    Organisation,
    Partner,
    Platform,
    PlatformPolicy,
    Role,
    Scope,
    UnvouchedAnswer,
)
from hashwall.errors import InvalidHash, InvalidInput, InvalidKey, InvalidState, NotFound
from hashwall.hashing.pdq import ORIENTATIONS, PdqHash
from hashwall.hashing.signals import Signal
from hashwall.service.context import ServiceContext
from hashwall.service.keys import CachedKey
from hashwall.store import events as event_log
from hashwall.store.credentials import (
    format_api_key,
    hash_api_secret,
    new_api_secret,
    parse_api_key,
    verify_api_secret,
)
from hashwall.store.events import ITEM_DELETED, ITEM_REINSTATED
from hashwall.store.repo import Repository

#: Longest organisation, platform or partner name (the column width).
MAX_NAME_LENGTH: Final = 200
#: Longest key label.
MAX_LABEL_LENGTH: Final = 200
#: Longest string :func:`authenticate` looks at (a real key is about 65 characters).
MAX_KEY_LENGTH: Final = 256
#: Most rows one listing returns.
MAX_LIST_LIMIT: Final = 1000
#: Longest reason for an audited deletion or erasure.
MAX_REASON_LENGTH: Final = 500

# Audit actions (stable strings: operators filter on them).
ORGANISATION_ADDED: Final = "organisation_added"
PLATFORM_ADDED: Final = "platform_added"
PLATFORM_POLICY_SET: Final = "platform_policy_set"
PARTNER_ADDED: Final = "partner_added"
API_KEY_CREATED: Final = "api_key_created"
API_KEY_REVOKED: Final = "api_key_revoked"
ITEM_REINSTATED_ACTION: Final = "item_reinstated"
ITEM_DELETED_ACTION: Final = "item_deleted"
ALLOWLIST_ADDED: Final = "allowlist_added"
ALLOWLIST_REMOVED: Final = "allowlist_removed"

INVALID_KEY_MESSAGE: Final = (
    "the API key is not valid (unknown, revoked or malformed); ask the operator for a key"
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def require_operator(actor: Actor) -> None:
    """Raise :class:`~hashwall.errors.Forbidden` unless ``actor`` is the operator or an admin."""
    actor.require("operator", "admin")


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrganisationInfo:
    """An organisation, as the operator sees it."""

    name: str
    created_at: datetime

    @classmethod
    def of(cls, org: Organisation) -> OrganisationInfo:
        """From a store row."""
        return cls(name=org.name, created_at=org.created_at)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "created_at": _iso(self.created_at)}


@dataclass(frozen=True, slots=True)
class PlatformInfo:
    """A platform with its organisation's name and its policy."""

    name: str
    organisation: str
    policy: PlatformPolicy
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``policy`` nested)."""
        return {
            "name": self.name,
            "organisation": self.organisation,
            "policy": self.policy.to_dict(),
            "created_at": _iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class PartnerInfo:
    """An intake partner."""

    name: str
    created_at: datetime

    @classmethod
    def of(cls, partner: Partner) -> PartnerInfo:
        """From a store row."""
        return cls(name=partner.name, created_at=partner.created_at)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "created_at": _iso(self.created_at)}


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """An API key without its secret (listings never show secrets or their hashes)."""

    key_id: str
    role: Role
    scopes: tuple[Scope, ...]
    platform: str | None
    partner: str | None
    label: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        """Whether the key has been revoked."""
        return self.revoked_at is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``id`` is the public key id."""
        return {
            "id": self.key_id,
            "role": self.role,
            "scopes": list(self.scopes),
            "platform": self.platform,
            "partner": self.partner,
            "label": self.label,
            "created_at": _iso(self.created_at),
            "revoked_at": _iso(self.revoked_at),
            "revoked": self.revoked,
        }


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key and the full ``<key_id>.<secret>`` string, shown this once and never again."""

    info: KeyInfo
    key: str = dataclasses.field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the key's fields plus ``key`` (the secret string)."""
        return {"id": self.info.key_id, "key": self.key, **_without_id(self.info.to_dict())}


def _without_id(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "id"}


@dataclass(frozen=True, slots=True)
class PolicyUpdate:
    """Changes to a platform's policy: ``None`` keeps the current value.

    The merged policy is validated as a whole (:class:`PlatformPolicy`): PDQ threshold 0..31,
    unvouched answer ``review`` (the default) or ``allow``, video percentages 1..100,
    retention days >= 0.
    """

    pdq_threshold: int | None = None
    reveal_distance: bool | None = None
    reveal_orientation: bool | None = None
    unvouched_answer: UnvouchedAnswer | None = None
    video_upload_percent: int | None = None
    video_bank_percent: int | None = None
    retention_days: int | None = None

    def __post_init__(self) -> None:
        for name in (
            "pdq_threshold",
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
        """From a JSON object; unknown fields are :class:`~hashwall.errors.InvalidInput`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise InvalidInput(
                f"unknown policy field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**dict(raw))

    def changes(self) -> dict[str, Any]:
        """The fields that are set."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }

    def apply(self, policy: PlatformPolicy) -> PlatformPolicy:
        """``policy`` with these changes, validated."""
        return dataclasses.replace(policy, **self.changes())


@dataclass(frozen=True, slots=True)
class QuarantinedItem:
    """An item waiting for the operator, with what led there (no case data, no hash values)."""

    item_ref: str
    kind: str
    trust: str
    state: str
    csam: bool
    created_at: datetime
    state_changed_at: datetime | None
    not_ncii_verdicts: int
    not_ncii_organisations: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "item": self.item_ref,
            "kind": self.kind,
            "trust": self.trust,
            "state": self.state,
            "csam": self.csam,
            "created_at": _iso(self.created_at),
            "state_changed_at": _iso(self.state_changed_at),
            "not_ncii_verdicts": self.not_ncii_verdicts,
            "not_ncii_organisations": self.not_ncii_organisations,
        }


@dataclass(frozen=True, slots=True)
class ItemStateChange:
    """The outcome of a quarantine decision: the item, its states before and after, the event."""

    item_ref: str
    previous_state: str
    state: str
    event_seq: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "item": self.item_ref,
            "previous_state": self.previous_state,
            "state": self.state,
            "event_seq": self.event_seq,
        }


@dataclass(frozen=True, slots=True)
class AllowlistInfo:
    """An allowlist entry (``id`` is the entry number used by ``allowlist remove``)."""

    id: int
    type: str
    value: str
    quality: int | None
    note: str | None
    created_at: datetime
    added: bool = False

    @classmethod
    def of(cls, entry: AllowlistEntry, *, added: bool = False) -> AllowlistInfo:
        """From a store row; ``added`` is True when this call created it."""
        return cls(
            id=entry.id,
            type=entry.type,
            value=entry.value,
            quality=entry.quality,
            note=entry.note,
            created_at=entry.created_at,
            added=added,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "type": self.type,
            "value": self.value,
            "quality": self.quality,
            "note": self.note,
            "created_at": _iso(self.created_at),
            "added": self.added,
        }


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit row: who, what, on what, when.

    ``actor`` names who acted as role and name: ``operator`` (the CLI on the store),
    ``admin:KEY_ID`` (an admin key), ``partner:NAME``, ``platform:NAME``, or ``reporter`` (the
    anonymous channel). ``actor_key_id`` is the key used (``None`` without a key).
    """

    id: int
    actor: str
    actor_key_id: str | None
    action: str
    target: str | None
    details: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, entry: AuditEntry, owners: Mapping[str, str] | None = None) -> AuditRecord:
        """From a store row; ``owners`` maps key ids to ``platform:NAME`` / ``partner:NAME``."""
        return cls(
            id=entry.id,
            actor=_actor_label(entry, owners or {}),
            actor_key_id=entry.actor_key_id,
            action=entry.action,
            target=entry.target,
            details=dict(entry.details),
            created_at=entry.created_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "actor": self.actor,
            "actor_key_id": self.actor_key_id,
            "action": self.action,
            "target": self.target,
            "details": self.details,
            "created_at": _iso(self.created_at),
        }


def _actor_label(entry: AuditEntry, owners: Mapping[str, str]) -> str:
    key_id = entry.actor_key_id
    if key_id is not None and key_id in owners:
        return owners[key_id]
    role = entry.actor_role or ("operator" if key_id is None else "key")
    if role in ("operator", "reporter") or key_id is None:
        return role
    return f"{role}:{key_id}"  # an admin key, or a key whose owner is gone


# --- validation helpers ----------------------------------------------------------------------


def _name(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"a {what} name is text")
    name = value.strip()
    if not name:
        raise InvalidInput(f"a {what} name cannot be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"a {what} name has at most {MAX_NAME_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidInput(f"a {what} name cannot contain control characters")
    return name


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidInput(f"limit must be from 1 to {MAX_LIST_LIMIT}")
    return limit


def _organisation(repo: Repository, name: str) -> Organisation:
    org = repo.get_organisation(name)
    if org is None:
        raise NotFound(f"no organisation named {name!r}; see `hashwall org list`")
    return org


def _platform(repo: Repository, name: str) -> Platform:
    platform = repo.get_platform(name)
    if platform is None:
        raise NotFound(f"no platform named {name!r}; see `hashwall platform list`")
    return platform


def _partner(repo: Repository, name: str) -> Partner:
    partner = repo.get_partner(name)
    if partner is None:
        raise NotFound(f"no partner named {name!r}; see `hashwall partner list`")
    return partner


def _item(repo: Repository, item_ref: str) -> Item:
    item = repo.get_item(item_ref.strip(), for_update=True) if isinstance(item_ref, str) else None
    if item is None:
        raise NotFound(f"no item {item_ref!r}")
    return item


def _platform_info(repo: Repository, platform: Platform) -> PlatformInfo:
    org = repo.get_organisation_by_id(platform.organisation_id)
    return PlatformInfo(
        name=platform.name,
        organisation=org.name if org is not None else "",
        policy=platform.policy,
        created_at=platform.created_at,
    )


def _key_info(key: ApiKey, platforms: Mapping[int, str], partners: Mapping[int, str]) -> KeyInfo:
    return KeyInfo(
        key_id=key.key_id,
        role=key.role,
        scopes=key.scopes,
        platform=platforms.get(key.platform_id) if key.platform_id is not None else None,
        partner=partners.get(key.partner_id) if key.partner_id is not None else None,
        label=key.label,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


def _one_key_info(repo: Repository, key: ApiKey) -> KeyInfo:
    platforms: dict[int, str] = {}
    partners: dict[int, str] = {}
    if key.platform_id is not None:
        platform = repo.get_platform_by_id(key.platform_id)
        if platform is not None:
            platforms[platform.id] = platform.name
    if key.partner_id is not None:
        partner = repo.get_partner_by_id(key.partner_id)
        if partner is not None:
            partners[partner.id] = partner.name
    return _key_info(key, platforms, partners)


# --- organisations, platforms, partners ------------------------------------------------------


def add_organisation(ctx: ServiceContext, actor: Actor, name: str) -> OrganisationInfo:
    """Create an organisation (a company that owns platforms); ``already_exists`` if taken."""
    require_operator(actor)
    clean = _name(name, "organisation")
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
    """A new platform's policy: :class:`PlatformPolicy` defaults, retention from the settings."""
    return PlatformPolicy(retention_days=ctx.settings.match_retention_days)


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
    clean = _name(name, "platform")
    full_policy = (policy or PolicyUpdate()).apply(default_policy(ctx))
    with ctx.store.write() as repo:
        org = _organisation(repo, organisation)
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
        org_id = _organisation(repo, organisation).id if organisation is not None else None
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
        current = _platform(repo, platform)
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
    clean = _name(name, "partner")
    with ctx.store.write() as repo:
        partner = repo.add_partner(clean)
        repo.add_audit(PARTNER_ADDED, actor_key_id=actor.key_id, target=clean)
    return PartnerInfo.of(partner)


def list_partners(ctx: ServiceContext, actor: Actor) -> list[PartnerInfo]:
    """All intake partners, by name."""
    require_operator(actor)
    with ctx.store.read() as repo:
        return [PartnerInfo.of(p) for p in repo.list_partners()]


# --- API keys --------------------------------------------------------------------------------


def _scopes(role: str, scopes: Iterable[str] | None) -> tuple[Scope, ...]:
    given = sorted(set(scopes)) if scopes is not None else None
    if role != "platform":
        if given:
            raise InvalidInput("only platform keys have scopes")
        return ()
    if given is None:
        return PLATFORM_SCOPES
    if not given:
        raise InvalidInput(
            f"a platform key needs at least one scope of {', '.join(PLATFORM_SCOPES)}"
        )
    for scope in given:
        if scope not in PLATFORM_SCOPES:
            raise InvalidInput(f"scope must be one of {', '.join(PLATFORM_SCOPES)}, not {scope!r}")
    return cast(tuple[Scope, ...], tuple(given))


def create_api_key(
    ctx: ServiceContext,
    actor: Actor,
    *,
    role: str,
    platform: str | None = None,
    partner: str | None = None,
    scopes: Iterable[str] | None = None,
    label: str | None = None,
) -> CreatedKey:
    """Create an API key and return it with its full ``<key_id>.<secret>``, shown only once.

    ``admin`` keys have no owner; ``intake`` keys belong to a ``partner``; ``platform`` keys to
    a ``platform``, with ``scopes`` among ``check``, ``feed``, ``verdict`` (default: all
    three). Only a hash of the secret is stored.
    """
    require_operator(actor)
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "platform" and (platform is None or partner is not None):
        raise InvalidInput("a platform key names its platform (--platform), and no partner")
    if role == "intake" and (partner is None or platform is not None):
        raise InvalidInput("an intake key names its partner (--partner), and no platform")
    if role == "admin" and (platform is not None or partner is not None):
        raise InvalidInput("an admin key has no platform and no partner")
    scope_tuple = _scopes(role, scopes)
    clean_label = label.strip() if label is not None else None
    if clean_label is not None and len(clean_label) > MAX_LABEL_LENGTH:
        raise InvalidInput(f"a key label has at most {MAX_LABEL_LENGTH} characters")
    secret = new_api_secret()
    with ctx.store.write() as repo:
        owner_platform = _platform(repo, platform) if platform is not None else None
        owner_partner = _partner(repo, partner) if partner is not None else None
        key = repo.add_api_key(
            role=role,
            secret_hash=hash_api_secret(secret),
            scopes=scope_tuple,
            platform_id=owner_platform.id if owner_platform is not None else None,
            partner_id=owner_partner.id if owner_partner is not None else None,
            label=clean_label or None,
        )
        info = _key_info(
            key,
            {owner_platform.id: owner_platform.name} if owner_platform is not None else {},
            {owner_partner.id: owner_partner.name} if owner_partner is not None else {},
        )
        repo.add_audit(
            API_KEY_CREATED,
            actor_key_id=actor.key_id,
            target=key.key_id,
            details={
                "role": role,
                "scopes": list(scope_tuple),
                "platform": info.platform,
                "partner": info.partner,
            },
        )
    return CreatedKey(info=info, key=format_api_key(key.key_id, secret))


def list_api_keys(
    ctx: ServiceContext, actor: Actor, *, include_revoked: bool = True
) -> list[KeyInfo]:
    """All keys, oldest first, without secrets or secret hashes."""
    require_operator(actor)
    with ctx.store.read() as repo:
        platforms = {p.id: p.name for p in repo.list_platforms()}
        partners = {p.id: p.name for p in repo.list_partners()}
        return [
            _key_info(key, platforms, partners)
            for key in repo.list_api_keys(include_revoked=include_revoked)
        ]


def revoke_api_key(ctx: ServiceContext, actor: Actor, key_id: str) -> KeyInfo:
    """Revoke a key (idempotent; the first revocation time is kept); ``not_found`` if unknown.

    A key id, or a full ``<key_id>.<secret>`` string, is accepted (only the id part is used).
    """
    require_operator(actor)
    wanted = key_id.strip().partition(".")[0]
    with ctx.store.write() as repo:
        key = repo.get_api_key(wanted)
        if key is None:
            raise NotFound(f"no API key {wanted!r}; see `hashwall key list`")
        already = key.revoked
        revoked = repo.revoke_api_key(wanted)
        if not already:
            repo.add_audit(API_KEY_REVOKED, actor_key_id=actor.key_id, target=wanted)
            # Every serving process drops the key when its follower reads this event.
            repo.append_event(event_log.API_KEY_REVOKED, {"key_id": wanted})
        info = _one_key_info(repo, revoked)
    if ctx.live is not None:
        ctx.live.keys.revoke(wanted)  # this process: at once
    return info


def authenticate(ctx: ServiceContext, presented: str) -> Actor:
    """The :class:`Actor` of a presented ``<key_id>.<secret>`` string.

    Unknown, revoked and malformed keys all raise the same :class:`~hashwall.errors.InvalidKey`
    (``invalid_key``, 401) with the same message, and an unknown key id still costs one secret
    hash, so the answer says nothing about which keys exist.
    """
    return _authenticate(ctx, presented, with_platform=False)[0]


def authenticate_with_platform(
    ctx: ServiceContext, presented: str
) -> tuple[Actor, Platform | None]:
    """:func:`authenticate`, plus the key's platform row read in the same transaction.

    The platform is ``None`` for keys of no platform (or whose platform no longer exists). A
    check can use it instead of reading the platform again (one store transaction fewer).
    """
    return _authenticate(ctx, presented, with_platform=True)


def authenticate_from_memory(
    ctx: ServiceContext, presented: str
) -> tuple[Actor, Platform | None] | None:
    """:func:`authenticate_with_platform` from the process's key cache alone, without the store.

    None when the store must decide: no live index following the log (or lagging more than
    ``settings.index_max_lag``), a key id not cached, a wrong secret, a malformed key. Then
    call :func:`authenticate_and_remember`. Costs one secret hash, like a store verification.
    See ``service/keys.py`` for how revocations reach the cache.
    """
    live = ctx.live
    if live is None or not live.keys_current:
        return None
    parsed = _parse(presented)
    if parsed is None:
        return None
    key_id, secret = parsed
    entry = live.keys.get(key_id)
    # Hash before looking at the entry: the same work whether the key id is cached or not.
    matched = verify_api_secret(entry.secret_hash if entry is not None else "", secret)
    if entry is None or not matched:
        return None  # the store decides, with the same work for unknown ids and wrong secrets
    return entry.actor, entry.platform


def authenticate_and_remember(ctx: ServiceContext, presented: str) -> tuple[Actor, Platform | None]:
    """:func:`authenticate_with_platform`, then keep the verified key in the key cache.

    Only a key that verified is kept; an unknown id, a wrong secret or a revoked key raise
    ``invalid_key`` as before and leave nothing in memory.
    """
    return _authenticate(ctx, presented, with_platform=True, remember=True)


def _parse(presented: str) -> tuple[str, str] | None:
    if not isinstance(presented, str) or len(presented) > MAX_KEY_LENGTH:
        return None
    return parse_api_key(presented)


def _authenticate(
    ctx: ServiceContext, presented: str, *, with_platform: bool, remember: bool = False
) -> tuple[Actor, Platform | None]:
    parsed = _parse(presented)
    if parsed is None:
        raise InvalidKey(INVALID_KEY_MESSAGE)
    key_id, secret = parsed
    platform: Platform | None = None
    keys = ctx.live.keys if remember and ctx.live is not None else None
    read_after = keys.cursor if keys is not None else 0  # before the read: see KeyCache.put
    with ctx.store.read() as repo:
        key = repo.get_api_key(key_id)
        if key is None:
            hash_api_secret(secret)  # the same work as a wrong secret
            raise InvalidKey(INVALID_KEY_MESSAGE)
        if not verify_api_secret(key.secret_hash, secret) or key.revoked:
            raise InvalidKey(INVALID_KEY_MESSAGE)
        if with_platform and key.platform_id is not None:
            # only for a valid key: a wrong secret costs the same whether the key id exists
            platform = repo.get_platform_by_id(key.platform_id)
    actor = Actor(
        kind=key.role,
        key_id=key.key_id,
        platform_id=key.platform_id,
        partner_id=key.partner_id,
        scopes=frozenset(key.scopes),
    )
    if keys is not None:
        keys.put(key.key_id, CachedKey(key.secret_hash, actor, platform), read_after)
    return actor, platform


# --- quarantine ------------------------------------------------------------------------------


def list_quarantine(
    ctx: ServiceContext, actor: Actor, *, limit: int = 100, after: str | None = None
) -> list[QuarantinedItem]:
    """Quarantined items, oldest first, paged by ``after`` (the last item ref of a page)."""
    require_operator(actor)
    _limit(limit)
    with ctx.store.read() as repo:
        after_id = 0
        if after is not None:
            anchor = repo.get_item(after.strip())
            if anchor is None:
                raise NotFound(f"no item {after!r}")
            after_id = anchor.id
        queue = repo.list_items_by_state("quarantined", limit=limit, after_id=after_id)
        result = []
        for item in queue:
            not_ncii = repo.list_verdicts(item.id, verdict="not_ncii")
            result.append(
                QuarantinedItem(
                    item_ref=item.item_ref,
                    kind=item.kind,
                    trust=item.trust,
                    state=item.state,
                    csam=item.csam,
                    created_at=item.created_at,
                    state_changed_at=item.state_changed_at,
                    not_ncii_verdicts=len(not_ncii),
                    not_ncii_organisations=len({v.organisation_id for v in not_ncii}),
                )
            )
        return result


def reinstate_item(ctx: ServiceContext, actor: Actor, item_ref: str) -> ItemStateChange:
    """Return a quarantined item to ``active`` (it blocks again per its trust).

    Writes an ``item_reinstated`` event; ``invalid_state`` unless the item is quarantined.
    """
    require_operator(actor)
    with ctx.store.write() as repo:
        item = _item(repo, item_ref)
        if item.state != "quarantined":
            raise InvalidState(f"item {item.item_ref} is {item.state}, not quarantined")
        updated = repo.set_item_state(item.id, "active")
        repo.add_audit(
            ITEM_REINSTATED_ACTION,
            actor_key_id=actor.key_id,
            target=item.item_ref,
            details={"previous_state": item.state},
        )
        event = repo.append_event(
            ITEM_REINSTATED, {"item": item.item_ref, "state": "active"}, item=updated
        )
    return ItemStateChange(item.item_ref, item.state, "active", event.seq)


def delete_quarantined_item(ctx: ServiceContext, actor: Actor, item_ref: str) -> ItemStateChange:
    """The operator's decision on a quarantined item: delete it (see :func:`delete_item`).

    ``invalid_state`` unless the item is quarantined: an active item is deleted only on purpose,
    with :func:`delete_item` and a reason (``hashwall item delete``).
    """
    require_operator(actor)
    with ctx.store.write() as repo:
        item = _item(repo, item_ref)
        if item.state != "quarantined":
            raise InvalidState(
                f"item {item.item_ref} is {item.state}, not quarantined; to delete an item that "
                "is not quarantined use `hashwall item delete ITEM --reason ...`"
            )
        return delete_live_item(repo, actor, item)


def delete_item(
    ctx: ServiceContext, actor: Actor, item_ref: str, *, reason: str | None = None
) -> ItemStateChange:
    """Delete a live item (active or quarantined): state ``deleted``, hash values gone.

    ``reason`` (why an active item goes; at most 500 characters) is kept in the audit row.
    ``invalid_state`` if the item is already withdrawn or deleted.
    """
    require_operator(actor)
    details = {"reason": clean_reason(reason)} if reason is not None else None
    with ctx.store.write() as repo:
        return delete_live_item(repo, actor, _item(repo, item_ref), details=details)


def clean_reason(reason: str) -> str:
    """A reason for an audited action: text, not empty, at most 500 characters."""
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise InvalidInput("give a reason (it is kept in the audit log)")
    if len(text) > MAX_REASON_LENGTH:
        raise InvalidInput(f"a reason has at most {MAX_REASON_LENGTH} characters")
    return text


def delete_live_item(
    repo: Repository,
    actor: Actor,
    item: Item,
    *,
    action: str = ITEM_DELETED_ACTION,
    details: Mapping[str, Any] | None = None,
) -> ItemStateChange:
    """Delete a live item inside the caller's transaction: state ``deleted``, hashes gone.

    The item's signal rows (and, as on withdrawal, its exemptions and the upload hashes of its
    matches and verdicts) are deleted, an audit row ``action`` and an ``item_deleted`` event
    are written, and the values in its earlier events are erased. ``invalid_state`` if the
    item is already withdrawn or deleted (its values are gone already).
    """
    if not item.live:
        raise InvalidState(f"item {item.item_ref} is already {item.state}")
    updated = repo.set_item_state(item.id, "deleted")
    repo.erase_item_hashes(item.id)  # as for a withdrawal
    repo.add_audit(
        action,
        actor_key_id=actor.key_id,
        target=item.item_ref,
        details={"previous_state": item.state, **(details or {})},
    )
    event = repo.append_event(
        ITEM_DELETED, {"item": item.item_ref, "state": "deleted"}, item=updated
    )
    return ItemStateChange(item.item_ref, item.state, "deleted", event.seq)


# --- allowlist -------------------------------------------------------------------------------


def _parse_signal(raw: Signal | Mapping[str, Any]) -> Signal:
    return Signal.parse(raw.to_dict() if isinstance(raw, Signal) else raw)


def add_to_allowlist(
    ctx: ServiceContext,
    actor: Actor,
    signals: Sequence[Signal | Mapping[str, Any]],
    *,
    note: str | None = None,
    pdq_orientations: Sequence[str] = (),
) -> list[AllowlistInfo]:
    """Allowlist signals of an image known not to be NCII (refused at intake, never matched).

    ``pdq_orientations``: the image's 8 dihedral PDQ hashes (computed from the image: a PDQ
    hash alone does not give them). Each becomes a PDQ entry too, so that a rotated or mirrored
    copy is refused at intake and never answers ``block`` (a check of one PDQ, an item banked
    without orientations). Every signal is validated (:meth:`Signal.parse`, ``invalid_hash``)
    before anything is written. Idempotent: an entry already there is returned with ``added``
    False.
    """
    require_operator(actor)
    if not signals:
        raise InvalidInput("give at least one signal to allowlist")
    parsed = [_parse_signal(s) for s in signals]
    if pdq_orientations:
        pdq = next((s for s in parsed if s.type == "pdq"), None)
        if pdq is None or len(pdq_orientations) != len(ORIENTATIONS):
            raise InvalidHash("send all 8 orientation hashes with the image's pdq signal")
        for value in pdq_orientations:
            turned = Signal("pdq", PdqHash.from_hex(value).hex, pdq.quality)
            if turned not in parsed:
                parsed.append(turned)
    clean_note = note.strip() if note is not None else None
    if clean_note is not None and len(clean_note) > 500:
        raise InvalidInput("an allowlist note has at most 500 characters")
    result = []
    with ctx.store.write() as repo:
        for signal in parsed:
            existed = bool(repo.find_allowlisted(signal.type, [signal.value]))
            entry = repo.add_to_allowlist(signal, note=clean_note or None)
            if not existed:
                repo.add_audit(
                    ALLOWLIST_ADDED,
                    actor_key_id=actor.key_id,
                    target=f"allowlist:{entry.id}",
                    details={"type": entry.type},
                )
            result.append(AllowlistInfo.of(entry, added=not existed))
    return result


def list_allowlist(
    ctx: ServiceContext,
    actor: Actor,
    *,
    signal_type: str | None = None,
    limit: int = 100,
    after_id: int = 0,
) -> list[AllowlistInfo]:
    """Allowlist entries by entry id, paged by ``after_id``, of one signal type if given."""
    require_operator(actor)
    _limit(limit)
    with ctx.store.read() as repo:
        entries = repo.list_allowlist(signal_type=signal_type, limit=limit, after_id=after_id)
        return [AllowlistInfo.of(e) for e in entries]


def remove_from_allowlist(ctx: ServiceContext, actor: Actor, entry_id: int) -> None:
    """Remove an allowlist entry by its id; ``not_found`` if there is none."""
    require_operator(actor)
    with ctx.store.write() as repo:
        repo.remove_from_allowlist(entry_id)
        repo.add_audit(ALLOWLIST_REMOVED, actor_key_id=actor.key_id, target=f"allowlist:{entry_id}")


# --- audit -----------------------------------------------------------------------------------


def list_audit(
    ctx: ServiceContext,
    actor: Actor,
    *,
    limit: int = 100,
    before_id: int | None = None,
    actor_key_id: str | None = None,
    action: str | None = None,
) -> list[AuditRecord]:
    """Audit entries, newest first, paged by ``before_id``, filtered by key id and/or action."""
    require_operator(actor)
    _limit(limit)
    with ctx.store.read() as repo:
        entries = repo.list_audit(
            limit=limit, before_id=before_id, actor_key_id=actor_key_id, action=action
        )
        owners = _key_owners(repo) if any(e.actor_key_id for e in entries) else {}
        return [AuditRecord.of(e, owners) for e in entries]


def _key_owners(repo: Repository) -> dict[str, str]:
    """``platform:NAME`` or ``partner:NAME`` of every key that has an owner, by key id."""
    platforms = {p.id: p.name for p in repo.list_platforms()}
    partners = {p.id: p.name for p in repo.list_partners()}
    owners = {}
    for key in repo.list_api_keys(include_revoked=True):
        if key.platform_id is not None and key.platform_id in platforms:
            owners[key.key_id] = f"platform:{platforms[key.platform_id]}"
        elif key.partner_id is not None and key.partner_id in partners:
            owners[key.key_id] = f"partner:{partners[key.partner_id]}"
    return owners
