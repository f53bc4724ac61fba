"""``hashwall matches list`` and ``hashwall verdict`` (and the SDK's ``pending_matches``) against
a real server over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from remote_cli import json_lines, write_pictures
from typer.testing import CliRunner, Result

from hashwall import AsyncClient, Client, hash_file, hash_image
from hashwall.cli.main import app
from live_server import Served, prepare_store, served_in_thread, wait_indexed

from support import fresh_database_url

runner = CliRunner()


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


def run(server: Served, *args: str, key: str = "feed") -> Result:
    """Invoke hashwall with the server and a key from the environment; never a traceback."""
    env = {"HASHWALL_SERVER": server.url, "HASHWALL_KEY": server.keys[key]}
    result = runner.invoke(app, list(args), env=env)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    return result


def _match(server: Served, pictures: dict[str, Path], name: str) -> str:
    with Client(server.url, key=server.keys["feed"]) as feed:
        upload = hash_image(pictures[name].read_bytes(), fast=True, orientations=True)
        result = feed.check(upload)
    assert result.decision == "review", result
    return result.matches[0].match_ref


def test_reviewer_lists_pending_matches_and_sends_verdicts(
    server: Served, pictures: dict[str, Path]
) -> None:
    with Client(server.url) as reporter:
        reporter.create_case([hash_file(pictures["photo"])])
    wait_indexed(server.url, 1)
    first = _match(server, pictures, "rotated")
    second = _match(server, pictures, "photo")

    listed = run(server, "matches", "list", "--json")
    assert listed.exit_code == 0, listed.output
    [document] = json_lines(listed)
    assert [m["match_ref"] for m in document["matches"]] == [first, second]
    assert document["next_after"] is None
    page = json_lines(run(server, "matches", "list", "--limit", "1", "--json"))[0]
    assert [m["match_ref"] for m in page["matches"]] == [first]
    assert page["next_after"] == first
    rest = json_lines(run(server, "matches", "list", "--after", first, "--json"))[0]
    assert [m["match_ref"] for m in rest["matches"]] == [second]
    human = run(server, "matches", "list")
    assert human.exit_code == 0 and first in human.stdout

    wrong = run(server, "verdict", first, "not_ncii", "--upload", str(pictures["other"]))
    assert wrong.exit_code == 1 and wrong.stderr.startswith("upload_mismatch: ")
    sent = run(server, "verdict", first, "not_ncii", "--upload", str(pictures["rotated"]),
               "--json")  # fmt: skip
    assert sent.exit_code == 0, sent.output
    assert json_lines(sent)[0] == {"match_ref": first, "verdict": "not_ncii", "recorded": True}
    said = run(server, "verdict", second, "csam")
    assert said.exit_code == 0 and "Recorded csam" in said.stdout

    with Client(server.url, key=server.keys["feed"]) as feed:
        assert feed.pending_matches() == []
    assert "No match awaits" in run(server, "matches", "list").stdout


def test_async_sdk_pages_pending_matches(server: Served, pictures: dict[str, Path]) -> None:
    with Client(server.url) as reporter:
        reporter.create_case([hash_file(pictures["photo"])])
    wait_indexed(server.url, 1)
    refs = [_match(server, pictures, name) for name in ("rotated", "photo")]

    async def pages() -> list[list[str]]:
        async with AsyncClient(server.url, key=server.keys["feed"]) as feed:
            first = await feed.pending_matches(limit=1)
            rest = await feed.pending_matches(after=first[-1].match_ref)
        return [[m.match_ref for m in first], [m.match_ref for m in rest]]

    assert asyncio.run(pages()) == [refs[:1], refs[1:]]


def test_other_keys_get_clear_errors(server: Served) -> None:
    intake = run(server, "matches", "list", key="intake")
    assert intake.exit_code == 1 and intake.stderr.startswith("forbidden: ")
    unknown = run(server, "verdict", "mch_nothing", "confirmed", "--json")
    assert unknown.exit_code == 1
    assert json_lines(unknown)[0]["error"]["code"] == "not_found"
    keyless = runner.invoke(app, ["matches", "list", "--server", server.url], env={})
    assert keyless.exit_code == 1 and "HASHWALL_KEY" in keyless.stderr


def test_the_api_takes_only_the_pending_state(server: Served) -> None:
    headers = {"Authorization": f"Bearer {server.keys['feed']}"}
    ok = httpx.get(f"{server.url}/v1/matches?state=pending", headers=headers)
    assert ok.status_code == 200 and ok.json() == []
    other = httpx.get(f"{server.url}/v1/matches?state=judged", headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
