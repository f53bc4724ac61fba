"""Who is calling: ``Authorization: Bearer <key>`` -> :class:`Actor`, plus the rate limits.

Every request that reaches a ``/v1`` route passes :func:`caller`:

- No ``Authorization`` header: the anonymous reporter channel (``Actor.reporter()``), limited
  per client address (``rate_limit_client_*``).
- A key: checked against the store on every request (a revoked key stops working at once),
  through :func:`hashwall.service.operator.authenticate_with_platform` (which also reads a
  platform key's platform row in the same transaction, for checks); limited per key
  (``rate_limit_key_*``). A key that does not authenticate counts against the client address,
  so guessing keys is limited like anything anonymous.
- The check routes only (:data:`CheckCaller`) verify a key from the process's key cache first
  (:func:`~hashwall.service.operator.authenticate_from_memory`: no store transaction, no thread
  pool), and read the store (remembering the key) when it is not there. A revocation reaches
  the cache of every process within the index poll interval (at most 0.2 s), and the check
  re-reads the key in the write transaction of any ``review``/``block`` answer, so a revoked
  key never creates a match or sees a match ref (``service/keys.py``). Every other route
  (feed, verdicts, intake, admin) still reads the key from the store on every request.

The client address comes from :func:`~hashwall.api.clientaddr.client_subject` (the peer, as
the server resolved it behind trusted proxies) and serves as a limiter subject only.
Role and scope: :func:`require` builds the dependency of a route (403 ``forbidden``; 401
``invalid_key`` without a key).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from hashwall.api.clientaddr import client_subject
from hashwall.api.defences.rate import client_rate, key_rate
from hashwall.api.state import ApiState, api_state
from hashwall.domain import Actor, ActorKind, Platform, Scope
from hashwall.errors import InvalidKey
from hashwall.service.auth import (
    MAX_KEY_LENGTH,
    authenticate_and_remember,
    authenticate_from_memory,
    authenticate_with_platform,
)

_NO_KEY: Final = "this route needs an API key: send the header Authorization: Bearer <key>"
_MALFORMED: Final = "send the API key as Authorization: Bearer <key>"


@dataclass(frozen=True, slots=True)
class Caller:
    """The acting :class:`Actor` and the client address (a limiter subject, never stored).

    ``platform``: a platform key's platform row, read in the same transaction as the key (None
    for other keys); a check uses it instead of reading the platform again.
    """

    actor: Actor
    client: str
    platform: Platform | None = None

    @property
    def has_key(self) -> bool:
        """True when the request carried a valid API key."""
        return self.actor.key_id is not None


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None without a header.

    A header that is not a bearer token is ``invalid_key``.
    """
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_KEY_LENGTH:
        raise InvalidKey(_MALFORMED)
    return token


async def caller(request: Request, state: Annotated[ApiState, Depends(api_state)]) -> Caller:
    """Dependency: authenticate the request (if it carries a key) and apply the rate limits."""
    return await _identify(request, state, from_memory=False)


async def _identify(request: Request, state: ApiState, *, from_memory: bool) -> Caller:
    settings = state.settings
    client = client_subject(request.scope)
    try:
        token = bearer_token(request.headers.get("authorization"))
    except InvalidKey:
        (await state.limiter.hit(f"client:{client}", client_rate(settings))).raise_if_denied(
            "requests from this address"
        )
        raise
    if token is None:
        (await state.limiter.hit(f"client:{client}", client_rate(settings))).raise_if_denied(
            "requests from this address"
        )
        state.require_store()
        return Caller(Actor.reporter(), client)
    state.require_store()
    known = authenticate_from_memory(state.ctx, token) if from_memory else None
    try:
        if known is not None:
            actor, platform = known
        elif from_memory:
            actor, platform = await run_in_threadpool(authenticate_and_remember, state.ctx, token)
        else:
            actor, platform = await run_in_threadpool(authenticate_with_platform, state.ctx, token)
    except InvalidKey:
        (await state.limiter.hit(f"client:{client}", client_rate(settings))).raise_if_denied(
            "requests from this address"
        )
        raise
    (await state.limiter.hit(f"key:{actor.key_id}", key_rate(settings))).raise_if_denied(
        "requests with this API key"
    )
    return Caller(actor, client, platform)


CallerDep = Annotated[Caller, Depends(caller)]


def require(*kinds: ActorKind, scope: Scope | None = None) -> Callable[[Caller], Awaitable[Caller]]:
    """A dependency that needs a key of one of ``kinds`` (and ``scope`` for platform keys)."""

    async def dependency(who: CallerDep) -> Caller:
        return _required(who, kinds, scope)

    return dependency


def _required(who: Caller, kinds: tuple[ActorKind, ...], scope: Scope | None) -> Caller:
    if not who.has_key:
        raise InvalidKey(_NO_KEY)
    who.actor.require(*kinds, scope=scope)
    return who


async def _require_check(request: Request) -> Caller:
    # One dependency, not three (caller, api_state, require): FastAPI's dependency solving
    # cost more per check than the check itself.
    who = await _identify(request, request.app.state.hashwall, from_memory=True)
    return _required(who, ("platform",), "check")


AdminCaller = Annotated[Caller, Depends(require("admin"))]
IntakeCaller = Annotated[Caller, Depends(require("intake"))]
#: Checks: the key may come from the key cache (see the module docstring).
CheckCaller = Annotated[Caller, Depends(_require_check)]
VerdictCaller = Annotated[Caller, Depends(require("platform", scope="verdict"))]
FeedCaller = Annotated[Caller, Depends(require("platform", "admin", scope="feed"))]
