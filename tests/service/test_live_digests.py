"""Exact digests from memory: built with the live index, following the same events."""

from __future__ import annotations

import hashlib
import sys
from typing import TYPE_CHECKING

from hashwall.hashing.signals import Signal
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.digests import DigestIndex
from hashwall.service.intake import ItemSubmission, create_case
from hashwall.service.live import LiveIndexes
from hashwall.service.withdraw import withdraw_item

if TYPE_CHECKING:
    from conftest import World


def _digests(data: bytes) -> tuple[Signal, Signal]:
    return (
        Signal("md5", hashlib.md5(data).hexdigest()),
        Signal("sha256", hashlib.sha256(data).hexdigest()),
    )


def _bank(ctx: ServiceContext, partner: object, data: bytes) -> tuple[str, str]:
    receipt = create_case(ctx, partner, [ItemSubmission(_digests(data))])  # type: ignore[arg-type]
    return receipt.case_number, receipt.accepted[0].item_ref


def test_digests_are_built_from_the_snapshot_and_follow_additions_and_withdrawals(
    ctx: ServiceContext, world: World
) -> None:
    helpline = world.partner("Helpline")
    photos = world.platform("Example", "photos")
    kept, gone, later = b"kept file", b"withdrawn file", b"later file"
    _bank(ctx, helpline, kept)
    withdraw_item(ctx, helpline, *_bank(ctx, helpline, gone))  # before the build

    live = LiveIndexes(ctx.store, ctx.settings)
    live.build()
    ctx.live = live
    md5, sha = _digests(kept)
    assert len(live.find_digest("sha256", sha.value)) == 1
    assert live.find_digest("md5", md5.value) == live.find_digest("sha256", sha.value)
    assert live.find_digest("sha256", sha.value.upper()) == live.find_digest("sha256", sha.value)
    for signal in _digests(gone):
        assert live.find_digest(signal.type, signal.value) == ()  # never held
    assert live.digests.size("sha256") == live.digests.size("md5") == 1

    later_ref = _bank(ctx, helpline, later)
    assert live.find_digest("sha256", _digests(later)[1].value) == ()  # lagging
    live.catch_up()
    assert len(live.find_digest("sha256", _digests(later)[1].value)) == 1
    answer = check(ctx, photos, CheckRequest((_digests(later)[1],)))
    assert answer.decision == "block" and answer.matches[0].signal_type == "sha256"

    # Withdrawn: the store answers allow at once (the index lags), memory forgets on catch-up.
    withdraw_item(ctx, helpline, *later_ref)
    assert len(live.find_digest("sha256", _digests(later)[1].value)) == 1
    assert check(ctx, photos, CheckRequest(_digests(later))).decision == "allow"
    live.catch_up()
    for signal in _digests(later):
        assert live.find_digest(signal.type, signal.value) == ()
    assert live.digests.size("sha256") == 1


def test_the_same_file_banked_twice_maps_to_both_items_until_each_is_withdrawn(
    ctx: ServiceContext, world: World
) -> None:
    helpline = world.partner("Helpline")
    live = LiveIndexes(ctx.store, ctx.settings)
    live.build()
    first = _bank(ctx, helpline, b"shared")
    _bank(ctx, helpline, b"shared")
    live.catch_up()
    sha = _digests(b"shared")[1].value
    assert len(live.find_digest("sha256", sha)) == 2
    withdraw_item(ctx, helpline, *first)
    live.catch_up()
    assert len(live.find_digest("sha256", sha)) == 1


def test_digest_index_holds_raw_bytes_and_drops_values_on_removal() -> None:
    index = DigestIndex()
    sha = hashlib.sha256(b"x").hexdigest()
    index.add(7, [("sha256", sha), ("md5", hashlib.md5(b"x").hexdigest()), ("pdq", "ab" * 32)])
    index.add(7, [("sha256", sha)])  # a replayed event changes nothing
    assert index.find("sha256", sha) == (7,) and len(index) == 2
    assert index.find("sha256", "zz" * 32) == () and index.find("sha256", "ab") == ()
    [key] = index._by_value["sha256"]
    assert isinstance(key, bytes) and len(key) == 32
    assert sys.getsizeof(key) < sys.getsizeof(sha)
    index.remove(7)
    assert index.find("sha256", sha) == () and len(index) == 0
    assert not index._by_value["sha256"] and not index._by_item["sha256"]
