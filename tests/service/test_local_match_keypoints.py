"""Keypoints through the feed and local matching: a photo banked with its keypoints reaches a
platform's copy unchanged (binary snapshot, JSON pages, events, compaction), and the copy finds
a crop PDQ misses with the service's decision; after a withdrawal and a sync it does not (its
values gone from the copy's files), and a different photo never does."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

from hashwall.api import mapping
from hashwall.bench.pictures import scene
from hashwall.cli.feed import sync
from hashwall.client import ApiError
from hashwall.domain import Actor
from hashwall.eval.transforms import SUITE
from hashwall.hashing.image import ImageHashes, hash_image
from hashwall.hashing.signals import KeypointsSignal
from hashwall.service.check import CheckRequest, CheckResult, check
from hashwall.service.context import ServiceContext
from hashwall.service.feed import FeedMirror, read_feed
from hashwall.service.feed_copy import FeedCopy
from hashwall.service.intake import ItemSubmission, create_case
from hashwall.service.local_match import BANK_FORMAT, LocalAnswer, LocalBank

from bank_ops import live_bank, withdraw
from feed_harness import InProcess

if TYPE_CHECKING:
    from conftest import World

PLATFORM = "photos"


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=92)
    return buf.getvalue()


def _crop(photo: Image.Image) -> bytes:
    return _jpeg(SUITE["crop_20_offcentre_keep"](photo, np.random.default_rng(5)))


@pytest.fixture(scope="module")
def photos() -> dict[str, ImageHashes]:
    """Two photos as banked (with keypoints), and uploads: their 20% off-centre crops with
    keypoints and without, and a different photo's crop (hashed once per module)."""
    first, second, other = scene(2), scene(5), scene(3)
    out = {
        "first": hash_image(_jpeg(first), orientations=True, keypoints="bank"),
        "second": hash_image(_jpeg(second), orientations=True, keypoints="bank"),
    }
    for name, photo in (("first_crop", first), ("second_crop", second), ("other_crop", other)):
        out[name] = hash_image(_crop(photo), fast=True, orientations=True, keypoints="upload")
    out["first_crop_pdq"] = hash_image(_crop(first), fast=True, orientations=True)
    return out


def _bank(ctx: ServiceContext, actor: Actor, hashes: ImageHashes) -> str:
    assert hashes.keypoints is not None and len(hashes.keypoints) >= 32
    receipt = create_case(ctx, actor, [ItemSubmission.from_image(hashes)])
    return receipt.accepted[0].item_ref


def _keypoints(hashes: ImageHashes) -> str:
    assert hashes.keypoints is not None
    return hashes.keypoints.to_bytes().hex()


class NoRoute(ApiError):
    status = 404


class PagesOnly(InProcess):
    """A server without the binary snapshot: ``feed sync`` reads JSON pages only."""

    @contextmanager
    def feed_snapshot(self, cursor: str | None = None, *, block: int | None = None
                      ) -> Iterator[io.BytesIO]:  # fmt: skip
        raise NoRoute("no such route")
        yield io.BytesIO()  # pragma: no cover


def _same(mine: LocalAnswer, theirs: CheckResult) -> tuple[str, str, list[str]]:
    """The local answer, checked against the service's: decision, reason, signal types."""
    assert (mine.decision, mine.reason) == (theirs.decision, theirs.reason)
    assert [m.decision for m in mine.matches] == [m.decision for m in theirs.matches]
    kinds = [m.signal_type for m in mine.matches]
    assert kinds == [m.signal_type for m in theirs.matches]
    assert all(m.distance is None for m in mine.matches if m.signal_type == "keypoints")
    return mine.decision, mine.reason, kinds


