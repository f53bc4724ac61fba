"""``hashwall case add|vouch|reissue-pin``: what intake partners (and people) do over the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from remote_cli import json_lines, run, write_pictures

from live_server import Served, prepare_store, served_in_thread

from support import fresh_database_url


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    """A server (cheap PINs) over a fresh SQLite store."""
    url = fresh_database_url("sqlite", tmp_path, request)
    with served_in_thread(url, prepare_store(url)) as served:
        yield served


@pytest.fixture
def pictures(tmp_path: Path) -> dict[str, Path]:
    """photo, rotated, other and broken .jpg files."""
    return write_pictures(tmp_path / "pictures")


def _create(server: Served, picture: Path, key: str | None = None) -> tuple[str, str]:
    env = {"HASHWALL_KEY": key} if key else None
    created = run("case", "create", str(picture), "--server", server.url, "--json", env=env)
    assert created.exit_code == 0, created.output
    case = json_lines(created)[0]
    return case["case_number"], case["pin"]


def _trusts(server: Served, number: str, pin: str) -> list[str]:
    shown = run("case", "status", number, "--server", server.url, "--json", input=pin + "\n")
    assert shown.exit_code == 0, shown.output
    return [item["trust"] for item in json_lines(shown)[0]["items"]]


def test_partner_vouches_for_an_anonymous_case_with_its_pin(
    server: Served, pictures: dict[str, Path]
) -> None:
    number, pin = _create(server, pictures["photo"])
    assert _trusts(server, number, pin) == ["unvouched"]
    key = server.keys["intake"]
    vouched = run("case", "vouch", number, "--server", server.url, "--key", key, "--json",
                  input=pin + "\n")  # fmt: skip
    assert vouched.exit_code == 0, vouched.output
    assert len(json_lines(vouched)[0]["vouched_items"]) == 1
    assert _trusts(server, number, pin) == ["vouched"]

    again = run("case", "vouch", number, "--server", server.url, "--key", key,
                env={"HASHWALL_PIN": pin})  # fmt: skip
    assert again.exit_code == 0 and "0 item(s)" in again.stdout


def test_vouch_needs_an_intake_key_and_the_right_pin(
    server: Served, pictures: dict[str, Path]
) -> None:
    number, pin = _create(server, pictures["photo"])
    keyless = run("case", "vouch", number, "--server", server.url, input=pin + "\n")
    assert keyless.exit_code == 1 and keyless.stderr.startswith("invalid_key")
    platform = run("case", "vouch", number, "--server", server.url, "--key",
                   server.keys["feed"], "--json", input=pin + "\n")  # fmt: skip
    assert json_lines(platform)[0]["error"]["code"] == "forbidden"
    wrong = run("case", "vouch", number, "--server", server.url, "--key",
                server.keys["intake"], "--json", input="not-the-pin\n")  # fmt: skip
    assert json_lines(wrong)[0]["error"]["code"] == "invalid_credentials"
    assert _trusts(server, number, pin) == ["unvouched"]


def test_partner_reissues_a_pin_and_the_old_one_stops_working(
    server: Served, pictures: dict[str, Path]
) -> None:
    key = server.keys["intake"]
    number, old_pin = _create(server, pictures["photo"], key)
    reissued = run("case", "reissue-pin", number, "--server", server.url, "--key", key, "--json")
    assert reissued.exit_code == 0, reissued.output
    new_pin = json_lines(reissued)[0]["pin"]
    assert new_pin != old_pin
    assert _trusts(server, number, new_pin) == ["vouched"]
    stale = run("case", "status", number, "--server", server.url, "--json", input=old_pin + "\n")
    assert json_lines(stale)[0]["error"]["code"] == "invalid_credentials"

    human = run("case", "reissue-pin", number, "--server", server.url, "--key", key)
    assert human.exit_code == 0 and "new PIN" in human.stdout


def test_reissue_pin_of_a_case_another_filed_is_forbidden(
    server: Served, pictures: dict[str, Path]
) -> None:
    number, _ = _create(server, pictures["photo"])  # anonymous: no partner filed it
    result = run("case", "reissue-pin", number, "--server", server.url, "--key",
                 server.keys["intake"], "--json")  # fmt: skip
    assert result.exit_code == 1
    assert json_lines(result)[0]["error"]["code"] == "forbidden"


def test_add_banks_more_photos_with_the_pin_or_the_filing_partners_key(
    server: Served, pictures: dict[str, Path]
) -> None:
    number, pin = _create(server, pictures["photo"])
    added = run("case", "add", number, str(pictures["other"]), str(pictures["broken"]),
                "--server", server.url, "--json", input=pin + "\n")  # fmt: skip
    assert added.exit_code == 3, added.output  # one of the two was not banked
    document = json_lines(added)[0]
    statuses = {Path(i["path"]).name: i["status"] for i in document["items"]}
    assert statuses == {"other.jpg": "accepted", "broken.jpg": "failed"}
    assert len(_trusts(server, number, pin)) == 2

    key = server.keys["intake"]
    filed, filed_pin = _create(server, pictures["photo"], key)
    by_partner = run("case", "add", filed, str(pictures["other"]), "--server", server.url,
                     "--key", key)  # fmt: skip
    assert by_partner.exit_code == 0, by_partner.output
    assert "1 of 1 file(s) banked" in by_partner.stdout
    assert _trusts(server, filed, filed_pin) == ["vouched", "vouched"]


def test_add_to_a_withdrawn_case_fails_cleanly(server: Served, pictures: dict[str, Path]) -> None:
    number, pin = _create(server, pictures["photo"])
    env = {"HASHWALL_PIN": pin}
    run("case", "withdraw", number, "--server", server.url, "--yes", env=env)
    added = run("case", "add", number, str(pictures["other"]), "--server", server.url, env=env)
    assert added.exit_code == 1
    assert added.stderr.strip()
