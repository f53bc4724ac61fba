"""Fixtures for the media tests: settings, and the reference data (``HASHWALL_SHARED_DATA``:
the PDQ reference images of facebook/ThreatExchange, see test_media_conformance.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashwall.settings import Settings

from support import require_shared_data


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data directory; skips the test when absent, fails instead when CI=true."""
    return require_shared_data()


@pytest.fixture
def settings() -> Settings:
    """The default settings (the limits the service ships with)."""
    return Settings()
