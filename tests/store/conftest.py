"""Fixtures for the store contract suite: every test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``HASHWALL_TEST_POSTGRES_URL`` (e.g.
``postgresql://postgres@127.0.0.1:5432/test``). Without it the PostgreSQL cases skip, or fail
under ``CI=true``. Each PostgreSQL test gets its own fresh schema (``search_path``), dropped after.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from hashwall.store import migrate
from hashwall.store.engine import make_engine, normalise_url
from hashwall.store.repo import Repository, Store

POSTGRES_ENV = "HASHWALL_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def postgres_url() -> str:
    """The test server's URL, or skip (fail under ``CI=true``) when it is not configured."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        message = f"{POSTGRES_ENV} is not set: PostgreSQL store tests not run"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An engine on the test server's default schema, to create and drop test schemas."""
    engine = make_engine(postgres_url())
    yield engine
    engine.dispose()


def fresh_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of an empty database: a new SQLite file, or a new PostgreSQL schema."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'hashwall.db'}"
    admin: Engine = request.getfixturevalue("postgres_admin")
    schema = f"test_{secrets.token_hex(6)}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))

    request.addfinalizer(drop)
    url = normalise_url(postgres_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


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
