"""``hashwall demo setup`` (what ``make run`` runs before serving): once, then the same keys,
then what to do next (commands that work as printed)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from hashwall import hash_image
from hashwall.cli.check import EXIT_ALLOW, EXIT_BLOCK
from hashwall.cli.db import db_app
from hashwall.cli.demo import CASE_NUMBER, PLATFORMS, demo_app
from hashwall.domain import Actor
from hashwall.errors import InvalidKey
from hashwall.service import auth, tenants
from hashwall.service.context import ServiceContext
from hashwall.settings import Settings
from hashwall.store import migrate
from hashwall.store.engine import make_engine
from hashwall.store.repo import Store
from live_server import served_in_thread, wait_indexed

from support import encode, textured_rgb

runner = CliRunner()
HASHWALL = str(Path(sys.executable).parent / "hashwall")


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
        "report": "http://127.0.0.1:8000/report",
        "case": "http://127.0.0.1:8000/case",
        "demo": "http://127.0.0.1:8000/demo",
        "api": "http://127.0.0.1:8000",
        "docs": "http://127.0.0.1:8000/docs",
        "openapi": "http://127.0.0.1:8000/openapi.json",
    }
    keys_file = workdir / "var" / "demo-keys.json"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600

    ctx = ServiceContext(Store.from_url(Settings().database_url), Settings())
    try:
        roles = [auth.authenticate(ctx, key).kind for key in keys_of(first)]
        assert roles == ["admin", "intake", "platform", "platform", "platform"]
        platforms = tenants.list_platforms(ctx, Actor.operator(), organisation="Demo Co")
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
    for page in ("report", "case", "demo", "docs"):
        assert f"http://127.0.0.1:8000/{page}" in human.stdout, page
    assert "HASHWALL_DEMO_KEYS_FILE=var/demo-keys.json" in human.stdout


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
                auth.authenticate(ctx, key)
        assert len(tenants.list_platforms(ctx, Actor.operator(), organisation="Demo Co")) == 3
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


def test_setup_prints_exports_and_three_commands_that_work_as_printed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'hashwall.db'}"
    (tmp_path / "var").mkdir()
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    (tmp_path / "photo.jpg").write_bytes(encode(textured_rgb(400, 300, seed=5), "JPEG", quality=90))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHWALL_")}
    env |= {"HASHWALL_DATABASE_URL": url, "COLUMNS": "80"}

    def shell(script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-euc", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    # Served as make run serves it: /demo reads the keys file that setup writes.
    keys_file = tmp_path / "var" / "demo-keys.json"
    with served_in_thread(url, {}, demo_keys_file=str(keys_file)) as server:
        assert httpx.get(f"{server.url}/demo").status_code == 404, "no demo before setup"
        printed = subprocess.run(
            [HASHWALL, "demo", "setup", "--url", server.url],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        keys = json.loads((tmp_path / "var" / "demo-keys.json").read_text())
        lines = printed.splitlines()
        exports = [line for line in lines if line.startswith("export ")]
        assert (
            f"export HASHWALL_SERVER={server.url} PLATFORM_KEY={keys['platforms'][0]['key']} "
            f"INTAKE_KEY={keys['partner']['key']} ADMIN_KEY={keys['admin_key']}"
        ) in exports
        bank, check, withdraw = [line for line in lines if line.startswith("hashwall ")]
        prelude = "\n".join(exports) + "\n"

        banked = shell(prelude + bank)
        assert banked.returncode == 0, banked.stderr + banked.stdout
        case_number = re.search(r"HW(?:-[0-9A-Z]{4}){3}", banked.stdout)
        assert case_number is not None, banked.stdout
        wait_indexed(server.url, 1)

        checked = shell(prelude + check)
        assert checked.returncode == EXIT_BLOCK, checked.stderr + checked.stdout
        assert "block" in checked.stdout

        assert CASE_NUMBER in withdraw
        withdrawn = shell(prelude + withdraw.replace(CASE_NUMBER, case_number.group()))
        assert withdrawn.returncode == 0, withdrawn.stderr + withdrawn.stdout

        again = shell(prelude + check)
        assert again.returncode == EXIT_ALLOW, again.stderr + again.stdout
        assert "allow" in again.stdout

        # The printed /demo address answers, and checks as the first platform without a key.
        assert f"{server.url}/demo " in printed
        page = httpx.get(f"{server.url}/demo")
        assert page.status_code == 200
        assert not any(key in page.text for key in keys_of(keys))
        photo = hash_image((tmp_path / "photo.jpg").read_bytes())
        signals = [
            {"type": s.type, "value": s.value, "quality": s.quality} for s in photo.signals()
        ]
        demo_check = httpx.post(f"{server.url}/demo/check", json={"signals": signals})
        assert demo_check.status_code == 200, demo_check.text
        assert demo_check.json()["decision"] == "allow"
