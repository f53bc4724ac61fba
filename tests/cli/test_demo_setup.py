"""``hashwall demo setup`` (what ``make run`` runs before serving): once, then the same keys."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from hashwall.cli.db import db_app
from hashwall.cli.demo import PLATFORMS, demo_app
from hashwall.errors import InvalidKey
from hashwall.service import operator
from hashwall.service.context import Actor, ServiceContext
from hashwall.settings import Settings
from hashwall.store.repo import Store

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.add_typer(db_app, name="db")
    app.add_typer(demo_app, name="demo")
    return app


APP = _app()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder like the repository's, whose ./var/hashwall.db is migrated (as make run does)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HASHWALL_DATABASE_URL", "sqlite:///./var/hashwall.db")
    monkeypatch.setenv("COLUMNS", "250")
    result = runner.invoke(APP, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return tmp_path


def setup(*args: str) -> dict[str, Any]:
    result = runner.invoke(APP, ["demo", "setup", "--json", *args])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def keys_of(document: dict[str, Any]) -> list[str]:
    return [
        document["admin_key"],
        document["partner"]["key"],
        *(p["key"] for p in document["platforms"]),
    ]


def test_setup_creates_the_demo_world_once_and_saves_its_keys_privately(workdir: Path) -> None:
    first = setup()
    assert first["created"] is True
    assert [p["name"] for p in first["platforms"]] == [name for name, _ in PLATFORMS]
    assert first["urls"] == {
        "api": "http://127.0.0.1:8000",
        "docs": "http://127.0.0.1:8000/docs",
        "openapi": "http://127.0.0.1:8000/openapi.json",
    }
    keys_file = workdir / "var" / "demo-keys.json"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600

    ctx = ServiceContext(Store.from_url(Settings().database_url), Settings())
    try:
        roles = [operator.authenticate(ctx, key).kind for key in keys_of(first)]
        assert roles == ["admin", "intake", "platform", "platform", "platform"]
        platforms = operator.list_platforms(ctx, Actor.operator(), organisation="Demo Co")
        assert len(platforms) == 3
    finally:
        ctx.store.dispose()

    second = setup()
    assert second["created"] is False
    assert keys_of(second) == keys_of(first)

    human = runner.invoke(APP, ["demo", "setup"])
    assert human.exit_code == 0, human.output
    assert "already set up" in human.stdout
    assert first["admin_key"] in human.stdout
    assert "http://127.0.0.1:8000/docs" in human.stdout


def test_lost_keys_file_revokes_the_old_demo_keys_and_makes_new_ones(workdir: Path) -> None:
    first = setup()
    (workdir / "var" / "demo-keys.json").unlink()
    second = setup()
    assert second["created"] is True
    assert set(keys_of(second)).isdisjoint(keys_of(first))
    ctx = ServiceContext(Store.from_url(Settings().database_url), Settings())
    try:
        for key in keys_of(first):
            with pytest.raises(InvalidKey):
                operator.authenticate(ctx, key)
        assert len(operator.list_platforms(ctx, Actor.operator(), organisation="Demo Co")) == 3
    finally:
        ctx.store.dispose()


def test_setup_on_a_store_without_schema_fails_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HASHWALL_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = runner.invoke(APP, ["demo", "setup", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "store_unavailable"
