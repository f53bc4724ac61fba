"""Things drawn over or around a photo, all rendered in code with Pillow's built-in font.

Captions, stickers, meme bars and a phone-app screenshot frame. The frame, the bars and the
texts are the same for every photo (a shared overlay is what makes region and keypoint methods
match unrelated photos); only sticker positions depend on the seed.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CAPTION_TEXT = "nobody was supposed to see this"
MEME_TOP_TEXT = "WHEN YOU FIND THE PHOTO"
MEME_BOTTOM_TEXT = "AND EVERYONE ALREADY HAS IT"

# The phone frame: a 720 x 1280 portrait screen (a 1080 x 1920 phone at 2/3 scale).
FRAME_W = 720
FRAME_H = 1280
_STATUS_H = 44
_HEADER_H = 96
_ACTIONS_H = 72
_NAV_H = 104


@functools.lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in scalable font at ``size`` pixels (nothing read from the system)."""
    return ImageFont.load_default(size=max(6, int(size)))


def _fit_font(
    text: str, max_width: float, size: int
) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The largest font up to ``size`` in which ``text`` fits ``max_width`` pixels."""
    while size > 6:
        f = font(size)
        left, _, right, _ = f.getbbox(text)
        if right - left <= max_width:
            return f
        size = int(size * 0.9)
    return font(6)


def _centred_text(
    draw: ImageDraw.ImageDraw,
    box: tuple[float, float, float, float],
    text: str,
    fill: tuple[int, int, int],
    size: int,
    stroke: tuple[int, int, int] | None = None,
) -> None:
    x0, y0, x1, y1 = box
    f = _fit_font(text, (x1 - x0) * 0.94, size)
    stroke_width = max(1, size // 12) if stroke is not None else 0
    draw.text(
        ((x0 + x1) / 2, (y0 + y1) / 2),
        text,
        font=f,
        fill=fill,
        anchor="mm",
        stroke_width=stroke_width,
        stroke_fill=stroke,
    )


def caption(img: Image.Image) -> Image.Image:
    """White text with a black outline over the lower part of the photo (no bar)."""
    out = img.convert("RGB").copy()
    w, h = out.size
    size = max(10, int(h * 0.09))
    y = h * 0.80
    _centred_text(
        ImageDraw.Draw(out),
        (0, y - size, w, y + size),
        CAPTION_TEXT,
        (255, 255, 255),
        size,
        stroke=(0, 0, 0),
    )
    return out


def caption_bar(img: Image.Image, fraction: float) -> Image.Image:
    """A dark translucent bar with white text over the bottom ``fraction`` of the photo."""
    base = img.convert("RGBA")
    w, h = base.size
    bar_h = max(8, round(h * fraction))
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    draw.rectangle((0, h - bar_h, w, h), fill=(0, 0, 0, 190))
    _centred_text(draw, (0, h - bar_h, w, h), CAPTION_TEXT, (255, 255, 255), int(bar_h * 0.45))
    return Image.alpha_composite(base, layer).convert("RGB")


def meme_bars(img: Image.Image, top: bool, bottom: bool, fraction: float = 0.18) -> Image.Image:
    """White bars with black text added above and/or below the photo (the canvas grows)."""
    src = img.convert("RGB")
    w, h = src.size
    bar_h = max(24, round(h * fraction))
    new_h = h + bar_h * (int(top) + int(bottom))
    out = Image.new("RGB", (w, new_h), (255, 255, 255))
    out.paste(src, (0, bar_h if top else 0))
    draw = ImageDraw.Draw(out)
    if top:
        _centred_text(draw, (0, 0, w, bar_h), MEME_TOP_TEXT, (0, 0, 0), int(bar_h * 0.5))
    if bottom:
        _centred_text(
            draw, (0, new_h - bar_h, w, new_h), MEME_BOTTOM_TEXT, (0, 0, 0), int(bar_h * 0.5)
        )
    return out


def _smiley(draw: ImageDraw.ImageDraw, x: float, y: float, r: float) -> None:
    draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 204, 51), outline=(120, 80, 0), width=2)
    e = r * 0.16
    for dx in (-0.35, 0.35):
        draw.ellipse((x + dx * r - e, y - 0.3 * r - e, x + dx * r + e, y - 0.3 * r + e), fill=0)
    draw.arc((x - 0.55 * r, y - 0.4 * r, x + 0.55 * r, y + 0.6 * r), 20, 160, fill=0, width=3)


def _star(draw: ImageDraw.ImageDraw, x: float, y: float, r: float) -> None:
    points = []
    for k in range(10):
        angle = np.pi / 2 + k * np.pi / 5
        radius = r if k % 2 == 0 else r * 0.45
        points.append((x + radius * np.cos(angle), y - radius * np.sin(angle)))
    draw.polygon(points, fill=(255, 90, 160), outline=(120, 0, 60))


def _heart(draw: ImageDraw.ImageDraw, x: float, y: float, r: float) -> None:
    h = r * 0.55
    draw.ellipse((x - r, y - r * 0.7, x, y - r * 0.7 + 2 * h), fill=(230, 30, 50))
    draw.ellipse((x, y - r * 0.7, x + r, y - r * 0.7 + 2 * h), fill=(230, 30, 50))
    draw.polygon(
        [(x - r * 0.97, y - r * 0.2), (x + r * 0.97, y - r * 0.2), (x, y + r)], fill=(230, 30, 50)
    )


_STICKERS = (_smiley, _star, _heart)


def stickers(img: Image.Image, rng: np.random.Generator, count: int = 3) -> Image.Image:
    """``count`` emoji-like stickers (smiley, star, heart), each about 16% of the shorter side
    across, at seeded positions inside the photo."""
    out = img.convert("RGB").copy()
    w, h = out.size
    r = max(4.0, min(w, h) * 0.08)
    draw = ImageDraw.Draw(out)
    for k in range(count):
        x = float(rng.uniform(r, max(r + 1, w - r)))
        y = float(rng.uniform(r, max(r + 1, h - r)))
        _STICKERS[k % len(_STICKERS)](draw, x, y, r)
    return out


@functools.lru_cache(maxsize=1)
def _frame() -> Image.Image:
    """The phone-app screen without its photo: status bar, header, action buttons, nav bar."""
    im = Image.new("RGB", (FRAME_W, FRAME_H), (255, 255, 255))
    d = ImageDraw.Draw(im)
    # Status bar: time, signal bars, battery.
    d.rectangle((0, 0, FRAME_W, _STATUS_H), fill=(250, 250, 250))
    d.text((28, _STATUS_H / 2), "9:41", font=font(24), fill=(0, 0, 0), anchor="lm")
    for k in range(4):
        bx = FRAME_W - 150 + k * 12
        d.rectangle((bx, 30 - 5 * k, bx + 8, 32), fill=(0, 0, 0))
    d.rounded_rectangle((FRAME_W - 80, 14, FRAME_W - 30, 32), radius=4, outline=(0, 0, 0), width=2)
    d.rectangle((FRAME_W - 76, 18, FRAME_W - 44, 28), fill=(0, 0, 0))
    # Header: back arrow, avatar, name, follow button, menu dots.
    top = _STATUS_H
    d.line((20, top + 48, 44, top + 30), fill=(0, 0, 0), width=4)
    d.line((20, top + 48, 44, top + 66), fill=(0, 0, 0), width=4)
    d.ellipse((64, top + 20, 120, top + 76), fill=(180, 140, 220), outline=(240, 80, 120), width=3)
    d.text((134, top + 36), "someone_1994", font=font(26), fill=(0, 0, 0), anchor="lm")
    d.text((134, top + 64), "Original audio", font=font(18), fill=(110, 110, 110), anchor="lm")
    d.rounded_rectangle(
        (FRAME_W - 210, top + 28, FRAME_W - 90, top + 68), radius=10, fill=(0, 149, 246)
    )
    d.text((FRAME_W - 150, top + 48), "Follow", font=font(22), fill=(255, 255, 255), anchor="mm")
    for k in range(3):
        d.ellipse((FRAME_W - 44, top + 32 + k * 12, FRAME_W - 36, top + 40 + k * 12), fill=0)
    d.line((0, top + _HEADER_H - 1, FRAME_W, top + _HEADER_H - 1), fill=(219, 219, 219), width=2)
    # Bottom navigation bar: five icons.
    nav_top = FRAME_H - _NAV_H
    d.line((0, nav_top, FRAME_W, nav_top), fill=(219, 219, 219), width=2)
    for k in range(5):
        cx = FRAME_W * (k + 0.5) / 5
        if k == 2:
            d.rounded_rectangle(
                (cx - 22, nav_top + 30, cx + 22, nav_top + 74), radius=8, outline=0, width=4
            )
        else:
            d.ellipse((cx - 18, nav_top + 34, cx + 18, nav_top + 70), outline=0, width=4)
    return im


def _actions(d: ImageDraw.ImageDraw, y: int) -> None:
    """Like, comment and share buttons, the bookmark, the likes and a caption line."""
    _heart(d, 44, y + 34, 20)
    d.ellipse((86, y + 14, 126, y + 54), outline=0, width=4)
    d.polygon([(150, y + 20), (190, y + 34), (150, y + 48), (158, y + 34)], outline=(0, 0, 0))
    d.polygon(
        [
            (FRAME_W - 56, y + 14),
            (FRAME_W - 28, y + 14),
            (FRAME_W - 28, y + 56),
            (FRAME_W - 42, y + 44),
            (FRAME_W - 56, y + 56),
        ],
        outline=(0, 0, 0),
    )
    d.text((24, y + _ACTIONS_H + 6), "1,024 likes", font=font(24), fill=(0, 0, 0), anchor="lt")
    d.text(
        (24, y + _ACTIONS_H + 40),
        "someone_1994 " + CAPTION_TEXT,
        font=font(22),
        fill=(40, 40, 40),
        anchor="lt",
    )
    d.text(
        (24, y + _ACTIONS_H + 72),
        "View all 88 comments",
        font=font(22),
        fill=(140, 140, 140),
        anchor="lt",
    )


def screenshot(img: Image.Image, fraction: float) -> Image.Image:
    """The photo inside the phone-app frame, ``fraction`` (0.6-0.9) of the frame's width wide
    (narrower when a tall photo would not fit between the header and the buttons)."""
    if not 0.1 <= fraction <= 1.0:
        raise ValueError("fraction is the photo's share of the frame width, 0.1 to 1.0")
    src = img.convert("RGB")
    out = _frame().copy()
    room_h = FRAME_H - _STATUS_H - _HEADER_H - _NAV_H - _ACTIONS_H - 130
    w = FRAME_W * fraction
    h = w * src.height / src.width
    if h > room_h:
        w, h = w * room_h / h, room_h
    size = (max(1, round(w)), max(1, round(h)))
    x = (FRAME_W - size[0]) // 2
    y = _STATUS_H + _HEADER_H + 12
    out.paste(src.resize(size, Image.Resampling.LANCZOS), (x, y))
    _actions(ImageDraw.Draw(out), y + size[1] + 8)
    return out
