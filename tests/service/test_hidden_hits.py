"""No oracle: on a platform that answers allow for unvouched items, a hit costs what a miss does
(the same statements, the record written after the answer) and is on record for the operator."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import event

from hashwall.domain import Actor, AuditEntry, PlatformPolicy
from hashwall.hashing.pdq import PdqHash
from hashwall.hashing.signals import Signal
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.hitlog import HIDDEN_HIT_ACTION, HiddenHit, HiddenHitLog
from hashwall.service.indexes import LiveIndexes
from hashwall.service.intake import ItemSubmission, create_case

if TYPE_CHECKING:
    from conftest import PdqFamily, World

ALLOWING = PlatformPolicy(unvouched_answer="allow")


def _bank(ctx: ServiceContext, actor: Actor, code: PdqHash) -> str:
    receipt = create_case(ctx, actor, [ItemSubmission((Signal("pdq", code.hex, 90),))])
    return receipt.accepted[0].item_ref


def _request(code: PdqHash) -> CheckRequest:
    return CheckRequest((Signal("pdq", code.hex, 90),))


def _hidden_hits(ctx: ServiceContext) -> list[AuditEntry]:
    with ctx.store.read() as repo:
        return sorted(repo.list_audit(action=HIDDEN_HIT_ACTION, limit=10_000), key=lambda r: r.id)


@contextmanager
def _statements(ctx: ServiceContext) -> Iterator[list[str]]:
    """The SQL this thread sends while the block runs (other threads' are not counted)."""
    seen: list[str] = []
    me = threading.get_ident()

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.get_ident() == me:
            seen.append(statement)

    engine = ctx.store.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_a_hit_answered_allow_is_on_record(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    banked = pdq_family.new()
    item_ref = _bank(ctx, Actor.reporter(), banked)
    platform = world.platform("Lenient Co", "lenient", policy=ALLOWING)

    hit = check(ctx, platform, _request(pdq_family.near(banked, 10)))
    miss = check(ctx, platform, _request(pdq_family.new()))
    assert (hit.decision, hit.reason, hit.matches) == ("allow", "no_match", ())
    assert (miss.decision, miss.reason) == ("allow", "no_match")
    [record] = _hidden_hits(ctx)
    assert (record.target, record.details, record.actor_key_id) == (
        item_ref,
        {"check_id": hit.check_id},
        platform.key_id,
    )
    # A platform that reviews unvouched items writes a match row instead, as before.
    reviewing = world.platform("Strict Co", "strict")
    assert check(ctx, reviewing, _request(banked)).decision == "review"
    assert len(_hidden_hits(ctx)) == 1


def test_a_hit_and_a_miss_send_the_same_statements_and_the_record_follows(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    banked = pdq_family.new()
    item_ref = _bank(ctx, Actor.reporter(), banked)
    platform = world.platform("Lenient Co", "lenient", policy=ALLOWING)
    with ctx.store.read() as repo:
        row = repo.get_platform_by_id(platform.platform_id or 0)
    ctx.live = LiveIndexes(ctx.store, ctx.settings)
    ctx.live.build()
    ctx.hit_log = HiddenHitLog(ctx.store)
    try:
        hits = []
        for _ in range(2):  # the second round: every statement cached alike
            with _statements(ctx) as for_hit:
                hit = check(ctx, platform, _request(pdq_family.near(banked, 12)), platform=row)
            with _statements(ctx) as for_miss:
                miss = check(ctx, platform, _request(pdq_family.new()), platform=row)
            hits.append(hit.check_id)
            assert hit.decision == miss.decision == "allow"
        assert for_hit == for_miss
        assert for_hit  # the store is asked for a miss too (no answer from memory)
        assert ctx.hit_log.flush()
        records = _hidden_hits(ctx)
        assert [(r.target, r.details["check_id"]) for r in records] == [
            (item_ref, check_id) for check_id in hits
        ]
    finally:
        ctx.hit_log.close()
        ctx.hit_log = None


def test_the_hit_log_writes_itself_when_too_much_waits_and_everything_at_close(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    world.platform("Lenient Co", "lenient", policy=ALLOWING)
    full = HiddenHitLog(ctx.store, max_pending=0)
    try:
        full.record([HiddenHit("chk_a", None, "itm_a")])  # nothing may wait: written here
        assert [r.target for r in _hidden_hits(ctx)] == ["itm_a"]
    finally:
        full.close()
    log = HiddenHitLog(ctx.store)
    log.record([HiddenHit(f"chk_{i}", None, f"itm_{i}") for i in range(1200)])
    log.close()  # more than two batches: all written before close returns
    assert len(_hidden_hits(ctx)) == 1201


def test_a_miss_reads_a_decoy_like_a_hit_and_never_answers_for_it(
    ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    vouched = _bank(ctx, world.partner("Helpline"), pdq_family.new())  # blocks everywhere
    platform = world.platform("Lenient Co", "lenient", policy=ALLOWING)
    ctx.live = LiveIndexes(ctx.store, ctx.settings)
    ctx.live.build()
    with ctx.store.read() as repo:
        item = repo.get_item(vouched)
    assert item is not None and ctx.live.sample_id() == item.id  # the only one: the decoy

    answer = check(ctx, platform, _request(pdq_family.new()))
    assert (answer.decision, answer.matches) == ("allow", ())
    with ctx.store.read() as repo:
        assert repo.list_matches() == []
    assert _hidden_hits(ctx) == []
