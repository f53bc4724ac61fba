"""``hashwall case show|erase``, ``item delete``, ``csam list``: the operator's casework, run as
a user runs it on a temporary SQLite store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from hashwall.cli import case as case_cli
from hashwall.cli.main import app
from hashwall.domain import Actor
from hashwall.hashing.image import hash_image
from hashwall.service import auth, keys, tenants
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.intake import ItemSubmission, case_status, create_case
from hashwall.service.verdicts import VerdictRequest, submit_verdict
from hashwall.settings import Settings
from hashwall.store import migrate
from hashwall.store.engine import make_engine
from hashwall.store.repo import Store

from support import CHEAP_PINS, encode, textured_rgb

runner = CliRunner()
OP = Actor.operator()


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServiceContext:
    """A migrated SQLite store that ``HASHWALL_DATABASE_URL`` points at, with a platform."""
    url = f"sqlite:///{tmp_path / 'hw.db'}"
    monkeypatch.setenv("HASHWALL_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    engine = make_engine(url)
    migrate.upgrade(engine)
    context = ServiceContext(Store(engine), Settings(database_url=url), pins=CHEAP_PINS)
    tenants.add_organisation(context, OP, "Example Social")
    tenants.add_platform(context, OP, organisation="Example Social", name="photos")
    return context


def _platform(ctx: ServiceContext) -> Actor:
    key = keys.create_api_key(ctx, OP, role="platform", platform="photos")
    return auth.authenticate(ctx, key.key)


def _report(ctx: ServiceContext, *seeds: int) -> tuple[str, str, list[Any]]:
    hashes = [hash_image(encode(textured_rgb(seed=s), "JPEG"), fast=True) for s in seeds]
    receipt = create_case(ctx, Actor.reporter(), [ItemSubmission.from_image(h) for h in hashes])
    return receipt.case_number, receipt.pin, hashes


def run(*args: str, input: str | None = None) -> Result:
    """Invoke the hashwall app; never a traceback."""
    result = runner.invoke(app, list(args), input=input)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    return result


def test_case_show_lists_items_and_counts_without_hash_values(ctx: ServiceContext) -> None:
    number, _, hashes = _report(ctx, 1, 2)
    platform = _platform(ctx)
    assert check(ctx, platform, CheckRequest.from_image(hashes[0])).decision == "review"

    shown = run("case", "show", number, "--json")
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert document["status"] == "active" and document["channel"] == "anonymous"
    assert [(i["state"], i["trust"], i["matches"]) for i in document["items"]] == [
        ("active", "unvouched", 1),
        ("active", "unvouched", 0),
    ]
    human = run("case", "show", number)
    assert human.exit_code == 0 and document["items"][0]["item"] in human.stdout
    for h in hashes:
        assert h.pdq.hex not in shown.stdout + human.stdout and h.md5 not in shown.stdout

    missing = run("case", "show", "HW-0000-0000-0000")
    assert missing.exit_code == 1 and missing.stderr.startswith("not_found: ")


def test_case_erase_needs_a_reason_and_the_person_then_sees_removed(
    ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    number, pin, _ = _report(ctx, 3)
    no_reason = run("case", "erase", number, "--yes")
    assert no_reason.exit_code == 2  # usage: --reason is required
    piped = run("case", "erase", number, "--reason", "ticket 9", input="y\n")
    assert piped.exit_code == 1 and "--yes" in piped.stderr  # no terminal: no one to confirm
    monkeypatch.setattr(case_cli, "stdin_is_terminal", lambda: True)
    declined = run("case", "erase", number, "--reason", "ticket 9", input="n\n")
    assert declined.exit_code == 1
    assert case_status(ctx, Actor.reporter(), number, pin=pin).status == "active"

    erased = run("case", "erase", number, "--reason", "ticket 9", "--yes", "--json")
    assert erased.exit_code == 0, erased.output
    document = json.loads(erased.stdout)
    assert len(document["deleted_items"]) == 1 and document["already_removed"] is False
    view = case_status(ctx, Actor.reporter(), number, pin=pin)
    assert view.status == "removed" and view.items == ()

    again = run("case", "erase", number, "--reason", "ticket 9", "--yes")
    assert again.exit_code == 0 and "already erased" in again.stdout
    audit = json.loads(run("audit", "--action", "case_erased", "--json").stdout)["audit"]
    assert [(e["actor"], e["details"]["reason"]) for e in audit] == [("operator", "ticket 9")]


def test_quarantine_delete_refuses_an_active_item_and_item_delete_takes_it(
    ctx: ServiceContext,
) -> None:
    number, _, _ = _report(ctx, 4)
    item = json.loads(run("case", "show", number, "--json").stdout)["items"][0]["item"]
    refused = run("quarantine", "delete", item)
    assert refused.exit_code == 1 and refused.stderr.startswith("invalid_state: ")
    assert "hashwall item delete" in " ".join(refused.stderr.split())

    deleted = run("item", "delete", item, "--reason", "court order 12", "--json")
    assert deleted.exit_code == 0, deleted.output
    assert json.loads(deleted.stdout)["state"] == "deleted"
    audit = json.loads(run("audit", "--action", "item_deleted", "--json").stdout)["audit"]
    assert audit[0]["details"]["reason"] == "court order 12"


def test_csam_list_shows_flagged_items(ctx: ServiceContext) -> None:
    assert "No item is flagged" in run("csam", "list").stdout
    number, _, hashes = _report(ctx, 5)
    platform = _platform(ctx)
    result = check(ctx, platform, CheckRequest.from_image(hashes[0]))
    submit_verdict(ctx, platform, VerdictRequest(result.matches[0].match_ref, "csam"))
    listed = json.loads(run("csam", "list", "--json").stdout)["items"]
    assert [(i["case_number"], i["platforms"]) for i in listed] == [(number, ["photos"])]
    human = run("csam", "list")
    assert human.exit_code == 0 and listed[0]["item"] in human.stdout


def test_item_confirm_makes_an_anonymous_item_block_everywhere(ctx: ServiceContext) -> None:
    _, _, hashes = _report(ctx, 7)
    platform = _platform(ctx)
    assert check(ctx, platform, CheckRequest.from_image(hashes[0])).decision == "review"
    with ctx.store.read() as repo:
        [item] = repo.list_items(repo.list_cases()[0].id)

    confirmed = run("item", "confirm", item.item_ref, "--json")
    assert confirmed.exit_code == 0, confirmed.output
    assert json.loads(confirmed.stdout) == {
        "item": item.item_ref,
        "trust": "confirmed",
        "changed": True,
    }
    assert check(ctx, platform, CheckRequest.from_image(hashes[0])).decision == "block"
    again = run("item", "confirm", item.item_ref)
    assert again.exit_code == 0 and "already confirmed" in again.stdout
    unknown = run("item", "confirm", "itm_nope")
    assert unknown.exit_code != 0 and "not_found" in unknown.output + unknown.stderr
