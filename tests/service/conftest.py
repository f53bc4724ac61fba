"""Fixtures for the use-case tests: every test runs on SQLite and on PostgreSQL.

The same approach as ``tests/store/conftest.py``: PostgreSQL comes from
``HASHWALL_TEST_POSTGRES_URL`` (skipped without it, failed under ``CI=true``), and each PostgreSQL
test gets its own fresh schema (``search_path``), dropped after the test.

Fixtures: ``backend`` (``"sqlite"``/``"postgresql"``), ``service_database_url`` (an empty
database), ``service_store`` (a migrated :class:`Store`), ``settings`` and ``ctx`` (a
:class:`ServiceContext` over that store).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from hashwall.service.context import ServiceContext
from hashwall.settings import Settings
from hashwall.store import migrate
from hashwall.store.engine import make_engine, normalise_url
from hashwall.store.repo import Store

POSTGRES_ENV = "HASHWALL_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def service_postgres_url() -> str:
    """The test server's URL, or skip (fail under ``CI=true``) when it is not configured."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        message = f"{POSTGRES_ENV} is not set: PostgreSQL service tests not run"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def service_postgres_admin() -> Iterator[Engine]:
    """An engine on the test server's default schema, to create and drop test schemas."""
    engine = make_engine(service_postgres_url())
    yield engine
    engine.dispose()


def fresh_service_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of an empty database: a new SQLite file, or a new PostgreSQL schema."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'service-store' / 'hashwall.db'}"
    admin: Engine = request.getfixturevalue("service_postgres_admin")
    schema = f"test_{secrets.token_hex(6)}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))

    request.addfinalizer(drop)
    url = normalise_url(service_postgres_url()).update_query_dict(
        {"options": f"-csearch_path={schema}"}
    )
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgresql"``."""
    return str(request.param)


@pytest.fixture
def service_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database on ``backend``."""
    return fresh_service_database_url(backend, tmp_path, request)


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
    """A service context over the migrated test store."""
    return ServiceContext(store=service_store, settings=settings)
