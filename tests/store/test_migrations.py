"""Alembic is the only way the schema changes, and it builds exactly what ``tables.py`` says."""

from __future__ import annotations

import json

from sqlalchemy import Engine, inspect, text
from typer.testing import CliRunner

from hashwall.cli.db import db_app
from hashwall.store import migrate
from hashwall.store.tables import metadata

runner = CliRunner()


def test_upgrade_from_empty_creates_every_table_at_head(empty_engine: Engine) -> None:
    assert migrate.current_revision(empty_engine) is None
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    tables = set(inspect(empty_engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert "alembic_version" in tables


def test_migrated_schema_matches_tables_py_exactly(engine: Engine) -> None:
    assert migrate.schema_diff(engine) == []


def test_schema_diff_sees_a_drifted_database(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_signals_type_value"))
    diff = migrate.schema_diff(engine)
    assert any(d[0] == "add_index" and d[1].name == "ix_signals_type_value" for d in diff)


def test_upgrade_is_idempotent_and_downgrade_to_base_drops_everything(engine: Engine) -> None:
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert not set(metadata.tables) & set(inspect(engine).get_table_names())
    migrate.upgrade(engine)
    assert migrate.schema_diff(engine) == []


def test_db_cli_upgrades_then_reports_current_as_json(database_url: str) -> None:
    before = runner.invoke(db_app, ["current", "--json", "--database-url", database_url])
    assert before.exit_code == 0, before.output
    assert json.loads(before.stdout) == {
        "database": json.loads(before.stdout)["database"],
        "current": None,
        "head": migrate.head_revision(),
        "up_to_date": False,
    }
    up = runner.invoke(db_app, ["upgrade", "--json", "--database-url", database_url])
    assert up.exit_code == 0, up.output
    report = json.loads(up.stdout)
    assert (report["from"], report["to"]) == (None, migrate.head_revision())
    again = runner.invoke(db_app, ["upgrade", "--database-url", database_url])
    assert again.exit_code == 0 and "already at revision" in again.stdout
    after = json.loads(
        runner.invoke(db_app, ["current", "--json", "--database-url", database_url]).stdout
    )
    assert after["up_to_date"] is True


def test_db_cli_reads_the_url_from_settings_and_hides_passwords(
    monkeypatch: object, tmp_path: object
) -> None:
    import pytest

    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("HASHWALL_DATABASE_URL", "postgresql://user:s3cret@127.0.0.1:1/nothing")
        result = runner.invoke(db_app, ["current", "--json"])
    finally:
        mp.undo()
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["error"]["code"] == "store_unavailable"
    assert "s3cret" not in result.stdout


def test_db_cli_refuses_a_database_it_does_not_support() -> None:
    result = runner.invoke(db_app, ["upgrade", "--json", "--database-url", "mysql://x/y"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["code"] == "invalid_input"
