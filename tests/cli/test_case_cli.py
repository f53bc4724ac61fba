"""``hashwall case create|status|withdraw`` against a real server over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from remote_cli import json_lines, run, write_pictures

from hashwall import Client, hash_image
from hashwall.cli import case as case_cli
from live_server import Served, prepare_store, served_in_thread, wait_indexed

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


def test_create_sends_signals_and_prints_case_number_pin_and_items(
    server: Served, pictures: dict[str, Path]
) -> None:
    result = run(
        "case", "create", str(pictures["photo"]), str(pictures["broken"]),
        "--server", server.url, "--json",
    )  # fmt: skip
    assert result.exit_code == 3, result.output  # opened, but one file was not banked
    [document] = json_lines(result)
    assert set(document) == {"case_number", "pin", "items"}
    by_path = {Path(item["path"]).name: item for item in document["items"]}
    assert by_path["photo.jpg"]["status"] == "accepted"
    assert by_path["photo.jpg"]["item_ref"].startswith("itm_")
    assert by_path["broken.jpg"]["status"] == "failed"
    assert by_path["broken.jpg"]["code"] == "corrupt_media"

    wait_indexed(server.url, 1)
    with Client(server.url, key=server.keys["feed"]) as feed:
        rotated = hash_image(pictures["rotated"].read_bytes(), fast=True, orientations=True)
        assert feed.check(rotated).decision == "review"  # anonymous: review until vouched


def test_status_and_withdraw_read_the_pin_from_stdin_or_the_environment(
    server: Served, pictures: dict[str, Path]
) -> None:
    created = run("case", "create", str(pictures["photo"]), "--server", server.url, "--json")
    assert created.exit_code == 0, created.output
    case = json_lines(created)[0]
    number, pin = case["case_number"], case["pin"]

    status = run("case", "status", number, "--server", server.url, "--json", input=pin + "\n")
    assert status.exit_code == 0, status.output
    view = json_lines(status)[0]
    assert view["status"] == "active"
    assert [i["item_ref"] for i in view["items"]] == [case["items"][0]["item_ref"]]
    assert pin not in status.stdout  # the PIN is read, never echoed

    human = run("case", "status", number, "--server", server.url, env={"HASHWALL_PIN": pin})
    assert human.exit_code == 0, human.output
    assert "active" in human.stdout

    withdrawn = run(
        "case", "withdraw", number, "--server", server.url, "--json", "--yes",
        env={"HASHWALL_PIN": pin},
    )  # fmt: skip
    assert withdrawn.exit_code == 0, withdrawn.output
    assert json_lines(withdrawn)[0]["case_withdrawn"] is True
    again = run("case", "status", number, "--server", server.url, "--json", input=pin + "\n")
    assert json_lines(again)[0]["status"] == "withdrawn"


def test_wrong_or_missing_pin_fails_cleanly(server: Served, pictures: dict[str, Path]) -> None:
    created = run("case", "create", str(pictures["photo"]), "--server", server.url, "--json")
    number = json_lines(created)[0]["case_number"]

    wrong = run("case", "status", number, "--server", server.url, "--json", input="12345678\n")
    assert wrong.exit_code == 1
    assert json_lines(wrong)[0]["error"]["code"] == "invalid_credentials"

    missing = run("case", "withdraw", number, "--server", server.url, "--yes", input="")
    assert missing.exit_code == 1
    assert "no PIN given" in missing.stderr


def test_partner_creates_with_key_and_withdraws_one_item_without_the_pin(
    server: Served, pictures: dict[str, Path]
) -> None:
    key = server.keys["intake"]
    created = run(
        "case", "create", str(pictures["photo"]), str(pictures["other"]),
        "--server", server.url, "--json", env={"HASHWALL_KEY": key},
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    case = json_lines(created)[0]
    refs = [item["item_ref"] for item in case["items"]]

    human = run("case", "withdraw", case["case_number"], "--item", refs[1], "--server",
                server.url, "--key", key, "--yes")  # fmt: skip
    assert human.exit_code == 0, human.output
    assert "withdrew the item" in human.stdout
    status = run("case", "status", case["case_number"], "--server", server.url, "--key", key,
                 "--json")  # fmt: skip
    states = {i["item_ref"]: i["state"] for i in json_lines(status)[0]["items"]}
    assert states == {refs[0]: "active", refs[1]: "withdrawn"}


def _open_case(server: Served, picture: Path) -> tuple[str, str]:
    created = run("case", "create", str(picture), "--server", server.url, "--json")
    assert created.exit_code == 0, created.output
    case = json_lines(created)[0]
    return case["case_number"], case["pin"]


def _status(server: Served, number: str, pin: str) -> str:
    shown = run("case", "status", number, "--server", server.url, "--json", input=pin + "\n")
    return str(json_lines(shown)[0]["status"])


def test_withdraw_without_yes_refuses_when_stdin_is_not_a_terminal(
    server: Served, pictures: dict[str, Path]
) -> None:
    number, pin = _open_case(server, pictures["photo"])
    refused = run("case", "withdraw", number, "--server", server.url, input=pin + "\n")
    assert refused.exit_code == 1
    assert "--yes" in refused.stderr
    assert _status(server, number, pin) == "active"


def test_withdraw_on_a_terminal_asks_first_and_a_no_changes_nothing(
    server: Served, pictures: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(case_cli, "stdin_is_terminal", lambda: True)
    number, pin = _open_case(server, pictures["photo"])
    env = {"HASHWALL_PIN": pin}
    declined = run("case", "withdraw", number, "--server", server.url, input="n\n", env=env)
    assert declined.exit_code == 1
    assert "Withdraw case" in declined.stderr
    assert _status(server, number, pin) == "active"

    accepted = run("case", "withdraw", number, "--server", server.url, input="y\n", env=env)
    assert accepted.exit_code == 0, accepted.output
    assert "withdrew the case" in accepted.stdout
    assert _status(server, number, pin) == "withdrawn"


def test_withdrawing_a_withdrawn_case_says_so(server: Served, pictures: dict[str, Path]) -> None:
    number, pin = _open_case(server, pictures["photo"])
    args = ("case", "withdraw", number, "--server", server.url, "--yes")
    first = run(*args, "--json", env={"HASHWALL_PIN": pin})
    assert json_lines(first)[0]["already_withdrawn"] is False
    again = run(*args, env={"HASHWALL_PIN": pin})
    assert again.exit_code == 0, again.output
    assert "already withdrawn" in again.stdout
    again_json = run(*args, "--json", env={"HASHWALL_PIN": pin})
    assert json_lines(again_json)[0]["already_withdrawn"] is True


def test_unreachable_server_is_reported_without_a_traceback(pictures: dict[str, Path]) -> None:
    result = run("case", "create", str(pictures["photo"]), "--server", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "connection_failed" in result.stderr
