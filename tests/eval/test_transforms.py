"""Each transform of the suite does what its name says, and the same seed gives the same image."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from hashwall.eval import overlays
from hashwall.eval.transforms import SHARED_OVERLAYS, SUITE, transform_rng


def run(name: str, img: Image.Image, seed: int = 0) -> Image.Image:
    return SUITE[name](img, transform_rng(seed, 0, name))


def arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("name", list(SUITE))
def test_every_transform_is_deterministic_rgb_and_changes_the_photo(
    name: str, photo: Image.Image
) -> None:
    a, b = run(name, photo), run(name, photo)
    assert a.mode == "RGB"
    assert a.size == b.size and a.tobytes() == b.tobytes()
    assert a.size != photo.size or a.tobytes() != photo.tobytes()


def test_the_suite_names_every_family_of_the_issue() -> None:
    groups = {t.group for t in SUITE.values()}
    for group in (
        "jpeg",
        "resize",
        "crop_5",
        "crop_10",
        "crop_20",
        "crop_30",
        "pad",
        "rotate_small",
        "rotate_15",
        "orientation",
        "colour",
        "filter",
        "caption",
        "stickers",
        "meme",
        "screenshot",
        "chain",
    ):
        assert group in groups
    assert set(SHARED_OVERLAYS) <= set(SUITE)


def test_seeded_transforms_differ_between_seeds(photo: Image.Image) -> None:
    assert run("stickers_3", photo, 1).tobytes() != run("stickers_3", photo, 2).tobytes()
    assert (
        run("noise_gaussian_10", photo, 1).tobytes() != run("noise_gaussian_10", photo, 2).tobytes()
    )


def test_jpeg_quality_loses_more_at_lower_quality(photo: Image.Image) -> None:
    src = arr(photo)
    err = {q: np.abs(arr(run(f"jpeg_q{q}", photo)) - src).mean() for q in (70, 50, 30)}
    assert 0 < err[70] < err[50] < err[30]


def test_resize_scales_both_sides(photo: Image.Image) -> None:
    assert run("resize_50", photo).size == (160, 120)
    assert run("resize_25", photo).size == (80, 60)


@pytest.mark.parametrize("percent", [5, 10, 20, 30])
def test_crops_keep_or_change_the_aspect(percent: int, photo: Image.Image) -> None:
    w, h = photo.size
    keep = run(f"crop_{percent}_centre_keep", photo)
    change = run(f"crop_{percent}_centre_change", photo)
    assert keep.size == (round(w * (1 - percent / 100)), round(h * (1 - percent / 100)))
    assert change.size == (round(w * (1 - percent / 100)), h)
    # Centred: the window's top-left pixel is the photo's pixel at the centred offset.
    x, y = (w - keep.width) // 2, (h - keep.height) // 2
    assert np.array_equal(arr(keep), arr(photo)[y : y + keep.height, x : x + keep.width])


def test_an_offcentre_crop_touches_a_corner(photo: Image.Image) -> None:
    out = run("crop_20_offcentre_keep", photo)
    src = arr(photo)
    w, h = out.size
    corners = [
        src[:h, :w],
        src[:h, -w:],
        src[-h:, :w],
        src[-h:, -w:],
    ]
    assert any(np.array_equal(arr(out), c) for c in corners)


@pytest.mark.parametrize("percent", [10, 20, 40])
@pytest.mark.parametrize("fill", ["solid", "blur"])
def test_pads_grow_the_canvas_and_keep_the_photo_in_the_middle(
    percent: int, fill: str, photo: Image.Image
) -> None:
    out = run(f"pad_{percent}_{fill}", photo)
    w, h = photo.size
    assert out.size == (round(w * (1 + percent / 100)), round(h * (1 + percent / 100)))
    x, y = (out.width - w) // 2, (out.height - h) // 2
    assert np.array_equal(arr(out)[y : y + h, x : x + w], arr(photo))
    border = arr(out)[: max(1, y), :]
    if fill == "solid":
        assert (border == border[0, 0]).all()
    else:
        assert border.std() > 0


@pytest.mark.parametrize(
    ("name", "ratio"), [("letterbox_9x16", 9 / 16), ("letterbox_16x9", 16 / 9)]
)
def test_letterbox_reaches_the_aspect_with_black_bars(
    name: str, ratio: float, photo: Image.Image
) -> None:
    out = run(name, photo)
    assert abs(out.width / out.height - ratio) < 0.01
    a = arr(out)
    bars = a[:2] if ratio < photo.width / photo.height else a[:, :2]
    assert (bars == 0).all()


@pytest.mark.parametrize("degrees", [2, 4, 8, 15])
def test_rotations_keep_or_cut_the_corners(
    degrees: int, make_photo: Callable[..., Image.Image]
) -> None:
    bright = Image.fromarray(np.clip(arr(make_photo(3)) // 2 + 120, 0, 255).astype(np.uint8), "RGB")
    kept = run(f"rotate_{degrees}", bright)
    cut = run(f"rotate_{degrees}_crop", bright)
    assert kept.width > bright.width and kept.height > bright.height
    assert (arr(kept)[0, 0] == 0).all()  # a black corner
    assert cut.width < bright.width and cut.height < bright.height
    assert arr(cut).min(axis=2).min() > 60  # no black corner left


def test_flips_and_quarter_turns(photo: Image.Image) -> None:
    src = arr(photo)
    assert np.array_equal(arr(run("mirror", photo)), src[:, ::-1])
    assert np.array_equal(arr(run("flip_vertical", photo)), src[::-1])
    assert np.array_equal(arr(run("rotate_90", photo)), np.rot90(src, k=-1))  # clockwise
    assert np.array_equal(arr(run("rotate_180", photo)), np.rot90(src, k=2))
    assert np.array_equal(arr(run("rotate_270", photo)), np.rot90(src, k=1))


def test_colour_changes_go_the_named_way(photo: Image.Image) -> None:
    src = arr(photo)
    assert arr(run("brightness_130", photo)).mean() > src.mean() + 5
    assert arr(run("brightness_70", photo)).mean() < src.mean() - 5
    assert arr(run("contrast_150", photo)).std() > src.std() + 5
    assert arr(run("gamma_60", photo)).mean() > src.mean() + 5
    spread = lambda a: (a.max(axis=2) - a.min(axis=2)).mean()  # noqa: E731
    assert spread(arr(run("saturation_180", photo))) > spread(src) + 5
    grey = arr(run("greyscale", photo))
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()


def _detail(a: np.ndarray) -> float:
    return float(np.abs(np.diff(a.astype(np.float64), axis=1)).mean())


def test_blur_sharpen_and_noise(photo: Image.Image) -> None:
    src = arr(photo)
    assert _detail(arr(run("blur_gaussian", photo))) < _detail(src)
    assert _detail(arr(run("sharpen", photo))) > _detail(src)
    noisy = arr(run("noise_gaussian_10", photo)) - src
    assert 7 < noisy.std() < 12


def test_captions_touch_only_their_part(photo: Image.Image) -> None:
    src = arr(photo)
    h = photo.height
    for name, untouched in (("caption", 0.6), ("caption_bar_18", 0.8)):
        out = arr(run(name, photo))
        top = int(h * untouched)
        assert np.array_equal(out[:top], src[:top])
        assert not np.array_equal(out[top:], src[top:])
    bar = arr(run("caption_bar_18", photo))[-int(h * 0.18) :]
    assert bar.mean() < src[-int(h * 0.18) :].mean()  # darkened


def test_meme_bars_add_white_bars_with_text(photo: Image.Image) -> None:
    w, h = photo.size
    bar = round(h * 0.18)
    both, top, bottom = (run(n, photo) for n in ("meme_both", "meme_top", "meme_bottom"))
    assert both.size == (w, h + 2 * bar) and top.size == bottom.size == (w, h + bar)
    a = arr(top)
    assert np.array_equal(a[bar:], arr(photo))
    assert (a[:bar] == 255).mean() > 0.7 and (a[:bar] < 100).any()  # white with dark text
    assert np.array_equal(arr(bottom)[:h], arr(photo))


def test_stickers_cover_part_of_the_photo_only(photo: Image.Image) -> None:
    changed = (arr(run("stickers_3", photo)) != arr(photo)).any(axis=2).mean()
    assert 0.01 < changed < 0.25


@pytest.mark.parametrize("fraction", [60, 75, 90])
def test_screenshot_puts_the_photo_in_the_phone_frame(
    fraction: int, photo: Image.Image, make_photo: Callable[..., Image.Image]
) -> None:
    out = run(f"screenshot_{fraction}", photo)
    assert out.size == (overlays.FRAME_W, overlays.FRAME_H)
    a = arr(out)
    # The photo spans fraction% of the width in the row under the header.
    row = a[overlays._STATUS_H + overlays._HEADER_H + 20]
    not_white = np.nonzero((row != 255).any(axis=1))[0]
    width = not_white[-1] - not_white[0] + 1
    assert abs(width - overlays.FRAME_W * fraction / 100) <= 3
    # The status bar, the header and the navigation bar are the same for every photo.
    other = arr(run(f"screenshot_{fraction}", make_photo(9)))
    assert np.array_equal(a[:100], other[:100])
    assert np.array_equal(a[-100:], other[-100:])


def test_chains_compose(photo: Image.Image) -> None:
    out = run("chain_crop8_jpeg50", photo)
    assert out.size == (round(320 * 0.92), round(240 * 0.92))
    flipped = arr(run("chain_mirror_caption_jpeg70", photo))
    # Mirrored: the top rows (no caption there) are close to the mirrored photo.
    assert np.abs(flipped[:100] - arr(photo)[:100, ::-1]).mean() < 6
