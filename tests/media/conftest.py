"""Fixtures for the media tests: settings, and the shared reference data (../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hashwall.settings import Settings

# <repo>/tests/media/conftest.py -> <repo>/../shared/data, unless HASHWALL_SHARED_DATA says.
_DEFAULT_SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def shared_data_dir() -> Path:
    """Where the shared reference data lives (``HASHWALL_SHARED_DATA`` overrides the default)."""
    override = os.environ.get("HASHWALL_SHARED_DATA")
    return Path(override) if override else _DEFAULT_SHARED_DATA.resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data directory; skips the test when absent, fails instead when CI=true."""
    path = shared_data_dir()
    if not path.is_dir():
        message = f"shared reference data not found at {path} (set HASHWALL_SHARED_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def settings() -> Settings:
    """The default settings (the limits the service ships with)."""
    return Settings()
