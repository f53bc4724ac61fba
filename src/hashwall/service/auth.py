"""Who is calling: the :class:`~hashwall.domain.Actor` of a presented API key.

Unknown, revoked and malformed keys all raise the same :class:`~hashwall.errors.InvalidKey`
after the same work, so the answer says nothing about which keys exist. A serving process
answers from its key cache (``service/key_cache.py``) when it can, and from the store
otherwise.
"""

from __future__ import annotations

from typing import Final

from hashwall.domain import Actor, Platform
from hashwall.errors import InvalidKey
from hashwall.service.context import ServiceContext
from hashwall.service.key_cache import CachedKey
from hashwall.store.credentials import hash_api_secret, parse_api_key, verify_api_secret

#: Longest string :func:`authenticate` looks at (a real key is about 65 characters).
MAX_KEY_LENGTH: Final = 256
#: The one answer to every key that does not authenticate (unknown, revoked, malformed).
INVALID_KEY_MESSAGE: Final = (
    "the API key is not valid (unknown, revoked or malformed); ask the operator for a key"
)


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
    See ``service/key_cache.py`` for how revocations reach the cache.
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
