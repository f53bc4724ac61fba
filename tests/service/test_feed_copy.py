"""The compact local copy (``service/feed_copy.py``) synced from the feed's binary snapshot and
its events: the live set exactly, changes applied by a re-sync (withdrawn values gone from the
files), a resumed first sync, a clean error for a damaged copy; and the matcher over it."""

from __future__ import annotations

import json
import random
import stat
from pathlib import Path

import numpy as np
import pytest

from hashwall.api import mapping
from hashwall.cli.feed import BANK_FILE, open_copy, sync
from hashwall.domain import Actor
from hashwall.errors import InvalidInput
from hashwall.hashing.signals import Signal
from hashwall.service import tenants
from hashwall.service.context import ServiceContext
from hashwall.service.feed import FeedMirror, read_feed
from hashwall.service.feed_copy import META_FILE, FeedCopy
from hashwall.service.feed_copy_view import CopyView
from hashwall.service.local_match import LocalBank
from hashwall.service.upload import CheckRequest
from hashwall.store.events import TRUST_CHANGED

from bank_ops import LiveView, enrol, live_bank, quarantine, random_signals, withdraw
from feed_harness import InProcess

OP = Actor.operator()


@pytest.fixture
def platform(ctx: ServiceContext) -> str:
    tenants.add_organisation(ctx, OP, "Example Social")
    tenants.add_platform(ctx, OP, organisation="Example Social", name="photos")
    return "photos"


def view_of(copy: FeedCopy) -> LiveView:
    """The copy's live set in :func:`live_bank`'s form."""
    return {
        ref: (item["state"], item["trust"],
              frozenset((s["type"], s["value"]) for s in item["signals"]))
        for ref, item in copy.view().items()
    }  # fmt: skip


def files_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_a_first_sync_copies_the_live_set_in_blocks(
    ctx: ServiceContext, platform: str, tmp_path: Path
) -> None:
    rng = random.Random(1)
    banked = [enrol(ctx.store, rng=rng, trust=("vouched", "unvouched")[i % 2]) for i in range(7)]
    quarantine(ctx.store, banked[0].item_ref)
    withdraw(ctx.store, banked[1].item_ref)
    copy = FeedCopy.open(tmp_path / "copy", "local")
    report = sync(InProcess(ctx, platform), copy, limit=3, block=2, checkpoint=0)
    assert report["blocks"] in (3, 4)  # ranges of 2 refs; one of the 7 is withdrawn
    assert report["snapshot_items"] == 6 and report["items"] == 6
    assert view_of(copy) == live_bank(ctx.store)
    assert copy.meta["platform"] == "photos" and copy.meta["policy"]["unvouched_answer"]
    for path in (tmp_path / "copy").rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # The index's arrays as saved: a distance type's values are its (n, 32) uint8 codes.
    codes = np.load(copy.base / "signals" / "pdq" / "values.npy", mmap_mode="r")
    assert codes.shape == (6, 32) and codes.dtype == np.uint8
    again = sync(InProcess(ctx, platform), FeedCopy.open(tmp_path / "copy", "local"), limit=3)
    assert again["resumed"] and (again["blocks"], again["events"]) == (0, 0)


