"""Fixtures for the use-case tests: every test runs on SQLite and on PostgreSQL.

The same approach as ``tests/store/conftest.py``: PostgreSQL comes from
``HASHWALL_TEST_POSTGRES_URL`` (skipped without it, failed under ``CI=true``), and each PostgreSQL
test gets its own fresh schema (``search_path``), dropped after the test.

Fixtures: ``backend`` (``"sqlite"``/``"postgresql"``), ``service_database_url`` (an empty
database), ``service_store`` (a migrated :class:`Store`), ``settings`` and ``ctx`` (a
:class:`ServiceContext` over that store, hashing PINs with cheap argon2 parameters), ``world``
(creates organisations, platforms and partners through the repository and returns actors),
``images`` (session-wide hashes of a generated photo and its altered copies) and
``pdq_family`` (synthetic PDQ hashes at chosen distances), ``fresh_ctx`` (a factory of new,
migrated stores, one per call: for property tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from hashwall.domain import Actor, PlatformPolicy, Scope
from hashwall.hashing.image import ImageHashes, hash_image
from hashwall.hashing.pdq import PdqHash
from hashwall.service.context import ServiceContext
from hashwall.settings import Settings
from hashwall.store import migrate
from hashwall.store.credentials import hash_api_secret
from hashwall.store.engine import make_engine
from hashwall.store.repo import Store

from support import BACKENDS, CHEAP_PINS, encode, fresh_database_url, textured_rgb


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgresql"``."""
    return str(request.param)


@pytest.fixture
def service_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database on ``backend``."""
    return fresh_database_url(backend, tmp_path, request)


@pytest.fixture
def service_store(service_database_url: str) -> Iterator[Store]:
    """A store over a database migrated to head."""
    engine = make_engine(service_database_url)
    migrate.upgrade(engine)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def settings(service_database_url: str) -> Settings:
    """Default settings pointing at the test database."""
    return Settings(database_url=service_database_url)


@pytest.fixture
def ctx(service_store: Store, settings: Settings) -> ServiceContext:
    """A service context over the migrated test store (cheap PIN hashing)."""
    return ServiceContext(store=service_store, settings=settings, pins=CHEAP_PINS)


class World:
    """Tenants made through the repository directly (the operator use cases are elsewhere)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def platform(
        self,
        organisation: str,
        name: str,
        policy: PlatformPolicy | None = None,
        scopes: tuple[Scope, ...] = ("check", "feed", "verdict"),
    ) -> Actor:
        """A platform (and its organisation, if new) and an actor for a key of it (a real key
        row: the check re-reads it before any answer other than allow)."""
        with self.store.write() as repo:
            org = repo.get_organisation(organisation) or repo.add_organisation(organisation)
            platform = repo.add_platform(org.id, name, policy)
            key = repo.add_api_key(
                role="platform",
                secret_hash=hash_api_secret(f"secret-{name}"),
                scopes=scopes,
                platform_id=platform.id,
            )
        return Actor(
            kind="platform",
            key_id=key.key_id,
            platform_id=platform.id,
            scopes=frozenset(scopes),
        )

    def partner(self, name: str) -> Actor:
        """An intake partner and an actor for a key of it."""
        with self.store.write() as repo:
            partner = repo.add_partner(name)
        return Actor(kind="intake", key_id=f"key_test_{name}", partner_id=partner.id)


@pytest.fixture
def world(service_store: Store) -> World:
    """Creates organisations, platforms and partners in the test store."""
    return World(service_store)


@pytest.fixture(scope="session")
def images() -> dict[str, ImageHashes]:
    """A generated photo, altered copies of it, an unrelated photo and a flat (blank) image."""
    pixels = textured_rgb(320, 240, seed=11)
    variants = {
        "original": encode(pixels, "JPEG", quality=92),
        "reencoded": encode(pixels, "JPEG", quality=60),
        "resized": encode(np.ascontiguousarray(pixels[::2, ::2]), "PNG"),
        "rotated": encode(np.ascontiguousarray(np.rot90(pixels)), "JPEG", quality=85),
        "flipped": encode(np.ascontiguousarray(pixels[:, ::-1]), "JPEG", quality=85),
        "other": encode(textured_rgb(320, 240, seed=99), "JPEG", quality=92),
        "blank": encode(np.full((240, 320, 3), 128, dtype=np.uint8), "PNG"),
    }
    return {name: hash_image(data, fast=True, orientations=True) for name, data in variants.items()}


class PdqFamily:
    """Synthetic PDQ hashes with 128 bits set, and copies of them a chosen distance away."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)

    def new(self) -> PdqHash:
        """A fresh random hash with exactly 128 bits set."""
        bits = np.zeros(256, dtype=np.uint8)
        bits[self.rng.choice(256, size=128, replace=False)] = 1
        return PdqHash.from_bits(bits)

    def near(self, base: PdqHash, distance: int) -> PdqHash:
        """A hash exactly ``distance`` (even) bits from ``base``, still with 128 bits set."""
        assert distance % 2 == 0
        bits = base.bits().copy()
        ones, zeros = np.flatnonzero(bits == 1), np.flatnonzero(bits == 0)
        half = distance // 2
        bits[self.rng.choice(ones, size=half, replace=False)] = 0
        bits[self.rng.choice(zeros, size=half, replace=False)] = 1
        result = PdqHash.from_bits(bits)
        assert result.distance(base) == distance
        return result


@pytest.fixture
def pdq_family() -> PdqFamily:
    """Synthetic PDQ hashes at chosen distances (deterministic per test)."""
    return PdqFamily()


@pytest.fixture
def fresh_ctx(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FreshCtx]:
    """A factory of new, empty, migrated stores on ``backend``, one per call (with its context).

    For property tests that need a fresh bank per hypothesis example. Dispose each context's
    store when done with it; PostgreSQL schemas are dropped when the test ends.
    """
    made: list[Store] = []

    def make() -> ServiceContext:
        url = fresh_database_url(backend, tmp_path, request)
        engine = make_engine(url)
        migrate.upgrade(engine)
        store = Store(engine)
        made.append(store)
        return ServiceContext(store=store, settings=Settings(database_url=url), pins=CHEAP_PINS)

    yield make
    for store in made:
        store.dispose()


FreshCtx = Callable[[], ServiceContext]
