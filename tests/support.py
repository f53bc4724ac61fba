"""Helpers for tests: the reference data beside the repository, and generated test images."""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``../shared/data`` beside the repository (``HASHWALL_SHARED_DATA`` overrides)."""
    override = os.environ.get("HASHWALL_SHARED_DATA")
    return Path(override) if override else (REPO.parent / "shared" / "data")


# What a skipped test needs, and what to set to run it: the end of a run gives one line for
# each (tests/conftest.py), not one line per test. A skip's message starts with its need.
NEEDS = {
    "needs PostgreSQL": "set HASHWALL_TEST_POSTGRES_URL=postgresql://USER@HOST:5432/DB "
    "(an empty database the tests may create schemas in)",
    "needs Redis": "run Redis at 127.0.0.1:6379 or set HASHWALL_TEST_REDIS_URL=redis://HOST:PORT/DB",
    "needs the reference data": "set HASHWALL_SHARED_DATA to a folder with pdq-reference/, "
    "photos/ and videos/ (tests/README.md says where each comes from)",
}


def skip_needing(need: str, detail: str) -> None:
    """Skip the running test for lack of ``need`` (a key of :data:`NEEDS`); under ``CI=true``,
    where nothing may be missing, fail instead."""
    assert need in NEEDS, need
    message = f"{need}: {detail}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_shared_data(*parts: str) -> Path:
    """The path under the shared data, or skip (fail under ``CI=true``) when it is missing."""
    path = shared_data_dir().joinpath(*parts)
    if not path.exists():
        skip_needing("needs the reference data", f"{path} is missing")
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


# --- databases: every store-backed test runs on SQLite and on PostgreSQL ---------------------

POSTGRES_ENV = "HASHWALL_TEST_POSTGRES_URL"
BACKENDS = ("sqlite", "postgresql")


def postgres_url() -> str:
    """The test server's URL, or skip (fail under ``CI=true``) when it is not configured."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        skip_needing("needs PostgreSQL", f"{POSTGRES_ENV} is not set")
        raise AssertionError("unreachable")
    return url


def fresh_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database: a new SQLite file, or a new PostgreSQL schema dropped after the test."""
    from sqlalchemy import text

    from hashwall.store.engine import make_engine, normalise_url

    if backend == "sqlite":
        folder = tmp_path / f"db-{secrets.token_hex(3)}"
        return f"sqlite:///{folder / 'hashwall.db'}"
    base = postgres_url()
    admin = make_engine(base)
    schema = f"test_{secrets.token_hex(6)}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    request.addfinalizer(drop)
    url = normalise_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


#: Generous rate limits for tests that are not about the limits (those lower them).
TEST_SETTINGS: dict[str, Any] = {
    "rate_limit_client_per_second": 1000.0,
    "rate_limit_client_burst": 10_000,
    "rate_limit_key_per_second": 1000.0,
    "rate_limit_key_burst": 10_000,
    "pin_client_free_attempts": 1000,
    "anonymous_cases_per_second": 1000.0,
    "anonymous_cases_burst": 10_000,
}


# --- PINs: cheap argon2id in tests (production: argon2-cffi's defaults, ~0.4 s per PIN) -------


def _cheap_pins() -> Any:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    from hashwall.service.context import PinHashing

    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    dummy = hasher.hash("00000000")

    def verify(pin_hash: str | None, pin: str) -> bool:
        try:
            ok = hasher.verify(pin_hash if pin_hash is not None else dummy, pin)
        except (VerificationError, InvalidHashError):
            return False
        return ok and pin_hash is not None

    return PinHashing(hash=hasher.hash, verify=verify)


CHEAP_PINS = _cheap_pins()