def test_a_resync_applies_adds_removals_state_and_trust(
    ctx: ServiceContext, platform: str, tmp_path: Path
) -> None:
    rng = random.Random(2)
    banked = [enrol(ctx.store, rng=rng, trust="unvouched") for _ in range(5)]
    folder = tmp_path / "copy"
    sync(InProcess(ctx, platform), FeedCopy.open(folder, "local"), limit=10, block=2)
    late = enrol(ctx.store, rng=rng)
    gone_later = enrol(ctx.store, rng=rng)
    withdraw(ctx.store, banked[0].item_ref)
    withdraw(ctx.store, gone_later.item_ref)
    quarantine(ctx.store, banked[1].item_ref)
    with ctx.store.write() as repo:
        item = repo.get_item(banked[2].item_ref)
        assert item is not None
        trusted = repo.set_item_trust(item.id, "vouched")
        repo.append_event(TRUST_CHANGED, {"item": item.item_ref, "trust": "vouched"}, item=trusted)
    copy = FeedCopy.open(folder, "local")
    report = sync(InProcess(ctx, platform), copy, limit=2, block=2)
    assert report["resumed"] and report["blocks"] == 0 and report["removed"] == 2
    assert view_of(copy) == live_bank(ctx.store)
    # The withdrawn items' values are gone from every file of the copy, not only from its view.
    stored = files_bytes(folder)
    for signal in (*banked[0].signals, *gone_later.signals):
        assert signal.value.encode() not in stored
        if signal.type == "pdq":
            assert bytes.fromhex(signal.value) not in stored

    bank = LocalBank.from_view(copy.view())
    assert len(bank) == 5

    def answer(banked_signals: tuple[Signal, ...]) -> str:
        pdq = next(s for s in banked_signals if s.type == "pdq")
        return bank.match(CheckRequest((pdq,))).decision

    assert answer(banked[0].signals) == "allow"  # withdrawn
    assert answer(banked[1].signals) == "review"  # quarantined
    assert answer(banked[2].signals) == "block"  # vouched since
    assert answer(banked[3].signals) == "review"  # unvouched
    assert answer(late.signals) == "block"  # added after the first sync

    copy.compact()  # folding the log changes nothing of the live set
    assert copy.meta["log_records"] == 0 and copy.generation == 2
    assert view_of(FeedCopy.open(folder)) == live_bank(ctx.store)
    assert sorted(p.name for p in folder.iterdir()) == ["base-2", META_FILE]


def test_an_interrupted_first_sync_resumes_without_gaps_or_duplicates(
    ctx: ServiceContext, platform: str, tmp_path: Path
) -> None:
    rng = random.Random(3)
    for _ in range(9):
        enrol(ctx.store, rng=rng)
    folder = tmp_path / "copy"
    client = InProcess(ctx, platform)
    client.cut = 0.6  # a few blocks of 2, then the connection drops inside one
    with pytest.raises(InvalidInput):
        sync(client, FeedCopy.open(folder, "local"), limit=10, block=2, checkpoint=0)
    saved = FeedCopy.open(folder, "local")
    assert saved.meta["building"] and 0 < saved.meta["rows"]["items/ref.npy"] < 9
    with pytest.raises(InvalidInput, match="has not finished"):
        saved.view()
    enrol(ctx.store, rng=rng)  # banked meanwhile: comes as an event
    report = sync(client, saved, limit=10, block=2, checkpoint=0)
    assert report["resumed"] and report["events"] == 1
    assert view_of(saved) == live_bank(ctx.store) and len(saved.view()) == 10


def test_a_damaged_or_foreign_copy_is_a_clear_error(
    ctx: ServiceContext, platform: str, tmp_path: Path
) -> None:
    enrol(ctx.store, rng=random.Random(4))
    folder = tmp_path / "copy"
    sync(InProcess(ctx, platform), FeedCopy.open(folder, "local"), limit=10)
    items = FeedCopy.open(folder).base / "items" / "state.npy"
    items.write_bytes(items.read_bytes()[:100])
    with pytest.raises(InvalidInput, match="cannot read"):
        LocalBank.load(folder)
    (folder / META_FILE).write_text("{not json")
    with pytest.raises(InvalidInput, match="cannot read"):
        FeedCopy.open(folder)
    (folder / META_FILE).write_text(json.dumps({"format": "something/9"}))
    with pytest.raises(InvalidInput, match="not a hashwall feed copy"):
        LocalBank.load(folder)
    with pytest.raises(InvalidInput, match="holds no feed copy"):
        LocalBank.load(tmp_path)


def test_an_old_json_copy_is_converted_once(
    ctx: ServiceContext, platform: str, tmp_path: Path
) -> None:
    rng = random.Random(5)
    banked = [enrol(ctx.store, rng=rng) for _ in range(3)]
    mirror = FeedMirror()
    page = mapping.feed_page(read_feed(ctx, OP, platform=platform)).wire()
    mirror.apply(page)
    folder = tmp_path / "copy"
    folder.mkdir()
    (folder / BANK_FILE).write_text(json.dumps({
        "format": "hashwall-feed-mirror/1", "server": "local", "platform": platform,
        "policy": page["policy"], "cursor": mirror.cursor, "head_seq": page["head_seq"],
        "items": mirror.items}))  # fmt: skip
    withdraw(ctx.store, banked[0].item_ref)
    copy = open_copy(folder, "local")
    assert not (folder / BANK_FILE).exists()
    report = sync(InProcess(ctx, platform), copy, limit=10)
    assert report["resumed"] and report["removed"] == 1
    assert view_of(copy) == live_bank(ctx.store)


