"""What every use case is given: the store, the settings, the live indexes, and who is acting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from hashwall.errors import Forbidden
from hashwall.settings import Settings
from hashwall.store import credentials
from hashwall.store.repo import Scope, Store

if TYPE_CHECKING:
    from hashwall.service.hitlog import HiddenHitLog
    from hashwall.service.live import LiveIndexes

ActorKind = Literal["operator", "admin", "intake", "platform", "reporter"]


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

    @property
    def is_operator(self) -> bool:
        """True for the operator's CLI and for ``admin`` keys."""
        return self.kind in ("operator", "admin")

    def require(self, *kinds: ActorKind, scope: Scope | None = None) -> None:
        """Raise :class:`Forbidden` unless the actor is one of ``kinds`` (with ``scope``)."""
        if self.kind not in kinds:
            raise Forbidden(f"this needs a key with role {' or '.join(kinds)}")
        if scope is not None and self.kind == "platform" and scope not in self.scopes:
            raise Forbidden(f"this needs a platform key with the {scope!r} scope")


@dataclass(frozen=True, slots=True)
class PinHashing:
    """How PINs are hashed and verified: argon2id by default (``hashwall.store.credentials``).

    ``verify(None, pin)`` (unknown case) must cost the same as a wrong PIN and return False.
    Tests inject cheaper argon2 parameters here; production never changes it.
    """

    hash: Callable[[str], str] = credentials.hash_pin
    verify: Callable[[str | None, str], bool] = credentials.verify_pin


@dataclass(slots=True)
class ServiceContext:
    """The store, the settings and (in a serving process) the live index of each signal family.

    ``live`` is None outside a serving process (the CLI on the store, tools): the check then
    scans the store's live signals instead of an in-memory index (correct, but O(bank)).
    ``hit_log``: where a serving process writes hits a platform's policy answers ``allow``,
    after the answer (``service/hitlog.py``); without one the check writes them itself.
    """

    store: Store
    settings: Settings
    live: LiveIndexes | None = None
    pins: PinHashing = field(default_factory=PinHashing)
    hit_log: HiddenHitLog | None = None
