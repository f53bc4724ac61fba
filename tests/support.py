"""Helpers for tests: the reference data beside the repository, and generated test images."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``../shared/data`` beside the repository (``HASHWALL_SHARED_DATA`` overrides)."""
    override = os.environ.get("HASHWALL_SHARED_DATA")
    return Path(override) if override else (REPO.parent / "shared" / "data")


def require_shared_data(*parts: str) -> Path:
    """The path under the shared data, or skip (fail under ``CI=true``) when it is missing."""
    path = shared_data_dir().joinpath(*parts)
    if not path.exists():
        message = f"reference data missing: {path}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def textured_rgb(width: int = 320, height: int = 240, seed: int = 0) -> np.ndarray:
    """A deterministic photo-like RGB image: smooth gradients plus blobs and some noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, 3))
    for c in range(3):
        fx, fy, phase = rng.uniform(0.5, 4.0), rng.uniform(0.5, 4.0), rng.uniform(0, 6.3)
        img[..., c] = 128 + 60 * np.sin(2 * np.pi * (fx * x / width + fy * y / height) + phase)
    for _ in range(12):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.05, 0.25) * min(width, height)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r**2
        img[mask] = rng.uniform(0, 255, size=3)
    img += rng.normal(0, 4, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def encode(pixels: np.ndarray, fmt: str = "JPEG", **params: object) -> bytes:
    """Encode an RGB array with Pillow."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, **params)
    return buf.getvalue()
