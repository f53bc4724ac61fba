"""Fixtures of the eval tests (photos from :mod:`eval_images`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eval_images import textured
from PIL import Image


@pytest.fixture
def make_photo() -> Callable[..., Image.Image]:
    """:func:`textured`, for tests that need more than one photo."""
    return textured


@pytest.fixture
def photo() -> Image.Image:
    return textured(1)
