"""The transform suite: what a reposter does to a photo, as named, parametrised, seeded functions.

Each transform takes a Pillow image and a ``numpy`` random generator and returns a new RGB
image; the same image and the same generator state give the same result. Parameters are in
the name (``crop_20_offcentre_keep``) and in :data:`SUITE`. Conventions:

* ``crop_P_{centre|offcentre}_{keep|change}``: keep a window of ``1 - P%`` of the photo.
  ``keep`` cuts P% off the width and the height (aspect kept); ``change`` cuts P% off the
  longer side only (aspect changed). ``centre`` centres the window; ``offcentre`` pushes it
  into a corner chosen by the seed.
* ``pad_P_{solid|blur}``: a border growing each side by P% (P/2 on each edge), a solid colour
  chosen by the seed or a blurred, enlarged copy of the photo. ``letterbox_9x16`` and
  ``letterbox_16x9`` pad with black to that aspect ratio.
* ``rotate_D`` turns by D degrees (direction chosen by the seed) and keeps the black corners;
  ``rotate_D_crop`` then cuts the largest upright rectangle without corners.
* ``chain_*``: two or three of the above, in the order of the name.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from hashwall.eval import overlays

TransformFn = Callable[[Image.Image, np.random.Generator], Image.Image]


@dataclass(frozen=True, slots=True)
class Transform:
    """One named transform of the suite; ``group`` gathers the rows of the report."""

    name: str
    group: str
    apply: TransformFn

    def __call__(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return self.apply(img, rng)


def _rgb(img: Image.Image) -> Image.Image:
    return img if img.mode == "RGB" else img.convert("RGB")


# --- encoding and size -------------------------------------------------------------------


def jpeg(quality: int) -> TransformFn:
    """Re-encode as JPEG at ``quality`` (4:2:0, as most platforms do)."""

    def apply(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        buf = io.BytesIO()
        _rgb(img).save(buf, "JPEG", quality=quality)
        buf.seek(0)
        with Image.open(buf) as out:
            return out.convert("RGB")

    return apply


def resize(scale: float) -> TransformFn:
    """Scale both sides by ``scale`` (Lanczos), at least 8 pixels."""

    def apply(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = img.size
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        return _rgb(img).resize(size, Image.Resampling.LANCZOS)

    return apply


# --- geometry ------------------------------------------------------------------------------


def crop(percent: float, centred: bool, keep_aspect: bool) -> TransformFn:
    """Keep a window of ``1 - percent/100`` of the photo; see the module docstring."""
    p = percent / 100.0

    def apply(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = img.size
        if keep_aspect:
            cw, ch = round(w * (1 - p)), round(h * (1 - p))
        elif w >= h:
            cw, ch = round(w * (1 - p)), h
        else:
            cw, ch = w, round(h * (1 - p))
        cw, ch = max(1, cw), max(1, ch)
        if centred:
            x, y = (w - cw) // 2, (h - ch) // 2
        else:
            x = (w - cw) if rng.integers(2) else 0
            y = (h - ch) if rng.integers(2) else 0
        return _rgb(img).crop((x, y, x + cw, y + ch))

    return apply


_PAD_COLOURS = ((0, 0, 0), (255, 255, 255), (24, 24, 24), (240, 240, 240), (30, 60, 120))


def pad(percent: float, fill: str) -> TransformFn:
    """Grow each side by ``percent`` %: ``fill`` is ``solid`` (a seeded colour) or ``blur``
    (a blurred copy of the photo stretched to the canvas, as story formats do)."""
    if fill not in ("solid", "blur"):
        raise ValueError("fill is solid or blur")
    p = percent / 100.0

    def apply(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        src = _rgb(img)
        w, h = src.size
        nw, nh = round(w * (1 + p)), round(h * (1 + p))
        if fill == "solid":
            colour = _PAD_COLOURS[int(rng.integers(len(_PAD_COLOURS)))]
            canvas = Image.new("RGB", (nw, nh), colour)
        else:
            # Blurred at 1/8 scale, then enlarged: the same look, a fraction of the cost.
            small = src.resize((max(1, nw // 8), max(1, nh // 8)), Image.Resampling.BILINEAR)
            blurred = small.filter(ImageFilter.GaussianBlur(max(1.0, max(nw, nh) / 240)))
            canvas = blurred.resize((nw, nh), Image.Resampling.BILINEAR)
        canvas.paste(src, ((nw - w) // 2, (nh - h) // 2))
        return canvas

    return apply


def letterbox(aspect_w: int, aspect_h: int) -> TransformFn:
    """Pad with black bars, centred, to the aspect ratio ``aspect_w:aspect_h``."""

    def apply(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        src = _rgb(img)
        w, h = src.size
        target = aspect_w / aspect_h
        if w / h > target:
            nw, nh = w, round(w / target)
        else:
            nw, nh = round(h * target), h
        canvas = Image.new("RGB", (nw, nh), (0, 0, 0))
        canvas.paste(src, ((nw - w) // 2, (nh - h) // 2))
        return canvas

    return apply


def _inner_rectangle(w: int, h: int, degrees: float) -> tuple[float, float]:
    """The largest upright rectangle inside a ``w`` x ``h`` rectangle turned by ``degrees``."""
    a = math.radians(abs(degrees))
    sin_a, cos_a = math.sin(a), math.cos(a)
    long_side, short_side = max(w, h), min(w, h)
    if short_side <= 2.0 * sin_a * cos_a * long_side or abs(sin_a - cos_a) < 1e-10:
        x = 0.5 * short_side
        wr, hr = (x / sin_a, x / cos_a) if w >= h else (x / cos_a, x / sin_a)
    else:
        cos_2a = cos_a * cos_a - sin_a * sin_a
        wr, hr = (w * cos_a - h * sin_a) / cos_2a, (h * cos_a - w * sin_a) / cos_2a
    return wr, hr


def rotate(degrees: float, crop_corners: bool) -> TransformFn:
    """Turn by ``degrees`` (sign chosen by the seed), bicubic; black corners are kept on an
    enlarged canvas, or cut away with ``crop_corners``."""

    def apply(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        angle = degrees if rng.integers(2) else -degrees
        src = _rgb(img)
        turned = src.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=(0, 0, 0))
        if not crop_corners:
            return turned
        wr, hr = _inner_rectangle(src.width, src.height, angle)
        cx, cy = turned.width / 2, turned.height / 2
        box = (
            math.ceil(cx - wr / 2),
            math.ceil(cy - hr / 2),
            math.floor(cx + wr / 2),
            math.floor(cy + hr / 2),
        )
        return turned.crop(box)

    return apply


def orient(op: Image.Transpose) -> TransformFn:
    """A flip or a quarter turn (lossless)."""

    def apply(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return _rgb(img).transpose(op)

    return apply


# --- colour and filters --------------------------------------------------------------------


def enhance(kind: str, factor: float) -> TransformFn:
    """Pillow's ``ImageEnhance`` (``brightness``, ``contrast``, ``colour`` = saturation) by
    ``factor``."""
    classes = {
        "brightness": ImageEnhance.Brightness,
        "contrast": ImageEnhance.Contrast,
        "colour": ImageEnhance.Color,
    }
    cls = classes[kind]

    def apply(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return cls(_rgb(img)).enhance(factor)

    return apply


def gamma(value: float) -> TransformFn:
    """``out = 255 * (in / 255) ** value`` on each channel."""
    table = [round(255 * (i / 255) ** value) for i in range(256)] * 3

    def apply(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return _rgb(img).point(table)

    return apply


def greyscale() -> TransformFn:
    """Luminance only, stored as RGB."""

    def apply(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return ImageOps.grayscale(_rgb(img)).convert("RGB")

    return apply


def blur(radius_fraction: float) -> TransformFn:
    """Gaussian blur with a radius of ``radius_fraction`` of the longer side (at least 1 px)."""

    def apply(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        radius = max(1.0, max(img.size) * radius_fraction)
        return _rgb(img).filter(ImageFilter.GaussianBlur(radius))

    return apply


def noise(sigma: float) -> TransformFn:
    """Add seeded Gaussian noise of standard deviation ``sigma`` grey levels."""

    def apply(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        arr = np.array(_rgb(img), dtype=np.float32)
        arr += rng.standard_normal(arr.shape, dtype=np.float32) * np.float32(sigma)
        return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "RGB")

    return apply


def sharpen() -> TransformFn:
    """Unsharp mask (radius 2, 150%, threshold 3)."""

    def apply(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return _rgb(img).filter(ImageFilter.UnsharpMask(radius=2, percent=150, threshold=3))

    return apply


# --- overlays (see overlays.py) ------------------------------------------------------------


def caption() -> TransformFn:
    """Outlined text over the lower part of the photo."""
    return lambda img, rng: overlays.caption(img)


def caption_bar(fraction: float) -> TransformFn:
    """A dark bar with text over the bottom ``fraction`` of the photo."""
    return lambda img, rng: overlays.caption_bar(img, fraction)


def stickers(count: int) -> TransformFn:
    """``count`` emoji-like stickers at seeded positions."""
    return lambda img, rng: overlays.stickers(img, rng, count)


def meme(top: bool, bottom: bool) -> TransformFn:
    """White meme bars with text added above and/or below."""
    return lambda img, rng: overlays.meme_bars(img, top, bottom)


def screenshot(fraction: float) -> TransformFn:
    """The photo inside the phone-app frame at ``fraction`` of its width."""
    return lambda img, rng: overlays.screenshot(img, fraction)


def chain(*steps: TransformFn) -> TransformFn:
    """Apply ``steps`` in order, each with the same generator."""

    def apply(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        for step in steps:
            img = step(img, rng)
        return img

    return apply


# --- the suite -----------------------------------------------------------------------------


def _build_suite() -> dict[str, Transform]:
    rows: list[tuple[str, str, TransformFn]] = []
    rows += [(f"jpeg_q{q}", "jpeg", jpeg(q)) for q in (70, 50, 30)]
    rows += [(f"resize_{round(s * 100)}", "resize", resize(s)) for s in (0.5, 0.3, 0.25)]
    for p in (5, 10, 20, 30):
        for centred in (True, False):
            for keep in (True, False):
                where = "centre" if centred else "offcentre"
                aspect = "keep" if keep else "change"
                rows.append((f"crop_{p}_{where}_{aspect}", f"crop_{p}", crop(p, centred, keep)))
    for p in (10, 20, 40):
        rows += [
            (f"pad_{p}_solid", "pad", pad(p, "solid")),
            (f"pad_{p}_blur", "pad", pad(p, "blur")),
        ]
    rows += [
        ("letterbox_9x16", "pad", letterbox(9, 16)),
        ("letterbox_16x9", "pad", letterbox(16, 9)),
    ]
    for d in (2, 4, 8, 15):
        group = "rotate_small" if d <= 8 else "rotate_15"
        rows += [
            (f"rotate_{d}", group, rotate(d, False)),
            (f"rotate_{d}_crop", group, rotate(d, True)),
        ]
    turn = Image.Transpose
    rows += [
        ("mirror", "orientation", orient(turn.FLIP_LEFT_RIGHT)),
        ("flip_vertical", "orientation", orient(turn.FLIP_TOP_BOTTOM)),
        ("rotate_90", "orientation", orient(turn.ROTATE_270)),  # Pillow turns anticlockwise
        ("rotate_180", "orientation", orient(turn.ROTATE_180)),
        ("rotate_270", "orientation", orient(turn.ROTATE_90)),
    ]
    rows += [
        ("brightness_130", "colour", enhance("brightness", 1.3)),
        ("brightness_70", "colour", enhance("brightness", 0.7)),
        ("contrast_150", "colour", enhance("contrast", 1.5)),
        ("gamma_60", "colour", gamma(0.6)),
        ("saturation_180", "colour", enhance("colour", 1.8)),
        ("greyscale", "colour", greyscale()),
        ("blur_gaussian", "filter", blur(0.004)),
        ("noise_gaussian_10", "filter", noise(10.0)),
        ("sharpen", "filter", sharpen()),
        ("caption", "caption", caption()),
        ("caption_bar_18", "caption", caption_bar(0.18)),
        ("stickers_3", "stickers", stickers(3)),
        ("meme_top", "meme", meme(True, False)),
        ("meme_bottom", "meme", meme(False, True)),
        ("meme_both", "meme", meme(True, True)),
        ("screenshot_60", "screenshot", screenshot(0.60)),
        ("screenshot_75", "screenshot", screenshot(0.75)),
        ("screenshot_90", "screenshot", screenshot(0.90)),
        ("chain_gamma_contrast", "chain", chain(gamma(0.7), enhance("contrast", 1.3))),
        ("chain_crop8_jpeg50", "chain", chain(crop(8, True, True), jpeg(50))),
        (
            "chain_mirror_caption_jpeg70",
            "chain",
            chain(orient(turn.FLIP_LEFT_RIGHT), caption(), jpeg(70)),
        ),
        (
            "chain_crop10_pad20_jpeg70",
            "chain",
            chain(crop(10, False, True), pad(20, "solid"), jpeg(70)),
        ),
        ("chain_rotate4crop_resize50", "chain", chain(rotate(4, True), resize(0.5))),
        ("chain_screenshot75_jpeg50", "chain", chain(screenshot(0.75), jpeg(50))),
    ]
    return {name: Transform(name, group, fn) for name, group, fn in rows}


#: Every transform of the suite by name, in report order.
SUITE: dict[str, Transform] = _build_suite()

#: What distractors are also checked with: the same frame, bars, letterbox and caption on
#: every photo (``plain`` is the photo as it is).
SHARED_OVERLAYS: tuple[str, ...] = ("screenshot_75", "meme_both", "letterbox_9x16", "caption")


def transform_rng(seed: int, image_index: int, name: str) -> np.random.Generator:
    """The generator a transform gets for one image: fixed by the seed, the image's position
    and the transform's name (so adding a transform changes no other's output)."""
    tag = int.from_bytes(name.encode()[:16].ljust(16, b"\0"), "big")
    return np.random.default_rng([seed, image_index, tag & (2**63 - 1), tag >> 63])
