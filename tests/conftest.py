"""Shared fixtures. Helpers live in ``tests/support.py`` (importable as ``support``)."""

from __future__ import annotations

import pytest

from support import encode, textured_rgb


@pytest.fixture
def photo_jpeg() -> bytes:
    """A 320x240 textured JPEG."""
    return encode(textured_rgb(), "JPEG", quality=90)
