"""The operator's commands as a user runs them, on a temporary SQLite store."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from hashwall import hash_file
from hashwall.cli.db import db_app
from hashwall.cli.operator import register_operator_commands
from hashwall.store import migrate
from hashwall.store.credentials import parse_api_key
from hashwall.store.engine import make_engine
from hashwall.store.events import ITEM_ADDED, ITEM_QUARANTINED
from hashwall.store.repo import Store
from hashwall.store.repositories.signals import SignalRecord

from support import encode, textured_rgb

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"

runner = CliRunner()


def _app() -> typer.Typer:
    """The ``hashwall`` app with the db and operator commands (as cli/main.py registers them)."""
    app = typer.Typer(pretty_exceptions_enable=False)
    app.add_typer(db_app, name="db")
    register_operator_commands(app)
    return app


APP = _app()


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite store that ``HASHWALL_DATABASE_URL`` points at."""
    url = f"sqlite:///{tmp_path / 'hw.db'}"
    monkeypatch.setenv("HASHWALL_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: no folding of hashes and ids
    result = runner.invoke(APP, ["db", "upgrade", "--json"])
    assert result.exit_code == 0, result.output
    return url


def run(*args: str) -> Result:
    """Invoke the app; never a traceback."""
    result = runner.invoke(APP, list(args))
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def run_json(*args: str) -> Any:
    """Invoke with --json, expect success and one JSON document."""
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _seed_item(url: str, *, quarantined: bool) -> str:
    store = Store.from_url(url)
    rng = random.Random(1)
    try:
        with store.write() as repo:
            case = repo.create_case(pin_hash="x", channel="anonymous")
            item = repo.add_item(case.id, kind="image", trust="unvouched")
            sigs = [SignalRecord("md5", f"{rng.getrandbits(128):032x}")]
            repo.add_signals(item.id, sigs)
            repo.append_event(
                ITEM_ADDED,
                {"item": item.item_ref, "signals": [s.to_dict() for s in sigs]},
                item=item,
            )
            if quarantined:
                item = repo.set_item_state(item.id, "quarantined")
                repo.append_event(ITEM_QUARANTINED, {"item": item.item_ref}, item=item)
        return item.item_ref
    finally:
        store.dispose()


def test_setup_flow_with_json(db_url: str) -> None:
    org = run_json("org", "add", "Example Social")
    assert org["name"] == "Example Social" and org["created_at"]
    platform = run_json(
        "platform", "add", "photos", "--org", "Example Social", "--pdq-threshold", "20"
    )
    assert platform["name"] == "photos" and platform["organisation"] == "Example Social"
    assert platform["policy"]["pdq_threshold"] == 20
    assert platform["policy"]["unvouched_answer"] == "review"
    assert platform["policy"]["retention_days"] == 90
    changed = run_json(
        "platform", "set-policy", "photos", "--reveal-distance", "--retention-days", "7"
    )
    assert changed["policy"]["reveal_distance"] is True
    assert changed["policy"]["retention_days"] == 7 and changed["policy"]["pdq_threshold"] == 20
    assert [p["name"] for p in run_json("platform", "list")["platforms"]] == ["photos"]
    assert run_json("partner", "add", "Helpline")["name"] == "Helpline"
    assert [p["name"] for p in run_json("partner", "list")["partners"]] == ["Helpline"]

    key = run_json("key", "create", "--role", "platform", "--platform", "photos",
                   "--scope", "check", "--scope", "feed")  # fmt: skip
    assert {"id", "key", "role", "scopes", "platform"} <= set(key)
    assert key["role"] == "platform" and key["scopes"] == ["check", "feed"]
    assert key["key"].startswith(key["id"] + ".")
    default_scopes = run_json("key", "create", "--role", "platform", "--platform", "photos")
    assert default_scopes["scopes"] == ["check", "feed", "verdict"]
    admin = run_json("key", "create", "--role", "admin", "--label", "first admin")
    intake = run_json("key", "create", "--role", "intake", "--partner", "Helpline")
    listing = run("key", "list", "--json")
    keys = json.loads(listing.stdout)["keys"]
    assert [k["id"] for k in keys] == [key["id"], default_scopes["id"], admin["id"], intake["id"]]
    for created in (key, default_scopes, admin, intake):
        secret = parse_api_key(created["key"])[1]  # type: ignore[index]
        assert secret not in listing.stdout
    revoked = run_json("key", "revoke", key["id"])
    assert revoked["revoked"] is True
    assert [k["id"] for k in run_json("key", "list", "--active")["keys"]] == [
        default_scopes["id"],
        admin["id"],
        intake["id"],
    ]

    audit = run_json("audit", "--limit", "3")["audit"]
    assert [e["action"] for e in audit] == ["api_key_revoked", "api_key_created", "api_key_created"]
    assert all(e["actor"] == "operator" and e["actor_key_id"] is None for e in audit)


def test_human_output_is_tables(db_url: str) -> None:
    assert run("org", "add", "Example Social").exit_code == 0
    assert run("platform", "add", "photos", "--org", "Example Social").exit_code == 0
    listing = run("platform", "list")
    assert listing.exit_code == 0 and "photos" in listing.stdout and "Example" in listing.stdout
    created = run("key", "create", "--role", "admin")
    assert created.exit_code == 0 and "shown only this once" in created.stdout
    assert "key_" in run("key", "list").stdout
    assert "organisation_added" in run("audit").stdout
    assert "empty" in run("quarantine", "list").stdout


def test_errors_are_one_line_or_one_json_document(db_url: str) -> None:
    run_json("org", "add", "Example Social")
    again = run("org", "add", "Example Social")
    assert again.exit_code == 1
    assert again.stderr.startswith("already_exists: ") and again.stdout == ""
    as_json = run("org", "add", "Example Social", "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["error"]["code"] == "already_exists"

    cases = [
        (["platform", "add", "p", "--org", "Nobody"], "not_found"),
        (["platform", "add", "p", "--org", "Example Social", "--pdq-threshold", "32"],
         "invalid_input"),
        (["platform", "set-policy", "p"], "invalid_input"),
        (["key", "create", "--role", "platform"], "invalid_input"),
        (["key", "create", "--role", "platform", "--platform", "nope"], "not_found"),
        (["key", "create", "--role", "root"], "invalid_input"),
        (["key", "revoke", "key_nope"], "not_found"),
        (["quarantine", "reinstate", "itm_nope"], "not_found"),
        (["quarantine", "delete", "itm_nope"], "not_found"),
        (["allowlist", "add", "md5:zz"], "invalid_hash"),
        (["allowlist", "add", "/no/such/file.jpg"], "file_unreadable"),
    ]  # fmt: skip
    for args, code in cases:
        human = run(*args)
        assert human.exit_code == 1, args
        assert human.stderr.startswith(f"{code}: "), (args, human.stderr)
        machine = run(*args, "--json")
        assert machine.exit_code == 1
        assert json.loads(machine.stdout) == {
            "error": {"code": code, "message": json.loads(machine.stdout)["error"]["message"]}
        }


def test_unmigrated_store_is_store_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    monkeypatch.setenv("HASHWALL_DATABASE_URL", f"sqlite:///{empty}")
    result = run("org", "list")
    assert result.exit_code == 1 and result.stderr.startswith("store_unavailable: ")
    assert "hashwall db upgrade" in result.stderr
    assert "HASHWALL_DATABASE_URL" in result.stderr
    monkeypatch.setenv("HASHWALL_DATABASE_URL", "mysql://nope")
    result = run("org", "list", "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["error"]["code"] == "invalid_input"


def test_no_database_says_what_to_do_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HASHWALL_DATABASE_URL", raising=False)
    result = run("org", "list")
    assert result.exit_code == 1 and result.stderr.startswith("store_unavailable: ")
    message = " ".join(result.stderr.split())
    assert "hashwall db upgrade" in message and "HASHWALL_DATABASE_URL" in message
    assert "no such table" not in message
    assert not (tmp_path / "var").exists(), "no empty database (or folder) is left behind"
    machine = run("key", "list", "--json")
    assert json.loads(machine.stdout)["error"]["code"] == "store_unavailable"


def test_db_current_reports_a_missing_database_without_creating_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HASHWALL_DATABASE_URL", raising=False)
    report = run_json("db", "current")
    assert (report["current"], report["up_to_date"]) == (None, False)
    assert not (tmp_path / "var").exists()
    assert "hashwall db upgrade" in run("db", "current").stdout


def test_store_behind_this_hashwall_asks_for_an_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine, "0001")
    engine.dispose()
    monkeypatch.setenv("HASHWALL_DATABASE_URL", url)
    result = run("org", "list")
    if migrate.head_revision() == "0001":
        assert result.exit_code == 0
        return
    assert result.exit_code == 1 and "hashwall db upgrade" in result.stderr


def test_quarantine_commands(db_url: str) -> None:
    item = _seed_item(db_url, quarantined=True)
    other = _seed_item(db_url, quarantined=True)
    queue = run_json("quarantine", "list")["items"]
    assert [q["item"] for q in queue] == [item, other]
    reinstated = run_json("quarantine", "reinstate", item)
    assert reinstated["item"] == item and reinstated["state"] == "active"
    wrong = run("quarantine", "reinstate", item)
    assert wrong.exit_code == 1 and wrong.stderr.startswith("invalid_state: ")
    deleted = run_json("quarantine", "delete", other)
    assert deleted["previous_state"] == "quarantined" and deleted["state"] == "deleted"
    assert run_json("quarantine", "list")["items"] == []
    actions = [e["action"] for e in run_json("audit")["audit"]]
    assert actions[:2] == ["item_deleted", "item_reinstated"]
    assert "item_deleted" in run_json("audit", "--action", "item_deleted")["audit"][0]["action"]


def test_allowlist_takes_signals_and_image_files(db_url: str, tmp_path: Path) -> None:
    photo = tmp_path / "stock.jpg"
    photo.write_bytes(encode(textured_rgb(seed=3), "JPEG"))
    hashes = hash_file(photo, orientations=True)
    assert hashes.orientations is not None
    # An image gives its signals and the PDQ of each of its orientations (the first is itself).
    turned = [("pdq", h.hex) for h in hashes.orientations if h != hashes.pdq]
    added = run_json("allowlist", "add", str(photo), f"pdq:{PDQ}", "--note", "stock photo")
    entries = added["entries"]
    assert [(e["type"], e["value"]) for e in entries] == [
        ("pdq", hashes.pdq.hex),
        ("md5", hashes.md5),
        ("sha256", hashes.sha256),
        *turned,
        ("pdq", PDQ),
    ]
    assert len(turned) == 7
    assert all(e["added"] and e["note"] == "stock photo" for e in entries)
    again = run_json("allowlist", "add", f"md5:{hashes.md5.upper()}")["entries"]
    assert again[0]["id"] == entries[1]["id"] and again[0]["added"] is False
    listed = run_json("allowlist", "list")["entries"]
    assert len(listed) == 11
    pdq_entries = run_json("allowlist", "list", "--type", "pdq", "--limit", "100")["entries"]
    assert [e["type"] for e in pdq_entries] == ["pdq"] * 9
    assert run_json("allowlist", "remove", str(listed[0]["id"])) == {"removed": listed[0]["id"]}
    human = run("allowlist", "list")
    assert human.exit_code == 0 and hashes.md5 in human.stdout.replace("\n", "")


def test_retention_run(db_url: str) -> None:
    run_json("org", "add", "Org")
    run_json("platform", "add", "photos", "--org", "Org", "--retention-days", "30")
    report = run_json("retention", "run")
    assert report["deleted"] == 0
    assert [p["platform"] for p in report["platforms"]] == ["photos"]
    assert report["platforms"][0]["retention_days"] == 30
    human = run("retention", "run")
    assert human.exit_code == 0 and "photos" in human.stdout
