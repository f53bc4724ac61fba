"""API keys: created (the secret shown once, a hash stored), listed, revoked for good."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, cast

from hashwall.domain import PLATFORM_SCOPES, ROLES, Actor, ApiKey, Role, Scope
from hashwall.errors import InvalidInput, NotFound
from hashwall.service.audit import API_KEY_CREATED, API_KEY_REVOKED
from hashwall.service.context import ServiceContext
from hashwall.service.operator import find_partner, find_platform, require_operator
from hashwall.store import events as event_log
from hashwall.store.credentials import format_api_key, hash_api_secret, new_api_secret
from hashwall.store.repo import Repository

#: Longest key label.
MAX_LABEL_LENGTH: Final = 200


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


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key and the full ``<key_id>.<secret>`` string, shown this once and never again."""

    info: KeyInfo
    key: str = dataclasses.field(repr=False)


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
        owner_platform = find_platform(repo, platform) if platform is not None else None
        owner_partner = find_partner(repo, partner) if partner is not None else None
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
