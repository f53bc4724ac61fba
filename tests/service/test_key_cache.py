"""Keys verified from memory: the key cache follows revocations and platform changes.

Two "processes" share one store: each is a :class:`ServiceContext` with its own
:class:`LiveIndexes` (and so its own key cache), caught up by hand like the live index tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from hashwall.domain import Actor
from hashwall.errors import InvalidKey
from hashwall.hashing.signals import Signal
from hashwall.service import auth, keys, tenants
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.indexes import LiveIndexes
from hashwall.service.intake import ItemSubmission, create_case
from hashwall.service.key_cache import CachedKey, KeyCache
from hashwall.store.events import Event
from hashwall.store.tables import matches

if TYPE_CHECKING:
    from conftest import PdqFamily, World

OP = Actor.operator()


class FakeClock:
    """A monotonic clock that only moves when told (the follower never looks lagging)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def process(ctx: ServiceContext) -> ServiceContext:
    """Another serving process on the same store: its own live index and key cache, built."""
    live = LiveIndexes(ctx.store, ctx.settings, clock=FakeClock())
    live.build()
    return ServiceContext(ctx.store, ctx.settings, live=live, pins=ctx.pins)


@pytest.fixture
def platform_key(ctx: ServiceContext) -> str:
    """A platform ``photos`` and its full check key."""
    tenants.add_organisation(ctx, OP, "Example Social")
    tenants.add_platform(ctx, OP, organisation="Example Social", name="photos")
    return keys.create_api_key(ctx, OP, role="platform", platform="photos", scopes=["check"]).key


def test_a_verified_key_is_answered_from_memory_and_a_failed_one_never_cached(
    ctx: ServiceContext, platform_key: str
) -> None:
    a = process(ctx)
    assert auth.authenticate_from_memory(a, platform_key) is None  # not verified yet
    actor, platform = auth.authenticate_and_remember(a, platform_key)
    assert platform is not None and platform.name == "photos"
    assert auth.authenticate_from_memory(a, platform_key) == (actor, platform)

    key_id = platform_key.partition(".")[0]
    wrong = f"{key_id}.{'x' * 43}"
    assert auth.authenticate_from_memory(a, wrong) is None  # the store decides
    with pytest.raises(InvalidKey):
        auth.authenticate_and_remember(a, wrong)
    with pytest.raises(InvalidKey):
        auth.authenticate_and_remember(a, f"key_unknown.{'y' * 43}")
    assert a.live is not None and len(a.live.keys) == 1
    assert a.live.keys.get("key_unknown") is None
    entry = a.live.keys.get(key_id)
    assert entry is not None and entry.actor == actor  # still the right secret's entry


def test_a_revocation_is_immediate_in_its_process_and_reaches_another_on_catch_up(
    ctx: ServiceContext, platform_key: str
) -> None:
    a, b = process(ctx), process(ctx)
    for p in (a, b):
        auth.authenticate_and_remember(p, platform_key)
    assert b.live is not None
    key_id = platform_key.partition(".")[0]

    keys.revoke_api_key(a, OP, key_id)
    assert auth.authenticate_from_memory(a, platform_key) is None  # at once, here
    with pytest.raises(InvalidKey):
        auth.authenticate_and_remember(a, platform_key)
    # The other process holds it until its follower reads the event (the documented bound)...
    assert auth.authenticate_from_memory(b, platform_key) is not None
    assert b.live.catch_up() >= 1
    # ...and then never again.
    assert auth.authenticate_from_memory(b, platform_key) is None
    with pytest.raises(InvalidKey):
        auth.authenticate_and_remember(b, platform_key)
    assert b.live.keys.get(key_id) is None


