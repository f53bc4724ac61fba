"""Engines: SQLite's pragmas and folder, PostgreSQL through psycopg 3, URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from hashwall.settings import Settings
from hashwall.store.engine import (
    DEFAULT_DATABASE_URL,
    make_engine,
    normalise_url,
    read_only,
    redact,
)
from hashwall.store.repo import Store


def test_sqlite_creates_its_folder_and_runs_wal_with_foreign_keys_and_a_busy_timeout(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deep" / "var" / "hashwall.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        assert path.exists()
    finally:
        engine.dispose()


def test_default_url_is_the_local_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HASHWALL_DATABASE_URL", raising=False)
    assert Settings().database_url == DEFAULT_DATABASE_URL == "sqlite:///./var/hashwall.db"
    monkeypatch.chdir(tmp_path)
    engine = make_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert (tmp_path / "var" / "hashwall.db").exists()
    finally:
        engine.dispose()


def test_in_memory_sqlite_is_one_shared_database() -> None:
    engine = make_engine("sqlite://")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u:p@db:5432/hashwall", "postgresql+psycopg"),
        ("postgres://u:p@db/hashwall", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db/hashwall", "postgresql+psycopg"),
        ("sqlite:///./var/x.db", "sqlite"),
    ],
)
def test_urls_are_normalised_to_psycopg_3(given: str, driver: str) -> None:
    assert normalise_url(given).drivername == driver


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresql+psycopg2://u@h/db"])
def test_unsupported_databases_and_drivers_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        make_engine(url)


def test_redact_hides_the_password() -> None:
    assert redact("postgresql://user:s3cret@db/hashwall") == "postgresql://user:***@db/hashwall"


def test_engine_speaks_to_its_back_end(engine: Engine, backend: str) -> None:
    assert engine.dialect.name == backend
    if backend == "postgresql":
        assert engine.dialect.driver == "psycopg"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_postgresql_read_only_transactions_cannot_write(pg_engine: Engine) -> None:
    with pytest.raises(Exception, match="read-only"), Store(pg_engine).read() as repo:
        repo.add_organisation("Nope")


def test_read_only_snapshot_does_not_see_later_commits(engine: Engine) -> None:
    store = Store(engine)
    with store.write() as repo:
        repo.add_organisation("Before")
    with engine.connect() as conn:
        read_only(conn)
        with conn.begin():
            first = conn.execute(text("SELECT count(*) FROM organisations")).scalar()
            with store.write() as repo:
                repo.add_organisation("After")
            again = conn.execute(text("SELECT count(*) FROM organisations")).scalar()
    assert first == again == 1
