"""Exact digests from memory: built with the live index, following the same events."""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING, Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hashwall.hashing.signals import Signal
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.digests import DigestChange, DigestIndex
from hashwall.service.indexes import LiveIndexes
from hashwall.service.intake import ItemSubmission, create_case
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
    index.compact()
    index.add(7, [("sha256", sha.upper())])  # replayed against the main segment
    assert index.find("sha256", sha) == (7,) and index.nbytes() == (8 + 24 + 8) + (8 + 8 + 8)
    index.remove(7)
    assert index.find("sha256", sha) == () and len(index) == 0
    index.compact()
    assert index.nbytes() == 0  # the removed values are dropped at compaction


def test_digest_index_memory_is_arrays_of_raw_bytes_per_banked_file() -> None:
    n = 10_000
    files = [str(i).encode() for i in range(n)]
    index = DigestIndex()
    index.build("md5", [(range(n), [hashlib.md5(f).hexdigest() for f in files])])
    index.build("sha256", [(range(n), [hashlib.sha256(f).hexdigest() for f in files])])
    assert index.nbytes() == 64 * n  # 8-byte key + rest + 8-byte id, per digest
    assert index.find("sha256", hashlib.sha256(files[1234]).hexdigest()) == (1234,)
    assert index.size("md5") == index.size("sha256") == n


def test_build_streams_chunks_and_skips_values_that_are_not_digests() -> None:
    sha = [hashlib.sha256(bytes([i])).hexdigest() for i in range(4)]
    index = DigestIndex()
    index.build(
        "sha256", iter([([1, 2], [sha[0], "erased"]), ([3, 4], [sha[2], sha[3][:-2] + "zz"])])
    )
    index.build("pdq", [([5], ["ab" * 32])])  # not a digest type: ignored
    assert index.find("sha256", sha[0]) == (1,) and index.find("sha256", sha[2]) == (3,)
    assert index.find("sha256", sha[1]) == () and index.size("sha256") == 2
    index.build("sha256", [])  # a new snapshot replaces the old one
    assert index.find("sha256", sha[0]) == () and len(index) == 0


def _colliding(tail: int, prefix: int = 0) -> str:
    """A sha256 whose first 8 bytes (the sort key) are ``prefix``: equal keys, other digests."""
    return (prefix.to_bytes(8, "big") + tail.to_bytes(24, "big")).hex()


def test_equal_keys_with_different_digests_are_told_apart() -> None:
    index = DigestIndex(delta_max=1)
    index.build("sha256", [([1, 2, 3], [_colliding(1), _colliding(2), _colliding(1)])])
    index.add(4, [("sha256", _colliding(3))])
    index.add(5, [("sha256", _colliding(2))])  # past delta_max: compacted into the main segment
    assert index.find("sha256", _colliding(1)) == (1, 3)
    assert index.find("sha256", _colliding(2)) == (2, 5)
    assert index.find("sha256", _colliding(3)) == (4,)
    assert index.find("sha256", _colliding(4)) == ()


def test_a_value_added_removed_and_readded_is_found_only_while_held() -> None:
    sha = _colliding(9, prefix=7)
    index = DigestIndex()
    index.build("sha256", [([1], [sha])])
    index.remove(1)
    assert index.find("sha256", sha) == ()
    index.add(1, [("sha256", sha)])  # the same item again (the main segment's row stays dead)
    index.add(2, [("sha256", sha)])
    assert index.find("sha256", sha) == (1, 2)
    index.remove(1)
    assert index.find("sha256", sha) == (2,)
    index.compact()
    index.add(1, [("sha256", sha)])
    assert index.find("sha256", sha) == (1, 2) and index.size("sha256") == 2
    index.remove(2)
    index.compact()
    assert index.find("sha256", sha) == (1,)


class DictModel:
    """The specification: ``item -> set of (type, value)``."""

    def __init__(self) -> None:
        self.held: dict[int, set[tuple[str, bytes]]] = {}

    def add(self, item_id: int, signals: list[tuple[str, str]]) -> None:
        for signal_type, value in signals:
            self.held.setdefault(item_id, set()).add((signal_type, bytes.fromhex(value)))

    def remove(self, item_id: int) -> None:
        self.held.pop(item_id, None)

    def find(self, signal_type: str, value: str) -> tuple[int, ...]:
        key = (signal_type, bytes.fromhex(value))
        return tuple(sorted(i for i, held in self.held.items() if key in held))

    def size(self, signal_type: str) -> int:
        return sum(1 for held in self.held.values() if any(t == signal_type for t, _ in held))


