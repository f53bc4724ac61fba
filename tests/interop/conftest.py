"""Fixtures of the interop tests: a service context over a fresh store, on SQLite and on
PostgreSQL (as ``tests/service/conftest.py``), with an intake partner ``Helpline``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hashwall.hashing.pdq import PdqHash
from hashwall.service.context import ServiceContext
from hashwall.settings import Settings
from hashwall.store import migrate
from hashwall.store.engine import make_engine
from hashwall.store.repo import Store

from support import BACKENDS, CHEAP_PINS, fresh_database_url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgresql"``."""
    return str(request.param)


def migrated_context(url: str) -> tuple[ServiceContext, Store]:
    """A context over a migrated store at ``url``, with the partner ``Helpline``."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    store = Store(engine)
    with store.write() as repo:
        repo.add_partner("Helpline")
    return ServiceContext(store=store, settings=Settings(database_url=url), pins=CHEAP_PINS), store


@pytest.fixture
def ctx(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServiceContext]:
    """A service context over a fresh, migrated store."""
    context, store = migrated_context(fresh_database_url(backend, tmp_path, request))
    yield context
    store.dispose()


@pytest.fixture
def other_ctx(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[ServiceContext]:
    """A second, independent store (where a list goes)."""
    context, store = migrated_context(fresh_database_url(backend, tmp_path, request))
    yield context
    store.dispose()


def random_pdq(rng: np.random.Generator) -> str:
    """A random PDQ hash with 128 bits set (what a real photo's hash looks like)."""
    bits = np.zeros(256, dtype=np.uint8)
    bits[rng.choice(256, size=128, replace=False)] = 1
    return PdqHash.from_bits(bits).hex
