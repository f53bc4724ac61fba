"""A platform's review queue: its own matches that still wait for a reviewer's verdict.

A match is pending while the platform has sent no verdict on it and its item is still in the
bank (a verdict on a withdrawn or deleted item would not be recorded: nothing about it is kept).
Matches leave the queue when their platform's retention deletes them. A platform sees only its
own matches, with what its policy lets check answers reveal (distance, orientation); never the
item's hash values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from hashwall.domain import Actor
from hashwall.errors import Forbidden, InvalidInput, NotFound
from hashwall.service.context import ServiceContext

#: Most matches one page returns.
MAX_PAGE: Final = 500


@dataclass(frozen=True, slots=True)
class PendingMatch:
    """A match awaiting the platform's verdict: its ref (for the verdict) and the check (never
    the banked item's ref: a platform learns nothing about the bank from its answers)."""

    match_ref: str
    check_id: str
    decision: str
    created_at: datetime
    distance: int | None = None
    orientation: str | None = None


def list_pending_matches(
    ctx: ServiceContext, actor: Actor, *, limit: int = 100, after: str | None = None
) -> list[PendingMatch]:
    """The acting platform's matches awaiting its verdict, oldest first.

    Paged by ``after``: the last match ref of the previous page (``not_found`` if it is not one
    of this platform's matches). Needs a platform key with the ``verdict`` scope.
    """
    actor.require("platform", scope="verdict")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be from 1 to {MAX_PAGE}")
    if actor.platform_id is None:
        raise Forbidden("this key belongs to no platform")
    with ctx.store.read() as repo:
        platform = repo.get_platform_by_id(actor.platform_id)
        if platform is None:
            raise Forbidden("this key's platform no longer exists")
        after_id = 0
        if after is not None:
            anchor = repo.get_match(after.strip())
            if anchor is None or anchor.platform_id != platform.id:
                raise NotFound(
                    "no match of this platform with that reference (it may have expired)"
                )
            after_id = anchor.id
        rows = repo.list_pending_matches(platform.id, limit=limit, after_id=after_id)
    policy = platform.policy
    return [
        PendingMatch(
            match_ref=match.match_ref,
            check_id=match.check_id,
            decision=match.decision,
            created_at=match.created_at,
            distance=match.distance if policy.reveal_distance else None,
            orientation=match.orientation if policy.reveal_orientation else None,
        )
        for match, _item in rows
    ]
