"""Generated photos for the eval tests: smooth random textures with a few shapes (PDQ quality
well above the floor, no symmetry)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def textured(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A textured, asymmetric RGB image that is different for every seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    coarse = rng.integers(0, 256, size=(h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
    img = Image.fromarray(coarse, "RGB").resize((w, h), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        x1, y1 = x0 + int(rng.integers(20, 120)), y0 + int(rng.integers(20, 90))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.integers(2):
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    return img.filter(ImageFilter.GaussianBlur(1))
