"""The ``keypoints`` signal type through the service: banked with a case, searched by a check
(in the live index, or in the store without one), gone the moment it is withdrawn; a crop
that PDQ cannot find is found, a different photo is not, and PDQ-only checks still work."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

from hashwall.bench.pictures import scene
from hashwall.domain import Actor
from hashwall.eval.transforms import SUITE
from hashwall.hashing.image import ImageHashes, hash_image
from hashwall.hashing.signals import KeypointsSignal
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.indexes import LiveIndexes
from hashwall.service.intake import ItemSubmission, create_case
from hashwall.service.withdraw import withdraw_item

if TYPE_CHECKING:
    from conftest import World


def _jpeg(img: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _repost(photo: Image.Image, name: str) -> bytes:
    """The eval's transform ``name`` of ``photo`` (its own seeded randomness)."""
    return _jpeg(SUITE[name](photo, np.random.default_rng(5)))


def _upload(data: bytes, keypoints: bool = True) -> CheckRequest:
    hashes = hash_image(
        data, fast=True, orientations=True, keypoints="upload" if keypoints else None
    )
    return CheckRequest.from_image(hashes)


def _bank(ctx: ServiceContext, partner: Actor, photo: Image.Image) -> tuple[str, str]:
    hashes = hash_image(_jpeg(photo), orientations=True, keypoints="bank")
    assert hashes.keypoints is not None and len(hashes.keypoints) >= 32
    receipt = create_case(ctx, partner, [ItemSubmission.from_image(hashes)])
    (item,) = receipt.accepted
    return receipt.case_number, item.item_ref


def test_a_banked_photo_keeps_its_keypoints_in_the_store(ctx: ServiceContext, world: World) -> None:
    hashes: ImageHashes = hash_image(_jpeg(scene(1)), orientations=True, keypoints="bank")
    assert hashes.keypoints is not None
    value = hashes.keypoints.to_bytes().hex()
    assert len(value) > 2000  # past what a b-tree entry of the whole value could hold
    case_number, _ = _bank(ctx, world.partner("Helpline"), scene(1))
    with ctx.store.read() as repo:
        case = repo.get_case(case_number)
        assert case is not None
        (item,) = repo.list_items(case.id)
        rows = [s for s in repo.list_signals(item.id) if s.type == KeypointsSignal.name]
    assert [r.value for r in rows] == [value]


def test_a_crop_pdq_misses_is_found_by_keypoints_in_the_store(
    ctx: ServiceContext, world: World
) -> None:
    photo = scene(2)
    _bank(ctx, world.partner("Helpline"), photo)
    platform = world.platform("Example", "feed")
    cropped = _repost(photo, "crop_20_offcentre_keep")
    assert check(ctx, platform, _upload(cropped, keypoints=False)).decision == "allow"
    answer = check(ctx, platform, _upload(cropped))
    # A vouched item found by keypoints alone asks a reviewer: it never blocks on them.
    assert answer.decision == "review" and [m.signal_type for m in answer.matches] == ["keypoints"]
    assert answer.matches[0].distance is None
    # A different photo, cropped alike, is not found.
    other = _repost(scene(3), "crop_20_offcentre_keep")
    assert check(ctx, platform, _upload(other)).decision == "allow"


def test_the_live_index_finds_follows_and_forgets(ctx: ServiceContext, world: World) -> None:
    photo = scene(4)
    helpline = world.partner("Helpline")
    case_number, item_ref = _bank(ctx, helpline, photo)
    platform = world.platform("Example", "feed")
    live = LiveIndexes(ctx.store, ctx.settings)
    live.build()
    assert live.sizes()[KeypointsSignal.name] == 1
    with_live = replace(ctx, live=live)
    turned = _repost(photo, "rotate_8_crop")
    answer = check(with_live, platform, _upload(turned))
    assert answer.decision == "review" and answer.matches[0].signal_type == "keypoints"

    # Banked after the build: found once the index followed the log.
    later = scene(5)
    _bank(ctx, helpline, later)
    shot = _upload(_repost(later, "screenshot_75"))
    live.catch_up()
    assert live.sizes()[KeypointsSignal.name] == 2
    assert check(with_live, platform, shot).decision == "review"

    # Withdrawn: allow at once (the store is re-read), and gone from the index after.
    withdraw_item(ctx, helpline, case_number, item_ref)
    assert check(with_live, platform, _upload(turned)).decision == "allow"
    live.catch_up()
    assert live.sizes()[KeypointsSignal.name] == 1
    ((kind, signal),) = _upload(turned).geometric()
    assert live.search_keypoints(kind.name, kind.decode(signal.value)) == []


def test_a_pdq_only_check_still_matches_the_way_it_did(ctx: ServiceContext, world: World) -> None:
    photo = scene(6)
    _bank(ctx, world.partner("Helpline"), photo)
    platform = world.platform("Example", "feed")
    plain = hash_image(_jpeg(photo, 70), fast=True, orientations=True)
    answer = check(ctx, platform, CheckRequest.from_image(plain))
    assert answer.decision == "block" and answer.matches[0].signal_type == "pdq"
    # The same re-encode with its keypoints: PDQ found it, so it blocks as PDQ does (the
    # keypoints' own cap, review, is only for what they find alone).
    both = _upload(_jpeg(photo, 70))
    answer = check(ctx, platform, both)
    assert answer.decision == "block" and answer.matches[0].signal_type == "pdq"


def test_the_store_migration_back_drops_only_the_long_values(
    ctx: ServiceContext, world: World
) -> None:
    from hashwall.store import migrate

    case_number, _ = _bank(ctx, world.partner("Helpline"), scene(7))
    engine = ctx.store.engine

    def kinds() -> list[str]:
        with ctx.store.read() as repo:
            case = repo.get_case(case_number)
            assert case is not None
            (item,) = repo.list_items(case.id)
            return sorted(s.type for s in repo.list_signals(item.id))

    assert kinds() == ["keypoints", "md5", "pdq", "sha256"]
    migrate.downgrade(engine, "0004")  # the index of whole values cannot hold a keypoints set
    assert kinds() == ["md5", "pdq", "sha256"]
    migrate.upgrade(engine)
    assert migrate.schema_diff(engine) == []


def test_a_stale_index_scans_a_few_keypoint_sets_and_refuses_many(
    ctx: ServiceContext, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hashwall.errors import StoreUnavailable
    from hashwall.service import check as check_module

    photo = scene(8)
    _bank(ctx, world.partner("Helpline"), photo)
    platform = world.platform("Example", "feed")
    now = [0.0]
    live = LiveIndexes(ctx.store, ctx.settings, clock=lambda: now[0])
    live.build()
    later = scene(9)
    _bank(ctx, world.partner("Helpline 2"), later)  # not followed: the index is stale
    now[0] += ctx.settings.index_max_lag + 1
    assert not live.current
    stale = replace(ctx, live=live)
    shot = _upload(_repost(later, "screenshot_75"))
    answer = check(stale, platform, shot)  # two sets: scanned in the store
    assert answer.decision == "review" and answer.matches[0].signal_type == "keypoints"
    monkeypatch.setattr(check_module, "STALE_KEYPOINT_SCAN_MAX", 0)
    with pytest.raises(StoreUnavailable):
        check(stale, platform, shot)
    assert live.stale_checks == {"store_scan": 1, "refused": 1}