def test_a_lagging_process_never_lets_a_revoked_key_create_a_match(
    ctx: ServiceContext, platform_key: str, world: World, pdq_family: PdqFamily
) -> None:
    code = pdq_family.new()
    create_case(ctx, world.partner("Helpline"), [ItemSubmission((Signal("pdq", code.hex, 90),))])
    b = process(ctx)  # the item is in b's index
    actor, platform = auth.authenticate_and_remember(b, platform_key)
    upload = CheckRequest((Signal("pdq", code.hex, 90),))
    assert check(b, actor, upload, platform=platform).decision == "block"

    keys.revoke_api_key(ctx, OP, platform_key.partition(".")[0])  # another process
    known = auth.authenticate_from_memory(b, platform_key)
    assert known == (actor, platform)  # b lags: its cache still holds the key
    with pytest.raises(InvalidKey):
        check(b, actor, upload, platform=platform)  # but a match needs the store's word
    with ctx.store.read() as repo:
        assert len(repo.conn.execute(matches.select()).all()) == 1  # only the first


def test_a_policy_change_is_seen_at_once_here_and_after_catch_up_elsewhere(
    ctx: ServiceContext, platform_key: str
) -> None:
    a, b = process(ctx), process(ctx)
    for p in (a, b):
        auth.authenticate_and_remember(p, platform_key)
    tenants.set_platform_policy(a, OP, "photos", tenants.PolicyUpdate(thresholds={"pdq": 12}))
    assert auth.authenticate_from_memory(a, platform_key) is None  # dropped: re-read
    _, platform = auth.authenticate_and_remember(a, platform_key)
    assert platform is not None and platform.policy.thresholds["pdq"] == 12

    known = auth.authenticate_from_memory(b, platform_key)
    assert known is not None and known[1] is not None and known[1].policy.thresholds["pdq"] == 31
    assert b.live is not None and b.live.catch_up() >= 1
    assert auth.authenticate_from_memory(b, platform_key) is None
    _, platform = auth.authenticate_and_remember(b, platform_key)
    assert platform is not None and platform.policy.thresholds["pdq"] == 12


def test_a_lagging_follower_stops_answering_from_memory(
    ctx: ServiceContext, platform_key: str
) -> None:
    clock = FakeClock()
    live = LiveIndexes(ctx.store, ctx.settings, clock=clock)
    live.build()
    b = ServiceContext(ctx.store, ctx.settings, live=live)
    auth.authenticate_and_remember(b, platform_key)
    assert auth.authenticate_from_memory(b, platform_key) is not None
    clock.now += ctx.settings.index_max_lag + 0.1  # the log was not read for too long
    assert auth.authenticate_from_memory(b, platform_key) is None
    live.catch_up()
    assert auth.authenticate_from_memory(b, platform_key) is not None


def _event(seq: int, kind: str, payload: dict[str, object]) -> Event:
    return Event(seq, kind, None, None, payload, datetime(2026, 1, 1, tzinfo=UTC))


def test_a_read_that_raced_a_revocation_or_a_policy_change_is_not_cached() -> None:
    actor = Actor(kind="platform", key_id="key_a", platform_id=7, scopes=frozenset({"check"}))
    entry = CachedKey("sha256$...", actor, None)
    cache = KeyCache()
    cache.start_at(10)
    before = cache.cursor  # a request begins its store read here
    cache.apply([_event(11, "api_key_revoked", {"key_id": "key_a"})])  # commits and is applied
    assert not cache.put("key_a", entry, before)  # what the request read is stale
    assert cache.get("key_a") is None

    other = Actor(kind="platform", key_id="key_b", platform_id=7, scopes=frozenset({"check"}))
    b_entry = CachedKey("sha256$...", other, None)
    before = cache.cursor
    cache.apply([_event(12, "platform_changed", {"platform_id": 7})])
    assert not cache.put("key_b", b_entry, before)
    assert cache.put("key_b", b_entry, cache.cursor)  # a read begun after the change
    cache.apply([_event(13, "platform_changed", {"platform_id": 7})])
    assert cache.get("key_b") is None
    cache.apply([_event(14, "item_added", {})])
    assert cache.cursor == 14