# Few values, half of them sharing a sort key, so that collisions and duplicates are common.
_VALUES = [("sha256", _colliding(t, prefix=t % 2)) for t in range(6)] + [
    ("md5", (t % 2).to_bytes(8, "big").hex() + t.to_bytes(8, "big").hex()) for t in range(4)
]
_items = st.integers(1, 8)
_signals = st.lists(st.sampled_from(_VALUES), max_size=3)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), _items, _signals),
        st.tuples(st.just("remove"), _items, st.just([])),
        st.tuples(
            st.just("batch"),
            st.lists(st.tuples(_items, _signals, st.booleans()), max_size=4),
            st.just([]),
        ),
        st.tuples(st.just("compact"), st.just(0), st.just([])),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    initial=st.lists(st.tuples(_items, st.sampled_from(_VALUES)), max_size=10),
    ops=_ops,
    delta_max=st.sampled_from([0, 2, 1000]),
    dead_max=st.sampled_from([0, 2, 1000]),
)
def test_answers_match_a_dict_model_under_any_interleaving(
    initial: list[tuple[int, tuple[str, str]]],
    ops: list[tuple[str, Any, Any]],
    delta_max: int,
    dead_max: int,
) -> None:
    index = DigestIndex(delta_max=delta_max, dead_max=dead_max)
    model = DictModel()
    for signal_type in index.types:
        rows = [(i, v) for i, (t, v) in initial if t == signal_type]
        index.build(signal_type, [([i for i, _ in rows], [v for _, v in rows])])
    for item_id, signal in initial:
        model.add(item_id, [signal])
    for op, arg, signals in ops:
        if op == "add":
            index.add(arg, signals)
            model.add(arg, signals)
        elif op == "remove":
            index.remove(arg)
            model.remove(arg)
        elif op == "batch":
            index.apply([DigestChange(i, tuple(sig), removed=gone) for i, sig, gone in arg])
            for i, sig, gone in arg:
                model.remove(i) if gone else model.add(i, sig)
        else:
            index.compact()
        for signal_type, value in _VALUES:
            assert index.find(signal_type, value) == model.find(signal_type, value)
            assert index.find(signal_type, value.upper()) == model.find(signal_type, value)
        for signal_type in index.types:
            assert index.size(signal_type) == model.size(signal_type)


def test_lookups_during_compaction_from_another_thread_see_whole_changes() -> None:
    kept = [(i, hashlib.sha256(b"kept %d" % i).hexdigest()) for i in range(200)]
    index = DigestIndex(delta_max=5, dead_max=5)
    index.build("sha256", [([i for i, _ in kept], [v for _, v in kept])])
    stop = threading.Event()
    wrong: list[str] = []
    churn = hashlib.sha256(b"churn").hexdigest()

    def look() -> None:
        while not stop.is_set():
            for item_id, value in kept[::17]:
                if index.find("sha256", value) != (item_id,):
                    wrong.append(value)
            # Items 1000+ hold the churned value only in pairs, published in one batch.
            if len(index.find("sha256", churn)) % 2:
                wrong.append("half a batch")

    threads = [threading.Thread(target=look) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for round_ in range(300):
            a, b = 1000 + 2 * round_, 1001 + 2 * round_
            index.apply(
                [DigestChange(a, (("sha256", churn),)), DigestChange(b, (("sha256", churn),))]
            )
            assert index.find("sha256", churn)[-2:] == (a, b)
            index.apply([DigestChange(a, removed=True), DigestChange(b, removed=True)])
            assert index.find("sha256", churn) == ()  # never returned once its removal applied
            if round_ % 50 == 0:
                index.compact()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not wrong


def test_a_stored_value_of_another_width_is_skipped_and_the_rest_still_built(
    ctx: ServiceContext, world: World
) -> None:
    """The build reads digests in blocks; one stored value of another width (never written by
    intake, but a store may hold one) sends the read row by row, which skips it."""
    helpline = world.partner("Helpline")
    _bank(ctx, helpline, b"first file")
    _bank(ctx, helpline, b"second file")
    with ctx.store.write() as repo:
        item_id = repo.find_items_by_signal("sha256", [_digests(b"first file")[1].value])[0].id
        repo.add_signals(item_id, [Signal("md5", "0" * 31)])
    live = LiveIndexes(ctx.store, ctx.settings)
    live.build()
    for data in (b"first file", b"second file"):
        for signal in _digests(data):
            assert len(live.find_digest(signal.type, signal.value)) == 1
    assert live.digests.size("md5") == live.digests.size("sha256") == 2
