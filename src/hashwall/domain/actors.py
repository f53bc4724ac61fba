"""Who acts: the roles and scopes of API keys, the keys, and the acting :class:`Actor`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from hashwall.errors import Forbidden

Role = Literal["admin", "intake", "platform"]
Scope = Literal["check", "feed", "verdict"]
ActorKind = Literal["operator", "admin", "intake", "platform", "reporter"]

ROLES: tuple[Role, ...] = ("admin", "intake", "platform")
PLATFORM_SCOPES: tuple[Scope, ...] = ("check", "feed", "verdict")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key: public ``key_id``, hashed secret, role, scopes and owner."""

    id: int
    key_id: str
    secret_hash: str
    role: Role
    scopes: tuple[Scope, ...]
    platform_id: int | None
    partner_id: int | None
    label: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        """Whether the key has been revoked (it then authenticates nothing)."""
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting.

    ``operator``: the CLI working directly on the store (no key). ``admin``, ``intake``,
    ``platform``: an API key (``key_id``), owned by a partner (``partner_id``) or a platform
    (``platform_id``), with scopes for platforms. ``reporter``: the anonymous channel (no key).
    """

    kind: ActorKind
    key_id: str | None = None
    platform_id: int | None = None
    partner_id: int | None = None
    scopes: frozenset[Scope] = field(default_factory=frozenset)

    @classmethod
    def operator(cls) -> Actor:
        """The operator at the command line, acting on the store directly."""
        return cls(kind="operator")

    @classmethod
    def reporter(cls) -> Actor:
        """A person using the anonymous reporter channel."""
        return cls(kind="reporter")

    def require(self, *kinds: ActorKind, scope: Scope | None = None) -> None:
        """Raise :class:`Forbidden` unless the actor is one of ``kinds`` (with ``scope``)."""
        if self.kind not in kinds:
            raise Forbidden(f"this needs a key with role {' or '.join(kinds)}")
        if scope is not None and self.kind == "platform" and scope not in self.scopes:
            raise Forbidden(f"this needs a platform key with the {scope!r} scope")