@pytest.mark.parametrize("server", ["blocks", "pages"])
def test_a_copy_finds_a_crop_pdq_misses_as_the_service_does_until_withdrawn(
    ctx: ServiceContext,
    world: World,
    photos: dict[str, ImageHashes],
    tmp_path: Path,
    server: str,
) -> None:
    platform = world.platform("Example", PLATFORM)
    helpline = world.partner("Helpline")
    first = _bank(ctx, helpline, photos["first"])  # vouched: block
    folder = tmp_path / "copy"
    client = InProcess(ctx, PLATFORM) if server == "blocks" else PagesOnly(ctx, PLATFORM)
    report = sync(client, FeedCopy.open(folder, "local"), limit=50, block=10)
    assert (report["blocks"], report["snapshot_items"]) == (int(server == "blocks"), 1)
    copy = FeedCopy.open(folder)
    assert copy.meta["types"]["keypoints"] == "bytes"
    # The value reaches the copy unchanged.
    (item,) = [item for ref, item in copy.view().items() if ref == first]
    held = [s["value"] for s in item["signals"] if s["type"] == "keypoints"]
    assert held == [_keypoints(photos["first"])]

    def answers(name: str) -> tuple[str, str, list[str]]:
        request = CheckRequest.from_image(photos[name])
        local = LocalBank.load(folder)
        return _same(local.match(request), check(ctx, platform, request))

    assert answers("first_crop_pdq") == ("allow", "no_match", [])  # PDQ alone misses the crop
    assert answers("first_crop") == ("review", "match", ["keypoints"])
    assert answers("other_crop") == ("allow", "no_match", [])
    crop = CheckRequest.from_image(photos["first_crop"])
    assert [m.item_ref for m in LocalBank.load(folder).match(crop).matches] == [first]

    # Banked after the first sync: an event, kept in the copy's log, then in a new base.
    second = _bank(ctx, Actor.reporter(), photos["second"])  # unvouched: review
    sync(client, FeedCopy.open(folder, "local"), limit=50)
    assert answers("second_crop") == ("review", "match", ["keypoints"])

    withdraw(ctx.store, first)
    report = sync(client, FeedCopy.open(folder, "local"), limit=50)
    assert report["removed"] == 1
    assert answers("first_crop") == ("allow", "no_match", [])
    assert answers("second_crop") == ("review", "match", ["keypoints"])
    stored = b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())
    gone = _keypoints(photos["first"])
    assert gone.encode() not in stored and bytes.fromhex(gone) not in stored

    copy = FeedCopy.open(folder, "local")
    copy.compact()
    assert _live(copy) == live_bank(ctx.store)
    assert answers("second_crop") == ("review", "match", ["keypoints"])
    assert answers("first_crop") == ("allow", "no_match", [])
    withdraw(ctx.store, second)
    sync(client, FeedCopy.open(folder, "local"), limit=50)
    assert answers("second_crop") == ("allow", "no_match", [])
    assert bytes.fromhex(_keypoints(photos["second"])) not in b"".join(
        p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    )


def _live(copy: FeedCopy) -> dict[str, tuple[str, str, frozenset[tuple[str, str]]]]:
    return {
        ref: (item["state"], item["trust"],
              frozenset((s["type"], s["value"]) for s in item["signals"]))
        for ref, item in copy.view().items()
    }  # fmt: skip


def test_json_pages_carry_keypoints_unchanged_and_a_json_copy_matches_them(
    ctx: ServiceContext, world: World, photos: dict[str, ImageHashes]
) -> None:
    platform = world.platform("Example", PLATFORM)
    ref = _bank(ctx, world.partner("Helpline"), photos["first"])
    mirror = FeedMirror()
    while True:
        page = mapping.feed_page(read_feed(ctx, platform, cursor=mirror.cursor, limit=1)).wire()
        mirror.apply(page)
        if not page["more"]:
            break
    signals = {s["type"]: s["value"] for s in mirror.items[ref]["signals"]}
    assert signals[KeypointsSignal.name] == _keypoints(photos["first"])
    document = {"format": BANK_FORMAT, "policy": page["policy"], "items": mirror.items}
    local = LocalBank.from_document(json.loads(json.dumps(document)))
    for name in ("first_crop", "first_crop_pdq", "other_crop"):
        request = CheckRequest.from_image(photos[name])
        _same(local.match(request), check(ctx, platform, request))
    assert local.match(CheckRequest.from_image(photos["first_crop"])).decision == "review"

    # Withdrawn: the events a consumer reads next never hold the value, and it is gone.
    withdraw(ctx.store, ref)
    page = mapping.feed_page(read_feed(ctx, platform, cursor=mirror.cursor)).wire()
    assert _keypoints(photos["first"]) not in json.dumps(page)
    mirror.apply(page)
    assert ref not in mirror.items
    fresh = mapping.feed_page(read_feed(ctx, platform)).wire()  # a new consumer
    assert _keypoints(photos["first"]) not in json.dumps(fresh)


def test_pdq_and_digests_are_found_first_and_keypoints_add_only_the_rest(
    photos: dict[str, ImageHashes],
) -> None:
    """An item found by PDQ keeps its PDQ match (its distance) though its keypoints match
    too; the copy's size sets the inliers needed, as the service's index does."""

    def item(hashes: ImageHashes) -> dict[str, object]:
        signals = [{"type": s.type, "value": s.value, "quality": s.quality}
                   for s in hashes.all_signals()]  # fmt: skip
        return {"kind": "image", "trust": "vouched", "state": "active", "signals": signals}

    local = LocalBank({"itm_first": item(photos["first"])}, {})
    whole = hash_image(_jpeg(scene(2)), fast=True, orientations=True, keypoints="upload")
    answer = local.match(CheckRequest.from_image(whole))
    assert [(m.item_ref, m.signal_type) for m in answer.matches] == [("itm_first", "pdq")]
    assert answer.matches[0].distance == 0
    crop = local.match(CheckRequest.from_image(photos["first_crop"]))
    assert [(m.item_ref, m.signal_type) for m in crop.matches] == [("itm_first", "keypoints")]
    # A withdrawn item of a JSON copy is not held, and a value that is not whole records is
    # left out as the service leaves it out.
    gone = dict(item(photos["first"]), state="withdrawn")
    broken = item(photos["second"])
    broken["signals"] = [{"type": "keypoints", "value": "ab" * 15, "quality": None}]
    local = LocalBank({"itm_gone": gone, "itm_broken": broken}, {})
    assert local.match(CheckRequest.from_image(photos["first_crop"])).decision == "allow"