def test_a_json_copy_and_a_view_of_it_agree() -> None:
    items = {
        "itm_a": {"kind": "image", "trust": "vouched", "state": "active",
                  "signals": [{"type": "md5", "value": "0" * 32, "quality": None},
                              {"type": "vpdq_frame", "value": "ab" * 32, "quality": 80,
                               "frame_number": 3, "frame_timestamp": 1.5}]},
        "itm_b": {"kind": "video", "trust": "unvouched", "state": "withdrawn", "signals": []},
    }  # fmt: skip
    view = CopyView.from_items(items, {})
    assert dict(view.items()) == {"itm_a": items["itm_a"]}


def test_a_reader_that_read_meta_before_a_compaction_reads_the_new_base(
    ctx: ServiceContext, platform: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race of a matcher loading the copy while a sync compacts it: ``meta.json`` read
    just before the compaction, the base files just after it removed them. ``read_view``
    reads again from the new ``meta.json``; a plain ``view()`` of the stale copy cannot."""
    rng = random.Random(9)
    for _ in range(4):
        enrol(ctx.store, rng=rng)
    folder = tmp_path / "copy"
    sync(InProcess(ctx, platform), FeedCopy.open(folder, "local"), limit=10, block=2)
    enrol(ctx.store, rng=rng)
    sync(InProcess(ctx, platform), FeedCopy.open(folder, "local"), limit=10)
    expected = live_bank(ctx.store)

    real_open = FeedCopy.open
    stale = real_open(folder)  # meta.json of generation 1, read before the compaction
    compacting = real_open(folder)
    compacting.compact()  # writes base-2, replaces meta.json, removes base-1
    assert compacting.generation == stale.generation + 1
    with pytest.raises(InvalidInput, match="cannot read"):
        stale.view()

    handed: list[FeedCopy] = [stale]

    def open_racing(directory: Path, server: str | None = None) -> FeedCopy:
        return handed.pop() if handed else real_open(directory, server)

    monkeypatch.setattr(FeedCopy, "open", staticmethod(open_racing))
    copy, view = FeedCopy.read_view(folder)
    assert copy.generation == 2 and len(view) == len(expected) == 5
    monkeypatch.setattr(FeedCopy, "open", staticmethod(real_open))
    assert {ref for ref, _ in view.items()} == set(expected)
    (folder / "base-2" / "items" / "state.npy").unlink()  # damaged, not moved: an error
    with pytest.raises(InvalidInput, match="cannot read"):
        FeedCopy.read_view(folder)


def test_a_copy_of_the_format_before_packed_values_is_read_and_saved_as_the_new_one(
    ctx: ServiceContext, platform: str, tmp_path: Path
) -> None:
    """A ``hashwall-feed-copy/2`` folder (no packed type) reads as it is; its next sync saves
    it as ``/3``, with the keypoints an event brings kept packed; other formats are refused."""
    rng = random.Random(11)
    enrol(ctx.store, rng=rng)
    folder = tmp_path / "copy"
    sync(InProcess(ctx, platform), FeedCopy.open(folder, "local"), limit=10)
    meta = json.loads((folder / META_FILE).read_text())
    (folder / META_FILE).write_text(json.dumps({**meta, "format": "hashwall-feed-copy/2"}))
    assert view_of(FeedCopy.open(folder)) == live_bank(ctx.store)
    records = "".join(f"{rng.getrandbits(128):032x}" for _ in range(20))
    enrol(ctx.store, [*random_signals(rng), Signal("keypoints", records)], rng=rng)
    copy = FeedCopy.open(folder, "local")
    report = sync(InProcess(ctx, platform), copy, limit=10)
    assert report["resumed"] and report["events"] == 1
    assert json.loads((folder / META_FILE).read_text())["format"] == "hashwall-feed-copy/3"
    assert view_of(copy) == live_bank(ctx.store)
    copy.compact()
    assert copy.meta["types"]["keypoints"] == "bytes"
    assert view_of(FeedCopy.open(folder)) == live_bank(ctx.store)
    (folder / META_FILE).write_text(json.dumps({**meta, "format": "hashwall-feed-copy/1"}))
    with pytest.raises(InvalidInput, match="not a hashwall feed copy"):
        FeedCopy.open(folder)
