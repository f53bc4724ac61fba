"""Retention of match records on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from hashwall.domain import Actor
from hashwall.errors import Forbidden, InvalidInput
from hashwall.service import audit as audit_service
from hashwall.service import tenants
from hashwall.service.context import ServiceContext
from hashwall.service.retention import MATCHES_EXPIRED, run_retention
from hashwall.store.repo import Store

from bank_ops import enrol

OP = Actor.operator()
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def test_matches_older_than_each_platforms_retention_are_deleted(ctx: ServiceContext) -> None:
    tenants.add_organisation(ctx, OP, "Org")
    week = tenants.PolicyUpdate(retention_days=7)
    tenants.add_platform(ctx, OP, organisation="Org", name="weekly", policy=week)
    tenants.add_platform(ctx, OP, organisation="Org", name="monthly")  # settings default: 90
    tenants.add_platform(
        ctx, OP, organisation="Org", name="none", policy=tenants.PolicyUpdate(retention_days=0)
    )
    item = enrol(ctx.store, rng=random.Random(1))
    clock = Clock()
    timed = Store(ctx.store.engine, clock=clock)
    ages = [1, 8, 91]
    with timed.read() as repo:
        platform_ids = {p.name: p.id for p in repo.list_platforms()}
        item_id = repo.get_item(item.item_ref).id  # type: ignore[union-attr]
    refs: dict[tuple[str, int], str] = {}
    for name, platform_id in platform_ids.items():
        for age in ages:
            clock.now = NOW - timedelta(days=age)
            with timed.write() as repo:
                match = repo.add_match(
                    check_id="chk_x", platform_id=platform_id, item_id=item_id, decision="review"
                )
                refs[(name, age)] = match.match_ref
    with timed.write() as repo:
        old = repo.get_match(refs[("weekly", 8)])
        assert old is not None
        verdict = repo.add_verdict(
            item_id=item_id,
            platform_id=platform_ids["weekly"],
            organisation_id=repo.list_organisations()[0].id,
            verdict="confirmed",
            match_id=old.id,
        )

    with pytest.raises(Forbidden):
        run_retention(ctx, Actor(kind="platform", key_id="k", platform_id=1), now=NOW)
    with pytest.raises(InvalidInput):
        run_retention(ctx, OP, now=NOW.replace(tzinfo=None))

    report = run_retention(ctx, OP, now=NOW)
    per = {p.platform: (p.retention_days, p.deleted) for p in report.platforms}
    assert per == {"weekly": (7, 2), "monthly": (90, 1), "none": (0, 3)}
    assert report.deleted == 6
    assert report.platforms[0].cutoff == NOW - timedelta(days=90)
    with timed.read() as repo:
        left = {key for key, ref in refs.items() if repo.get_match(ref) is not None}
        kept_verdict = repo.list_verdicts(item_id)
    assert left == {("weekly", 1), ("monthly", 1), ("monthly", 8)}
    assert [v.id for v in kept_verdict] == [verdict.id]
    assert kept_verdict[0].match_id is None  # the verdict stays, without its match

    audit = audit_service.list_audit(ctx, OP, action=MATCHES_EXPIRED)
    assert sorted((a.target, a.details["deleted"]) for a in audit) == [
        ("monthly", 1),
        ("none", 3),
        ("weekly", 2),
    ]
    assert all(a.actor_key_id is None for a in audit)

    again = run_retention(ctx, OP, now=NOW)
    assert again.deleted == 0
    assert (
        len(audit_service.list_audit(ctx, OP, action=MATCHES_EXPIRED)) == 3
    )  # nothing deleted, no row


def test_retention_with_no_platforms_and_default_clock(ctx: ServiceContext) -> None:
    report = run_retention(ctx, OP)
    assert report.platforms == () and report.deleted == 0
    assert report.ran_at.tzinfo is not None
