"""What the operator's use cases share: who may run them, and the checks and lookups they all
make.

The use cases themselves are one module each: :mod:`~hashwall.service.tenants`
(organisations, platforms and policies, partners), :mod:`~hashwall.service.keys` (API keys),
:mod:`~hashwall.service.moderation` (quarantine decisions, deletion, the allowlist) and
:mod:`~hashwall.service.audit` (the audit log); :mod:`~hashwall.service.auth` turns a
presented key into an :class:`~hashwall.domain.Actor`. Each function takes the
:class:`~hashwall.service.context.ServiceContext` and the acting Actor first; the actor must
be the ``operator`` (the CLI on the store, no key) or hold an ``admin`` key, else
:class:`~hashwall.errors.Forbidden`. Every state change writes an ``audit`` row with the
acting key id (``None`` for the CLI operator) in the same transaction as the change. Results
are frozen dataclasses that carry public identifiers and names, never row ids or secrets.

Usage::

    ctx = ServiceContext(Store.from_url(settings.database_url), settings)
    op = Actor.operator()
    tenants.add_organisation(ctx, op, "Example Social")
    tenants.add_platform(ctx, op, organisation="Example Social", name="photos")
    created = keys.create_api_key(ctx, op, role="platform", platform="photos", scopes=["check"])
    created.key                       # "<key_id>.<secret>": shown once, stored as a hash
    actor = auth.authenticate(ctx, created.key)   # Actor(kind="platform", ...) or InvalidKey
"""

from __future__ import annotations

from typing import Final

from hashwall.domain import Actor, Item, Organisation, Partner, Platform
from hashwall.errors import InvalidInput, NotFound
from hashwall.store.repo import Repository

#: Longest organisation, platform or partner name (the column width).
MAX_NAME_LENGTH: Final = 200
#: Most rows one page of a listing returns.
MAX_LIST_LIMIT: Final = 1000
#: Longest reason for an audited action.
MAX_REASON_LENGTH: Final = 500


def require_operator(actor: Actor) -> None:
    """Raise :class:`~hashwall.errors.Forbidden` unless ``actor`` is the operator or an admin."""
    actor.require("operator", "admin")


def clean_name(value: str, what: str) -> str:
    """An organisation, platform or partner name: text, stripped, 1 to 200 characters, no
    control characters."""
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


def check_limit(limit: int) -> int:
    """A page size: an integer from 1 to :data:`MAX_LIST_LIMIT`."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidInput(f"limit must be from 1 to {MAX_LIST_LIMIT}")
    return limit


def clean_reason(reason: str) -> str:
    """A reason for an audited action: text, not empty, at most 500 characters."""
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise InvalidInput("give a reason (it is kept in the audit log)")
    if len(text) > MAX_REASON_LENGTH:
        raise InvalidInput(f"a reason has at most {MAX_REASON_LENGTH} characters")
    return text


def find_organisation(repo: Repository, name: str) -> Organisation:
    """The organisation named ``name``; ``not_found`` (saying where to look) if there is none."""
    org = repo.get_organisation(name)
    if org is None:
        raise NotFound(f"no organisation named {name!r}; see `hashwall org list`")
    return org


def find_platform(repo: Repository, name: str) -> Platform:
    """The platform named ``name``; ``not_found`` if there is none."""
    platform = repo.get_platform(name)
    if platform is None:
        raise NotFound(f"no platform named {name!r}; see `hashwall platform list`")
    return platform


def find_partner(repo: Repository, name: str) -> Partner:
    """The partner named ``name``; ``not_found`` if there is none."""
    partner = repo.get_partner(name)
    if partner is None:
        raise NotFound(f"no partner named {name!r}; see `hashwall partner list`")
    return partner


def find_item(repo: Repository, item_ref: str) -> Item:
    """The item ``item_ref``, its row locked for the change to come; ``not_found``."""
    item = repo.get_item(item_ref.strip(), for_update=True) if isinstance(item_ref, str) else None
    if item is None:
        raise NotFound(f"no item {item_ref!r}")
    return item
