"""Generated photo-like pictures for benchmarks and tests: structure at many scales (what
keypoints and perceptual hashes need), different for every seed, the same every time."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def scene(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A smooth random background at two scales (a tenth and a fortieth of the longer side)
    and 40 ellipses and bars of many sizes, softened a little. Sizes follow the longer side,
    so a bigger picture shows the same kind of scene, not a finer one."""
    rng = np.random.default_rng(seed)
    w, h = size
    longer = max(w, h)
    img = Image.new("RGB", size)
    for cell, weight in ((max(1, longer // 10), 0.6), (max(1, longer // 40), 0.4)):
        coarse = rng.integers(0, 256, size=(h // cell + 2, w // cell + 2, 3), dtype=np.uint8)
        layer = Image.fromarray(coarse, "RGB").resize((w, h), Image.Resampling.BICUBIC)
        img = Image.blend(img, layer, weight)
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        r = max(1, int(rng.integers(4, 40)) * longer // 480)
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.integers(2):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        else:
            draw.rectangle((x - r, y - r // 2, x + r, y + r // 2), fill=colour)
    return img.filter(ImageFilter.GaussianBlur(0.8))
