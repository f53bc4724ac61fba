"""Retention: match records are deleted once they are older than their platform's retention.

Each platform's policy says how many days its ``matches`` rows are kept (``retention_days``;
new platforms get ``Settings.match_retention_days``, default 90). :func:`run_retention` deletes,
per platform, the matches created before ``now - retention_days`` (``0`` keeps none: every
match created before the run goes). Verdicts stay (their ``match_id`` becomes null), so
quarantine counts are unaffected. Nothing about reporters (IP address, contact, file name) is
stored in the first place, so there is nothing else to expire.

Run it from cron or a scheduler: ``hashwall retention run``. Each platform is one transaction,
with an audit row (``matches_expired``) when it deleted anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from hashwall.domain import Actor
from hashwall.errors import InvalidInput
from hashwall.service.context import ServiceContext
from hashwall.service.operator import require_operator

MATCHES_EXPIRED: Final = "matches_expired"


@dataclass(frozen=True, slots=True)
class PlatformRetention:
    """What one platform's retention deleted: matches created before ``cutoff``."""

    platform: str
    retention_days: int
    cutoff: datetime
    deleted: int


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """The outcome of one run: per platform, and the total of match records deleted."""

    ran_at: datetime
    platforms: tuple[PlatformRetention, ...]

    @property
    def deleted(self) -> int:
        """Match records deleted across all platforms."""
        return sum(p.deleted for p in self.platforms)


def run_retention(
    ctx: ServiceContext, actor: Actor, *, now: datetime | None = None
) -> RetentionReport:
    """Delete every platform's match records older than its ``retention_days``.

    ``now`` (timezone-aware; default: the store's clock) is the reference time.
    """
    require_operator(actor)
    ran_at = now if now is not None else ctx.store.clock()
    if ran_at.tzinfo is None:
        raise InvalidInput("the retention time must be timezone-aware")
    with ctx.store.read() as repo:
        platforms = repo.list_platforms()
    results: list[PlatformRetention] = []
    for platform in platforms:
        with ctx.store.write() as repo:
            current = repo.get_platform_by_id(platform.id)
            if current is None:  # removed meanwhile
                continue
            days = current.policy.retention_days
            cutoff = ran_at - timedelta(days=days)
            deleted = repo.delete_matches_before(current.id, cutoff)
            if deleted:
                repo.add_audit(
                    MATCHES_EXPIRED,
                    actor_key_id=actor.key_id,
                    target=current.name,
                    details={
                        "retention_days": days,
                        "cutoff": cutoff.isoformat(),
                        "deleted": deleted,
                    },
                )
        results.append(PlatformRetention(current.name, days, cutoff, deleted))
    return RetentionReport(ran_at, tuple(results))
