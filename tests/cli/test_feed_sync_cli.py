"""``hashwall feed sync``: a local copy of the bank that resumes, and follows withdrawals."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from remote_cli import json_lines, run, write_pictures
from typer.testing import CliRunner

from hashwall import Client, hash_file
from hashwall.cli.main import app
from hashwall.service.feed import Cursor
from hashwall.service.feed_copy import FeedCopy
from live_server import Served, prepare_store, served_in_thread

from support import fresh_database_url


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    """A server (cheap PINs) over a fresh SQLite store."""
    url = fresh_database_url("sqlite", tmp_path, request)
    with served_in_thread(url, prepare_store(url)) as served:
        yield served


def test_sync_copies_the_bank_then_resumes_with_only_the_changes(
    server: Served, tmp_path: Path
) -> None:
    pictures = write_pictures(tmp_path / "pictures")
    with Client(server.url, key=server.keys["intake"]) as intake:
        case = intake.create_case([hash_file(pictures[n]) for n in ("photo", "rotated", "other")])
    refs = [item.item_ref for item in case.items]
    folder = tmp_path / "feed"
    env = {"HASHWALL_KEY": server.keys["feed"]}

    first = run("feed", "sync", "--server", server.url, "--dir", str(folder), "--block", "2",
                "--json", env=env)  # fmt: skip
    assert first.exit_code == 0, first.output
    report = json_lines(first)[0]
    assert report["resumed"] is False
    assert (report["snapshot_items"], report["added"], report["items"]) == (3, 3, 3)
    assert report["blocks"] == 2  # the binary snapshot, 2 items a block
    for path in folder.rglob("*"):
        assert path.is_dir() or stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = FeedCopy.open(folder).view().document()
    assert set(saved["items"]) == set(refs)
    assert saved["platform"] == "feed"
    pdq = {s["type"]: s["value"] for s in saved["items"][refs[0]]["signals"]}["pdq"]
    assert pdq == hash_file(pictures["photo"]).pdq.hex

    # the same list as from a JSON copy
    exported = CliRunner().invoke(app, ["export", "--feed-copy", str(folder)])
    assert exported.exit_code == 0, exported.output
    assert f"pdq,{pdq},vouched,{refs[0]}" in exported.stdout.splitlines()

    with Client(server.url, key=server.keys["intake"]) as intake:
        intake.withdraw(case.case_number, item_ref=refs[1])

    second = run("feed", "sync", "--server", server.url, "--dir", str(folder), env=env)
    assert second.exit_code == 0, second.output
    assert "resumed" in second.stdout and "-1" in second.stdout
    saved = FeedCopy.open(folder).view().document()
    assert set(saved["items"]) == {refs[0], refs[2]}
    gone = hash_file(pictures["rotated"]).pdq
    stored = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    assert gone.hex.encode() not in stored and gone.value not in stored
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]  # no temp files left


def test_a_cursor_the_server_refuses_starts_over(server: Served, tmp_path: Path) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / "bank.json").write_text(
        json.dumps({"format": "hashwall-feed-mirror/1", "server": server.url, "platform": "feed",
                    "policy": None, "cursor": "hwf1.bogus", "head_seq": 0,
                    "items": {"itm_gone": {"kind": "image", "trust": "vouched",
                                           "state": "active", "signals": []}}})
    )  # fmt: skip
    result = run("feed", "sync", "--server", server.url, "--dir", str(folder), "--json",
                 env={"HASHWALL_KEY": server.keys["feed"]})  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json_lines(result)[0]
    assert report["resumed"] is False and report["items"] == 0
    assert not (folder / "bank.json").exists()  # converted, then started over
    copy = FeedCopy.open(folder)
    copy.meta["cursor"] = Cursor("events", 10**9).encode()  # ahead of this server's log
    copy.save_meta()
    again = run("feed", "sync", "--server", server.url, "--dir", str(folder), "--json",
                env={"HASHWALL_KEY": server.keys["feed"]})  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json_lines(again)[0]["resumed"] is False


def test_sync_needs_a_feed_key(server: Served, tmp_path: Path) -> None:
    result = run("feed", "sync", "--server", server.url, "--dir", str(tmp_path / "f"),
                 "--key", server.keys["intake"], "--json")  # fmt: skip
    assert result.exit_code == 1
    assert json_lines(result)[0]["error"]["code"] == "forbidden"
    assert not (tmp_path / "f" / "meta.json").exists()
