"""Content boxes: the photo is found inside pads, bars, a phone-app frame and a small rotation
on black, and a plain photo gives no candidate."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from hashwall.hashing.codes import Hash256
from hashwall.hashing.contentbox import Box, candidates, content_boxes
from hashwall.hashing.fast import pdq_fast


def _photo(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    coarse = rng.integers(0, 256, size=(h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
    img = Image.fromarray(coarse, "RGB").resize((w, h), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        x1, y1 = x0 + int(rng.integers(20, 120)), y0 + int(rng.integers(20, 90))
        draw.rectangle((x0, y0, x1, y1), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    return img.filter(ImageFilter.GaussianBlur(1))


def _pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"))


def _best(img: Image.Image, original: Image.Image) -> int:
    """The smallest PDQ distance from any candidate of ``img`` (8 orientations) to the
    original's hash; 256 without a candidate."""
    want: Hash256 = pdq_fast(_pixels(original)).hash
    best = 256
    for c in candidates(_pixels(img)):
        result = pdq_fast(c.pixels, dihedral=True, full_size=c.full_size)
        best = min([best, *(h.distance(want) for h in result.orientations or ())])
    return best


def _near(box: Box, want: tuple[int, int, int, int], tol: int) -> bool:
    got = (box.x0, box.y0, box.x1, box.y1)
    return max(abs(a - b) for a, b in zip(got, want, strict=True)) <= tol


def test_a_plain_photo_has_no_candidate() -> None:
    for seed in range(4):
        assert candidates(_pixels(_photo(seed))) == []


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (30, 60, 120)])
def test_a_solid_pad_is_removed(colour: tuple[int, int, int]) -> None:
    photo = _photo(1)
    canvas = Image.new("RGB", (400, 330), colour)
    canvas.paste(photo, (40, 45))
    boxes = [b for kind, b in content_boxes(_pixels(canvas)) if kind == "uniform"]
    assert len(boxes) == 1 and _near(boxes[0], (40, 45, 360, 285), 2)
    assert _best(canvas, photo) <= 16


def test_meme_bars_with_text_are_removed() -> None:
    photo = _photo(2)
    canvas = Image.new("RGB", (320, 240 + 2 * 44), (255, 255, 255))
    canvas.paste(photo, (0, 44))
    draw = ImageDraw.Draw(canvas)
    draw.text((20, 10), "WHEN THE BARS HAVE TEXT", fill=(0, 0, 0))
    draw.text((30, 295), "THE PHOTO IS STILL FOUND", fill=(0, 0, 0))
    assert _best(canvas, photo) <= 16


def test_a_blurred_copy_behind_the_photo_is_removed() -> None:
    photo = _photo(3)
    back = photo.resize((40, 33)).filter(ImageFilter.GaussianBlur(3)).resize((400, 330))
    back.paste(photo, (40, 45))
    kinds = {kind for kind, _ in content_boxes(_pixels(back))}
    assert "sharp" in kinds
    assert _best(back, photo) <= 24


def test_a_small_rotation_on_black_is_undone() -> None:
    photo = _photo(4)
    for angle in (4.0, -8.0):
        turned = photo.rotate(angle, Image.Resampling.BICUBIC, expand=True)
        assert pdq_fast(_pixels(turned)).hash.distance(pdq_fast(_pixels(photo)).hash) > 31
        assert any(c.kind == "deskew" for c in candidates(_pixels(turned)))
        assert _best(turned, photo) <= 24


def test_full_size_scales_with_the_box() -> None:
    photo = _photo(5)
    canvas = Image.new("RGB", (400, 330), (0, 0, 0))
    canvas.paste(photo, (40, 45))
    (c,) = candidates(_pixels(canvas), full_size=(660, 800))
    assert abs(c.full_size[0] - 2 * c.pixels.shape[0]) <= 2
    assert abs(c.full_size[1] - 2 * c.pixels.shape[1]) <= 2


def test_tiny_and_flat_images_give_no_candidate() -> None:
    assert candidates(np.zeros((3, 3, 3), np.uint8)) == []
    assert candidates(np.full((100, 80, 3), 200, np.uint8)) == []


