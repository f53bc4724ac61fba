"""``live_record_blocks``: the live whole-record values of a type as bytes, the rows (and the
order) of ``iter_live_signals`` with the same values skipped, on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np

from hashwall.hashing.keypoints import RECORD_BYTES
from hashwall.hashing.signals.keypoints import KeypointsSignal
from hashwall.service.keypoints import KeypointSets, read_live_sets
from hashwall.store.repo import Repository
from hashwall.store.repositories.records import RecordBlock
from hashwall.store.repositories.signals import SignalRecord

PDQ = "f" * 64


def _records(n: int, seed: int) -> str:
    return np.random.default_rng(seed).bytes(n * RECORD_BYTES).hex()


def _item(repo: Repository, *values: str) -> int:
    case = repo.create_case(pin_hash="argon2-hash", channel="anonymous")
    item_id = repo.add_item(case.id, kind="image", trust="vouched").id
    repo.add_signals(item_id, [SignalRecord("pdq", PDQ, 90)])
    repo.add_signals(item_id, [SignalRecord("keypoints", v) for v in values])
    return item_id


def _hex_read(repo: Repository) -> list[tuple[int, str]]:
    """What the hex read keeps: live rows in row order, whole records only."""
    return [
        (item_id, value)
        for chunk in repo.iter_live_signals("keypoints", chunk_size=2)
        for item_id, value in zip(chunk.item_ids, chunk.values, strict=True)
        if value and len(value) % (2 * RECORD_BYTES) == 0
    ]


def test_record_blocks_hold_the_live_whole_record_values_in_row_order(repo: Repository) -> None:
    assert list(repo.live_record_blocks("keypoints", RECORD_BYTES)) == []
    _item(repo, _records(3, 0))
    _item(repo, _records(83, 1).upper())  # hex of either case
    _item(repo, "")  # empty: skipped
    _item(repo, _records(2, 2)[:-2])  # not whole records: skipped
    gone = _item(repo, _records(5, 3))
    repo.set_item_state(gone, "withdrawn")  # its rows are there, the item is not live
    _item(repo, _records(1, 4), _records(4, 5))  # two values (intake writes one): both, in order
    _item(repo)  # no keypoints at all
    _item(repo, _records(7, 6))

    expected = _hex_read(repo)
    assert len(expected) == 5
    for span in (1, 3, 1000):
        blocks = list(repo.live_record_blocks("keypoints", RECORD_BYTES, span=span))
        got = [
            (int(item_id), block.data[start : start + size].hex())
            for block in blocks
            for item_id, start, size in zip(
                block.item_ids,
                np.r_[0, np.cumsum(block.sizes)[:-1]],
                block.sizes,
                strict=True,
            )
        ]
        assert got == [(i, v.lower()) for i, v in expected], span
    assert list(repo.live_record_blocks("sha256", RECORD_BYTES)) == []

    sets = read_live_sets(repo, KeypointsSignal)
    ids, values = zip(*expected, strict=True)
    old = KeypointSets.of(ids, values)
    for name in ("item_ids", "counts", "codes", "geometry"):
        new = np.concatenate([getattr(s, name) for s in sets])
        assert np.array_equal(new, getattr(old, name)), name
        assert new.dtype == getattr(old, name).dtype, name


def test_a_packed_block_scanned_out_of_order_is_put_in_row_order() -> None:
    data = [bytes([k]) * RECORD_BYTES * n for k, n in ((1, 2), (2, 1), (3, 3))]
    row = (
        3,
        np.array([30, 10, 20], dtype=">i8").tobytes(),
        np.array([len(d) for d in data], dtype=">i8").tobytes(),
        np.array([7, 8, 9], dtype=">i8").tobytes(),
        b"".join(data),
    )
    block = RecordBlock.of_packed(row, RECORD_BYTES)
    assert block.item_ids.tolist() == [8, 9, 7]
    assert block.sizes.tolist() == [16, 48, 32]
    assert block.data == data[1] + data[2] + data[0]
