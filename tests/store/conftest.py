"""Fixtures for the store contract suite: every test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``HASHWALL_TEST_POSTGRES_URL`` (e.g.
``postgresql://postgres@127.0.0.1:5432/test``). Without it the PostgreSQL cases skip, or fail
under ``CI=true``. Each PostgreSQL test gets its own fresh schema (``search_path``), dropped after.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from hashwall.store import migrate
from hashwall.store.engine import make_engine
from hashwall.store.repo import Repository, Store

from support import BACKENDS, fresh_database_url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgresql"``."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database on ``backend``."""
    return fresh_database_url(backend, tmp_path, request)


@pytest.fixture
def empty_engine(database_url: str) -> Iterator[Engine]:
    """An engine on an empty, never migrated database."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    """An engine on a database migrated to head."""
    migrate.upgrade(empty_engine)
    return empty_engine


@pytest.fixture
def store(engine: Engine) -> Store:
    """A store over a migrated database."""
    return Store(engine)


@pytest.fixture
def repo(store: Store) -> Iterator[Repository]:
    """A repository inside one write transaction, committed when the test ends."""
    with store.write() as repository:
        yield repository


@pytest.fixture
def pg_engine(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A migrated PostgreSQL database (for the PostgreSQL-only tests)."""
    url = fresh_database_url("postgresql", tmp_path, request)
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def redacted_backend(url: str) -> str:
    """The back end of a URL (``sqlite`` or ``postgresql``)."""
    return make_url(url).get_backend_name()
