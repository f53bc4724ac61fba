"""Check: the store step of a non-allow answer (re-read, drop, record) in few statements.

The candidates come from the live index, which may lag the store; these tests change the store
behind the index (no ``catch_up``) and check that the store step still drops what it must:
withdrawn items, allowlisted items and uploads (exact and PDQ), exempted uploads (on that
platform only), and refuses a revoked key. The statement counts make sure the step does not go
back to reading the whole allowlist or one query per item.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import event, func, select

from hashwall.domain import Actor, Platform
from hashwall.errors import InvalidKey
from hashwall.hashing.pdq import PdqHash
from hashwall.hashing.signals import Signal
from hashwall.service.check import CheckRequest, CheckResult, StoreStep, check, check_in_memory
from hashwall.service.context import ServiceContext
from hashwall.service.indexes import LiveIndexes
from hashwall.store.tables import matches

from bank_ops import Banked, enrol

if TYPE_CHECKING:
    from conftest import PdqFamily, World


@pytest.fixture
def live_ctx(ctx: ServiceContext) -> ServiceContext:
    ctx.live = LiveIndexes(ctx.store, ctx.settings)
    ctx.live.build()
    return ctx


def _bank(ctx: ServiceContext, code: PdqHash, sha256: str | None = None) -> Banked:
    sigs = [Signal("pdq", code.hex, 90)]
    if sha256 is not None:
        sigs.append(Signal("sha256", sha256))
    banked = enrol(ctx.store, sigs)
    assert ctx.live is not None
    ctx.live.catch_up()
    return banked


def _upload(code: PdqHash, sha256: str | None = None) -> CheckRequest:
    sigs = [Signal("pdq", code.hex, 90)]
    if sha256 is not None:
        sigs.append(Signal("sha256", sha256))
    return CheckRequest(tuple(sigs))


def _platform_row(ctx: ServiceContext, actor: Actor) -> Platform:
    with ctx.store.read() as repo:
        row = repo.get_platform_by_id(actor.platform_id or 0)
    assert row is not None
    return row


@contextmanager
def _statements(ctx: ServiceContext) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            seen.append(statement)

    engine = ctx.store.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _store_step(
    ctx: ServiceContext, actor: Actor, request: CheckRequest
) -> tuple[CheckResult, list[str]]:
    assert ctx.live is not None
    ctx.live.catch_up()  # current (a stale index is not used; setting up may take seconds)
    first = check_in_memory(ctx, actor, request, platform=_platform_row(ctx, actor))
    assert isinstance(first, StoreStep)  # a candidate from the live index
    with _statements(ctx) as seen:
        result = first.run()
    return result, seen


def _match_rows(ctx: ServiceContext) -> int:
    with ctx.store.read() as repo:
        return int(repo.conn.execute(select(func.count()).select_from(matches)).scalar_one())


def test_a_block_costs_three_statements_whatever_the_allowlist_size(
    live_ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    ctx = live_ctx
    code = pdq_family.new()
    first, second = _bank(ctx, code), _bank(ctx, pdq_family.near(code, 4))
    platform = world.platform("Example", "feed")
    rng = random.Random(3)
    with ctx.store.write() as repo:  # more than a page of the old paged allowlist load
        for _ in range(2500):
            repo.add_to_allowlist(Signal("sha256", f"{rng.getrandbits(256):064x}"))

    result, seen = _store_step(ctx, platform, _upload(code))
    assert result.decision == "block"
    assert {m.item_ref for m in result.matches} == {first.item_ref, second.item_ref}
    assert len({m.match_ref for m in result.matches}) == 2
    # The key with the platform; the candidates with allowlist flags and exemptions; the
    # two match rows in one insert.
    assert len(seen) == 3, seen
    assert _match_rows(ctx) == 2

    with ctx.store.write() as repo:  # a PDQ entry far from everything: one statement more
        repo.add_to_allowlist(Signal("pdq", pdq_family.new().hex, 100))
    result, seen = _store_step(ctx, platform, _upload(code))
    assert result.decision == "block" and len(seen) == 4, seen
    assert _match_rows(ctx) == 4


def test_items_withdrawn_or_allowlisted_behind_the_index_are_dropped(
    live_ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    ctx = live_ctx
    a, b, c, d = (pdq_family.new() for _ in range(4))
    sha_c = "c" * 64
    banked = {name: _bank(ctx, code, sha_c if name == "c" else None) for name, code in
              (("a", a), ("b", b), ("c", c), ("d", d))}  # fmt: skip
    platform = world.platform("Example", "feed")
    for code in (a, b, c, d):
        assert check(ctx, platform, _upload(code)).decision == "block"
    assert _match_rows(ctx) == 4

    # An allowlist entry within the threshold of b's PDQ but not of the upload below.
    entry = pdq_family.near(b, 30)
    upload_b = pdq_family.near(b, 12)
    while upload_b.distance(entry) <= ctx.settings.pdq_threshold:
        upload_b = pdq_family.near(b, 12)
    with ctx.store.write() as repo:
        item_a = repo.get_item(banked["a"].item_ref)
        assert item_a is not None
        repo.set_item_state(item_a.id, "withdrawn")  # no event: the index still has it
        repo.add_to_allowlist(Signal("pdq", entry.hex, 100))  # near b's own PDQ
        repo.add_to_allowlist(Signal("sha256", sha_c))  # c's own digest
    for code in (a, upload_b, c):
        result, _ = _store_step(ctx, platform, _upload(code))
        assert (result.decision, result.matches) == ("allow", ())
    assert check(ctx, platform, _upload(d)).decision == "block"
    assert _match_rows(ctx) == 5


def test_allowlisted_uploads_are_allowed_before_any_match(
    live_ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    ctx = live_ctx
    code = pdq_family.new()
    _bank(ctx, code)
    platform = world.platform("Example", "feed")
    upload_sha = "a" * 64
    assert check(ctx, platform, _upload(code, upload_sha)).decision == "block"
    with ctx.store.write() as repo:
        repo.add_to_allowlist(Signal("sha256", upload_sha))  # the upload's digest, not the item's
    result, seen = _store_step(ctx, platform, _upload(code, upload_sha))
    assert result.decision == "allow" and len(seen) == 2
    assert check(ctx, platform, _upload(pdq_family.near(code, 2), "b" * 64)).decision == "block"
    assert _match_rows(ctx) == 2


def test_exemptions_drop_that_upload_on_that_platform_only(
    live_ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    ctx = live_ctx
    code, other = pdq_family.new(), pdq_family.new()
    banked = _bank(ctx, code)
    _bank(ctx, other)
    feed, chat = world.platform("Example", "feed"), world.platform("Other", "chat")
    exempt_sha, exempt_pdq = "e" * 64, pdq_family.near(code, 20)
    with ctx.store.write() as repo:
        item = repo.get_item(banked.item_ref)
        assert item is not None and feed.platform_id is not None
        repo.add_exemption(platform_id=feed.platform_id, item_id=item.id, upload_sha256=exempt_sha)
        repo.add_exemption(platform_id=feed.platform_id, item_id=item.id, upload_pdq=exempt_pdq.hex)

    # Equal sha256 (PDQ 6 bits from the item, far from the exempted PDQ): exempt on feed.
    by_sha = _upload(pdq_family.near(code, 6), exempt_sha)
    assert _store_step(ctx, feed, by_sha)[0].decision == "allow"
    assert _store_step(ctx, chat, by_sha)[0].decision == "block"  # another platform's exemption
    # PDQ within distinct_upload_bits of the exempted upload: exempt on feed.
    near_exempted = pdq_family.near(exempt_pdq, 2)
    assert near_exempted.distance(code) <= ctx.settings.pdq_threshold
    assert _store_step(ctx, feed, _upload(near_exempted))[0].decision == "allow"
    # The same item from a different upload still blocks on feed.
    assert _store_step(ctx, feed, _upload(code))[0].decision == "block"
    # An exemption drops only its own item: other candidates of the same check remain.
    _bank(ctx, pdq_family.near(code, 8))
    result, _ = _store_step(ctx, feed, by_sha)
    assert result.decision == "block" and banked.item_ref not in {
        m.item_ref for m in result.matches
    }


def test_a_revoked_key_creates_no_match(
    live_ctx: ServiceContext, world: World, pdq_family: PdqFamily
) -> None:
    ctx = live_ctx
    code = pdq_family.new()
    _bank(ctx, code)
    platform = world.platform("Example", "feed")
    assert platform.key_id is not None
    first = check_in_memory(ctx, platform, _upload(code), platform=_platform_row(ctx, platform))
    assert isinstance(first, StoreStep)
    with ctx.store.write() as repo:  # revoked after the key was verified, before the write
        repo.revoke_api_key(platform.key_id)
    with pytest.raises(InvalidKey):
        first.run()
    assert _match_rows(ctx) == 0
