"""Generated photos for the eval tests: smooth random textures with a few shapes (PDQ quality
well above the floor, no symmetry)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
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


@pytest.fixture
def make_photo() -> Callable[..., Image.Image]:
    """:func:`textured`, for tests that need more than one photo."""
    return textured


@pytest.fixture
def photo() -> Image.Image:
    return textured(1)


@pytest.fixture
def photo_dirs(tmp_path: Path) -> tuple[Path, Path]:
    """Six photos to bank and four distinct distractors, as JPEG files."""
    bank, other = tmp_path / "bank", tmp_path / "other"
    bank.mkdir()
    other.mkdir()
    for i in range(6):
        textured(100 + i).save(bank / f"p{i}.jpg", quality=92)
    for i in range(4):
        textured(200 + i).save(other / f"d{i}.jpg", quality=92)
    return bank, other