def _jpeg(img: Image.Image) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def test_hash_image_gives_the_regions_of_a_check_only_when_asked() -> None:
    from hashwall.hashing.image import hash_image

    photo = _photo(6)
    canvas = Image.new("RGB", (400, 330), (255, 255, 255))
    canvas.paste(photo, (40, 45))
    data = _jpeg(canvas)
    assert hash_image(data, fast=True, orientations=True).regions == ()
    hashes = hash_image(data, fast=True, orientations=True, regions=True)
    want = pdq_fast(_pixels(photo)).hash
    assert len(hashes.regions) == 1 and len(hashes.regions[0]) == 8
    assert hashes.regions[0][0].distance(want) <= 16
    assert hashes.pdq.distance(want) > 31  # the upload's own hash misses
    (values,) = hashes.region_values()["pdq"]
    assert values[0] == hashes.regions[0][0].hex
    assert hash_image(_jpeg(photo), regions=True).region_values() == {}


def _scenes() -> dict[str, Image.Image]:
    photo = _photo(7)
    pad = Image.new("RGB", (400, 330), (30, 60, 120))
    pad.paste(photo, (40, 45))
    meme = Image.new("RGB", (320, 328), (255, 255, 255))
    meme.paste(photo, (0, 44))
    draw = ImageDraw.Draw(meme)
    draw.text((20, 10), "TOP TEXT", fill=(0, 0, 0))
    draw.text((30, 295), "BOTTOM TEXT", fill=(0, 0, 0))
    blur = photo.resize((40, 33)).filter(ImageFilter.GaussianBlur(3)).resize((400, 330))
    blur.paste(photo, (40, 45))
    turned = photo.rotate(6.0, Image.Resampling.BICUBIC, expand=True)
    big = Image.new("RGB", (1000, 1100), (0, 0, 0))
    big.paste(_photo(8, (900, 700)), (50, 200))
    return {"pad": pad, "meme": meme, "blur": blur, "turned": turned, "big": big}


# What the numpy implementation (before the numba kernels) gave on these scenes, exactly.
_PINNED = {
    "pad": ([("uniform", (40, 45, 360, 285))], [("uniform", (240, 320))]),
    "meme": ([("uniform", (0, 44, 320, 284))], [("uniform", (240, 320))]),
    "blur": ([("sharp", (40, 45, 360, 285))], [("sharp", (240, 320))]),
    "turned": (
        [("uniform", (11, 14, 337, 262))],
        [("uniform", (248, 326)), ("deskew", (238, 318))],
    ),
    "big": ([("uniform", (50, 200, 950, 900))], [("uniform", (700, 900))]),
}


@pytest.mark.parametrize("name", sorted(_PINNED))
def test_boxes_are_pinned_on_generated_scenes(name: str) -> None:
    pixels = _pixels(_scenes()[name])
    boxes = [(kind, (b.x0, b.y0, b.x1, b.y1)) for kind, b in content_boxes(pixels)]
    shapes = [(c.kind, c.pixels.shape[:2]) for c in candidates(pixels)]
    assert (boxes, shapes) == _PINNED[name]


def test_the_kernels_give_the_numbers_of_numpy() -> None:
    from hashwall.hashing import contentbox as cb

    k = cb._kernels()
    rng = np.random.default_rng(11)
    for h, w in ((37, 128), (128, 5), (96, 71)):
        small = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        small[:, : w // 3] = small[0, 0]  # a uniform part, so that medians and runs matter
        grey = cb._grey(small)
        rows, cols = k.step_profiles(grey)
        assert np.array_equal(rows, np.abs(np.diff(grey, axis=0)).mean(axis=1))
        assert np.array_equal(cols, np.abs(np.diff(grey, axis=1)).mean(axis=0))
        left = small[:, 0].astype(np.int16)
        colours = k.side_colours(small, cb.COLOUR_TOL, cb.RING_SHARE)
        assert any((c == np.median(left, axis=0).astype(np.int16)).all() for c in colours)
        assert np.array_equal(k.sample(small, 3), small[::3, ::3])


def test_warm_up_compiles_every_kernel_the_detection_calls() -> None:
    # In a fresh process: here the other tests have compiled the kernels already.
    import subprocess
    import sys

    code = (
        "from hashwall.hashing import _contentbox_kernels as k, contentbox\n"
        "contentbox.warm_up()\n"
        "names = ['sample', 'side_colours', 'dense_box', 'ring_sharp_share', 'sharp_trim',\n"
        "         'step_profiles', 'refine', 'refine_step']\n"
        "print(' '.join(n for n in names if not getattr(k, n).signatures))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip() == ""
