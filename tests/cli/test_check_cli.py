"""``hashwall check PATH...`` against a real server: decisions, exit codes, --send-media."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from remote_cli import json_lines, run, write_pictures

from hashwall import Client, hash_file
from hashwall.cli.check import EXIT_ALLOW, EXIT_BLOCK, EXIT_ERROR, EXIT_REVIEW
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


def bank(server: Served, path: Path, key: str | None) -> None:
    """Bank one file's signals (anonymously, or as the intake partner) and wait for the index."""
    with Client(server.url, key=key) as client:
        client.create_case([hash_file(path)])
    wait_indexed(server.url, 1)


def check(
    server: Served, *paths: Path, key: str = "feed", media: bool = False
) -> tuple[int, list[dict[str, Any]]]:
    """Run ``hashwall check --json`` on ``paths``: the exit code and the JSON lines."""
    args = ["check", *map(str, paths), "--server", server.url, "--json"]
    result = run(
        *args, *(["--send-media"] if media else []), env={"HASHWALL_KEY": server.keys[key]}
    )
    return result.exit_code, json_lines(result)


def test_all_allow_exits_zero(server: Served, pictures: dict[str, Path]) -> None:
    code, lines = check(server, pictures["photo"], pictures["other"])
    assert code == EXIT_ALLOW
    assert [line["decision"] for line in lines] == ["allow", "allow"]
    assert {line["reason"] for line in lines} == {"no_match"}


def test_partner_banked_photo_blocks_its_rotated_copy(
    server: Served, pictures: dict[str, Path]
) -> None:
    bank(server, pictures["photo"], server.keys["intake"])
    code, lines = check(server, pictures["rotated"], pictures["other"])
    assert code == EXIT_BLOCK
    rotated, other = lines
    assert rotated["decision"] == "block"
    assert rotated["matches"][0]["match_ref"].startswith("mch_")
    assert rotated["matches"][0]["orientation"] != "original"  # the feed platform reveals it
    assert other["decision"] == "allow"

    code, lines = check(server, pictures["rotated"], media=True)
    assert code == EXIT_BLOCK
    assert lines[0]["decision"] == "block"


def test_anonymous_photo_is_review_and_a_broken_file_beside_it_exits_1(
    server: Served, pictures: dict[str, Path]
) -> None:
    bank(server, pictures["photo"], None)
    code, lines = check(server, pictures["photo"])
    assert code == EXIT_REVIEW
    assert lines[0]["decision"] == "review"

    code, lines = check(server, pictures["photo"], pictures["broken"])
    assert code == EXIT_ERROR, "a file that could not be checked wins over any answer"
    assert lines[0]["decision"] == "review"
    assert lines[1]["decision"] is None
    assert lines[1]["error"]["code"] == "corrupt_media"

    code, lines = check(server, pictures["broken"], pictures["other"])
    assert code == EXIT_ERROR
    assert [line["decision"] for line in lines] == [None, "allow"]


def test_human_output_is_a_table_and_a_bad_key_stops_at_once(
    server: Served, pictures: dict[str, Path]
) -> None:
    result = run("check", str(pictures["other"]), "--server", server.url,
                 "--key", server.keys["feed"])  # fmt: skip
    assert result.exit_code == EXIT_ALLOW, result.output
    assert "allow" in result.stdout
    assert "1 allow" in result.stderr

    bad = run("check", str(pictures["other"]), str(pictures["photo"]), "--server", server.url,
              "--key", "key_nothing.secret", "--json")  # fmt: skip
    assert bad.exit_code == EXIT_ERROR
    [line] = json_lines(bad)  # stopped at the first file: the key works for none
    assert line["error"]["code"] == "invalid_key"

    intake = run("check", str(pictures["other"]), "--server", server.url,
                 "--key", server.keys["intake"])  # fmt: skip
    assert intake.exit_code == EXIT_ERROR
    assert "forbidden" in intake.stderr
