"""Keypoint codes: found again in cropped, padded, scaled, turned and mirrored copies; not
matched between different pictures; stored and read back; no failure on degenerate input."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw, ImageOps

from hashwall.bench.pictures import scene
from hashwall.hashing.keypoints import (
    CODE_RADIUS,
    MIN_INLIERS,
    MIRROR_MASK,
    RECORD_BYTES,
    Keypoints,
    code_distances,
    keypoints,
    match_inliers,
    required_inliers,
    upload_keypoints,
    working_side,
)


def jpeg(img: Image.Image, quality: int = 90) -> npt.NDArray[np.uint8]:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    with Image.open(io.BytesIO(buf.getvalue())) as out:
        return np.asarray(out.convert("RGB"))


def banked(img: Image.Image) -> Keypoints:
    return keypoints(np.asarray(img))


def upload(img: Image.Image) -> Keypoints:
    return upload_keypoints(jpeg(img))


def _crop(img: Image.Image, keep: float, dx: float, dy: float) -> Image.Image:
    w, h = img.size
    cw, ch = round(w * keep), round(h * keep)
    x0, y0 = round((w - cw) * dx), round((h - ch) * dy)
    return img.crop((x0, y0, x0 + cw, y0 + ch))


def _pad(img: Image.Image, share: float) -> Image.Image:
    w, h = img.size
    out = Image.new("RGB", (round(w * (1 + share)), round(h * (1 + share))), (250, 240, 20))
    out.paste(img, ((out.width - w) // 2, (out.height - h) // 2))
    return out


COPIES = {
    "as is": lambda im: im,
    "crop 20% off-centre": lambda im: _crop(im, 0.8, 0.9, 0.1),
    "crop 30% one side": lambda im: im.crop((0, 0, round(im.width * 0.7), im.height)),
    "pad 40%": lambda im: _pad(im, 0.4),
    "half size": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "turned 8 degrees, corners cut": lambda im: _crop(
        im.rotate(8, resample=Image.Resampling.BICUBIC), 0.75, 0.5, 0.5
    ),
    "turned 90": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "mirrored": ImageOps.mirror,
    "upside down": ImageOps.flip,
    "screenshot-like": lambda im: _pad(im.resize((im.width * 2 // 3, im.height * 2 // 3)), 0.9),
}


@pytest.mark.parametrize("name", list(COPIES))
def test_a_copy_matches_its_original(name: str) -> None:
    original = scene(3)
    assert match_inliers(upload(COPIES[name](original)), banked(original)) >= MIN_INLIERS


@pytest.mark.parametrize("name", ["as is", "crop 20% off-centre", "pad 40%", "mirrored"])
def test_a_copy_does_not_match_other_pictures(name: str) -> None:
    copy = upload(COPIES[name](scene(3)))
    for other in range(10, 22):
        assert match_inliers(copy, banked(scene(other))) < MIN_INLIERS


def test_mirrored_keypoints_are_those_of_the_mirrored_picture() -> None:
    img = scene(5)
    direct = keypoints(np.asarray(ImageOps.mirror(img)))
    derived = keypoints(np.asarray(img)).mirrored()
    # at the reflected places (x measured the other way), the same codes up to a few bits
    # (the pyramid's halving is not exactly symmetric, so not all of them bit for bit)
    width = img.width / max(img.size)
    gap = np.hypot(derived.x[:, None] + width - direct.x[None, :], derived.y[:, None] - direct.y)
    same_place = gap.min(axis=1) < 0.003
    assert same_place.mean() > 0.75
    d = code_distances(derived.codes, direct.codes)[np.arange(len(derived)), gap.argmin(axis=1)]
    assert np.median(d[same_place]) <= 2
    assert (d[same_place] <= 4).mean() > 0.6


def test_the_mirror_mask_inverts_the_odd_vertical_frequencies() -> None:
    bits = [(int(MIRROR_MASK) >> i) & 1 for i in range(64)]
    assert bits == [(i // 8) % 2 for i in range(64)]


def test_keypoints_are_the_same_every_time() -> None:
    a, b = banked(scene(7)), banked(scene(7))
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.x, b.x)
    assert 20 <= len(a) <= 2 * 64


def test_stored_keypoints_read_back_within_their_rounding() -> None:
    found = banked(scene(8))
    data = found.to_bytes()
    assert len(data) == RECORD_BYTES * len(found)
    back = Keypoints.from_bytes(data)
    assert np.array_equal(back.codes, found.codes)
    for a, b in ((back.x, found.x), (back.y, found.y), (back.scale, found.scale)):
        assert np.abs(a - b).max() <= 1 / 65535
    turn = np.angle(np.exp(1j * (back.angle - found.angle)))
    assert np.abs(turn).max() <= 2 * np.pi / 65536
    assert match_inliers(upload(scene(8)), back) >= MIN_INLIERS


def test_bad_records_are_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Keypoints.from_bytes(b"\0" * 17)


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((1, 1, 3), np.uint8),
        np.zeros((7, 300, 3), np.uint8),
        np.full((200, 300, 3), 128, np.uint8),
        np.zeros((64, 64), np.uint8),
    ],
    ids=["one pixel", "a thin strip", "flat grey", "grey channel only"],
)
def test_degenerate_pictures_give_no_keypoints_and_no_error(pixels: npt.NDArray[np.uint8]) -> None:
    found = keypoints(pixels)
    assert len(found) == 0
    assert match_inliers(found, banked(scene(1))) == 0
    assert match_inliers(upload(scene(1)), found) == 0


def _two_layers(shift_back: int, shift_front: int) -> Image.Image:
    """One shot of a scene with depth: a background and a foreground of shapes cut out of
    another picture, each moved by its own amount (what a camera moved sideways sees)."""
    back, front = scene(30, (720, 360)), scene(31, (720, 360))
    mask = Image.new("L", front.size, 0)
    draw = ImageDraw.Draw(mask)
    rng = np.random.default_rng(32)
    for _ in range(14):
        x, y = int(rng.integers(60, 660)), int(rng.integers(40, 320))
        draw.ellipse((x - 45, y - 45, x + 45, y + 45), fill=255)
    shot = back.crop((shift_back, 0, shift_back + 480, 360))
    shot.paste(
        front.crop((shift_front, 0, shift_front + 480, 360)),
        (0, 0),
        mask.crop((shift_front, 0, shift_front + 480, 360)),
    )
    return shot


def test_a_second_shot_of_a_scene_with_depth_is_not_a_copy() -> None:
    first = _two_layers(60, 60)
    assert match_inliers(upload(_crop(first, 0.85, 0.2, 0.5)), banked(first)) >= MIN_INLIERS
    second = _two_layers(90, 120)  # the background moved 30 pixels, the foreground 60
    assert match_inliers(upload(second), banked(first)) < MIN_INLIERS


@pytest.mark.parametrize(
    ("height", "width", "min_short", "side"),
    [
        (480, 640, 384, 512),  # 4:3: the base is enough
        (1280, 720, 384, 683),  # a phone screenshot: its width kept at 384 at least
        (100, 4000, 384, 1024),  # a strip: at most twice the base
        (1280, 720, None, 512),  # banking: the base
    ],
)
def test_the_working_side_keeps_the_short_side_of_an_upload(
    height: int, width: int, min_short: int | None, side: int
) -> None:
    assert working_side(height, width, 512, min_short) == side


def test_a_bigger_bank_needs_more_inliers() -> None:
    levels = [required_inliers(n) for n in (0, 100, 1_000, 10_000, 1_000_000, 10_000_000)]
    assert levels[:3] == [MIN_INLIERS] * 3
    assert levels == sorted(levels)
    assert levels[-2] in (12, 13) and levels[-1] == 14


def _collage(pictures: list[Image.Image]) -> Image.Image:
    """Pictures side by side in a grid of two columns."""
    w, h = pictures[0].size
    rows = (len(pictures) + 1) // 2
    out = Image.new("RGB", (2 * w, rows * h), (255, 255, 255))
    for k, picture in enumerate(pictures):
        out.paste(picture, ((k % 2) * w, (k // 2) * h))
    return out


def test_one_photo_of_a_banked_collage_is_not_a_copy_of_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hashwall.hashing import keypoint_verify as kp

    photos = [scene(s) for s in (40, 41, 42, 43)]
    collage = banked(_collage(photos))
    alone = upload(photos[1])
    assert match_inliers(alone, collage) < MIN_INLIERS
    # Without the rule, the photo is found in the collage: the rule is what refuses it.
    monkeypatch.setattr(kp, "MIN_COVERAGE", 0.0)
    assert match_inliers(alone, collage) >= MIN_INLIERS


@pytest.mark.parametrize("name", ["crop 30% one side", "screenshot-like", "pad 40%"])
def test_a_copy_shows_most_of_its_photo(name: str) -> None:
    from hashwall.hashing.keypoint_verify import MIN_COVERAGE, coverage

    original = scene(3)
    found, mine = upload(COPIES[name](original)), banked(original)
    assert match_inliers(found, mine) >= MIN_INLIERS
    q_idx, b_idx = np.nonzero(code_distances(found.codes, mine.codes) <= 4)
    zb = mine.x[b_idx] + 1j * mine.y[b_idx]
    zq = found.x[q_idx] + 1j * found.y[q_idx]
    assert coverage(found, mine, zb.astype(np.complex128), zq.astype(np.complex128)) > MIN_COVERAGE


def _grid_keypoints(rng: np.random.Generator) -> Keypoints:
    """80 keypoints on a 10 x 8 lattice over a 1 x 0.75 picture (a little jitter), with
    random codes (first bit 0)."""
    gx, gy = np.meshgrid(np.linspace(0.05, 0.95, 10), np.linspace(0.05, 0.70, 8))
    n = gx.size
    xs = gx.ravel() + rng.uniform(-0.01, 0.01, n)
    ys = gy.ravel() + rng.uniform(-0.01, 0.01, n)
    return Keypoints(
        xs.astype(np.float32),
        ys.astype(np.float32),
        rng.uniform(0.01, 0.03, n).astype(np.float32),
        rng.uniform(-np.pi, np.pi, n).astype(np.float32),
        (rng.integers(0, 2**63, n, dtype=np.uint64) << np.uint64(1)) >> np.uint64(1),
    )


def _seen_again(
    original: Keypoints, keep: npt.NDArray[np.bool_], flips: int, rng: np.random.Generator
) -> Keypoints:
    """The keypoints ``keep`` of ``original`` as an upload shows them at 0.8 times the size,
    shifted, each code with ``flips`` of its bits inverted."""
    codes = original.codes[keep].copy()
    for k in range(len(codes)):
        for bit in rng.choice(np.arange(1, 64), flips, replace=False):
            codes[k] ^= np.uint64(1) << np.uint64(int(bit))
    return Keypoints(
        (original.x[keep] * 0.8 + 0.1).astype(np.float32),
        (original.y[keep] * 0.8 + 0.05).astype(np.float32),
        (original.scale[keep] * 0.8).astype(np.float32),
        original.angle[keep],
        codes,
    )


def test_pairs_whose_codes_only_loosely_agree_are_not_a_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hashwall.hashing import keypoint_verify as kp

    rng = np.random.default_rng(5)
    mine = _grid_keypoints(rng)
    everywhere = np.ones(len(mine), dtype=bool)
    # the same places, every code within the pair radius but past the close one
    loose = _seen_again(mine, everywhere, kp.CLOSE_RADIUS + 2, rng)
    near = _seen_again(mine, everywhere, 2, rng)
    assert match_inliers(near, mine) >= MIN_INLIERS
    assert match_inliers(loose, mine) == 0
    # without the rule, the loose pairs are a match: the rule is what refuses them
    monkeypatch.setattr(kp, "MIN_CLOSE", 0)
    assert match_inliers(loose, mine) >= MIN_INLIERS


def test_pairs_in_one_corner_of_what_an_upload_shows_are_not_a_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hashwall.hashing import keypoint_verify as kp

    rng = np.random.default_rng(6)
    mine = _grid_keypoints(rng)
    corner = (mine.x < 0.3) & (mine.y < 0.25)  # 9 of the lattice, in 2 cells
    assert corner.sum() >= MIN_INLIERS
    # the upload shows the whole photo, but only one corner's keypoints agree with it (a
    # shared frame, logo or object); the rest of the upload is something else
    shared = _seen_again(mine, corner, 1, rng)
    # (between the lattice's places: the refound rule is not what this test is about)
    lattice = _grid_keypoints(rng)
    between = Keypoints(
        lattice.x + 0.05, lattice.y + 0.046, lattice.scale, lattice.angle, lattice.codes
    )
    other = _seen_again(between, np.ones(len(mine), dtype=bool), 0, rng)
    upload_side = Keypoints(
        np.concatenate([shared.x, other.x]),
        np.concatenate([shared.y, other.y]),
        np.concatenate([shared.scale, other.scale]),
        np.concatenate([shared.angle, other.angle]),
        np.concatenate([shared.codes, other.codes]),
    )
    whole = _seen_again(mine, np.ones(len(mine), dtype=bool), 1, rng)
    assert match_inliers(whole, mine) >= MIN_INLIERS
    assert match_inliers(upload_side, mine) == 0
    monkeypatch.setattr(kp, "MIN_CELLS", 0)
    assert match_inliers(upload_side, mine) >= MIN_INLIERS


def test_spread_counts_the_cells_of_the_part_shown() -> None:
    from hashwall.hashing.keypoint_verify import SPREAD_GRID, spread_cells

    rng = np.random.default_rng(7)
    mine = _grid_keypoints(rng)
    inside = np.ones(len(mine), dtype=bool)
    places = (mine.x + 1j * mine.y).astype(np.complex128)
    assert spread_cells(mine, inside, places) == SPREAD_GRID * SPREAD_GRID
    assert spread_cells(mine, inside, places[:1]) == 1
    assert spread_cells(mine, np.zeros(len(mine), dtype=bool), places) == 0
    # the grid covers only the part shown: the left half's keypoints fill all its columns
    left = mine.x < 0.5
    assert spread_cells(mine, left, places[left]) == SPREAD_GRID * SPREAD_GRID


def test_the_copy_rules_can_be_left_out_to_show_what_they_remove() -> None:
    from hashwall.hashing import keypoint_verify as kp

    rng = np.random.default_rng(5)
    mine = _grid_keypoints(rng)
    loose = _seen_again(mine, np.ones(len(mine), dtype=bool), kp.CLOSE_RADIUS + 2, rng)
    q_idx, b_idx = np.nonzero(code_distances(loose.codes, mine.codes) <= CODE_RADIUS)
    assert kp.inliers(loose, mine, q_idx, b_idx) == 0
    assert kp.inliers(loose, mine, q_idx, b_idx, copy_rules=False) >= MIN_INLIERS


def _with_codes_far(
    seen: Keypoints, agree: npt.NDArray[np.bool_], rng: np.random.Generator
) -> Keypoints:
    """``seen`` with the codes of the keypoints not in ``agree`` moved far (24 bits) away: the
    same structure found again with another patch round it."""
    codes = seen.codes.copy()
    for k in np.flatnonzero(~agree):
        for bit in rng.choice(np.arange(1, 64), 24, replace=False):
            codes[k] ^= np.uint64(1) << np.uint64(int(bit))
    return Keypoints(seen.x, seen.y, seen.scale, seen.angle, codes)


def test_a_scene_found_again_with_other_patches_is_not_a_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hashwall.hashing import keypoint_verify as kp

    rng = np.random.default_rng(8)
    mine = _grid_keypoints(rng)
    every = np.ones(len(mine), dtype=bool)
    seen = _seen_again(mine, every, 1, rng)
    # every banked keypoint is found again in place; 12 of 80, spread over the lattice, keep
    # their codes (a second shot of the scene: the same corners, other pixels round most)
    few = np.zeros(len(mine), dtype=bool)
    few[::7] = True
    other_shot = _with_codes_far(seen, few, rng)
    assert MIN_INLIERS <= int(few.sum()) < kp.MIN_REFOUND_SHARE * len(mine)
    assert match_inliers(other_shot, mine) == 0
    # a copy whose filter changed many codes still keeps a third of them
    many = np.zeros(len(mine), dtype=bool)
    many[::3] = True
    assert match_inliers(_with_codes_far(seen, many, rng), mine) >= MIN_INLIERS
    monkeypatch.setattr(kp, "MIN_REFOUND_SHARE", 0.0)
    assert match_inliers(other_shot, mine) >= MIN_INLIERS


def test_refound_counts_banked_keypoints_the_upload_shows_again() -> None:
    from hashwall.hashing.keypoint_verify import refound

    rng = np.random.default_rng(9)
    mine = _grid_keypoints(rng)
    every = np.ones(len(mine), dtype=bool)
    left = mine.x < 0.5
    seen = _seen_again(mine, left, 30, rng)  # codes far off: only places and sizes count
    zb = (mine.x[left] + 1j * mine.y[left]).astype(np.complex128)
    zq = (seen.x + 1j * seen.y).astype(np.complex128)
    assert refound(seen, mine, zb, zq, every) == int(left.sum())
    assert refound(seen, mine, zb, zq, ~left) == 0
    # sizes that disagree with the transform's are not the same structure
    smaller = Keypoints(seen.x, seen.y, seen.scale * 0.5, seen.angle, seen.codes)
    assert refound(smaller, mine, zb, zq, every) == 0
