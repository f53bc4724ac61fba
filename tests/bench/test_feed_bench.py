"""``hashwall bench feed`` end to end on a small bank: a first sync, a re-sync after changes
(adds and deletions reach the copy), a re-sync with nothing new, and the copy loaded for
matching, each with its time and the client's own peak memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hashwall.cli.bench import bench_app


@pytest.mark.slow  # a server and four client processes: a minute on a shared machine
def test_bench_feed_syncs_a_bank_and_its_changes(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        bench_app,
        ["feed", "--bank", "300", "--changes", "20", "--cache", str(tmp_path), "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    first, changed, idle = report["steps"]
    assert first["report"]["snapshot_items"] == 300 and first["report"]["blocks"] == 1
    assert changed["changes"] == {"added": 10, "deleted": 10}
    assert (changed["report"]["added"], changed["report"]["removed"]) == (10, 10)
    assert changed["report"]["items"] == 300 and idle["report"]["events"] == 0
    assert report["load_for_matching"]["items"] == 300
    for step in (*report["steps"], report["load_for_matching"]):
        assert step["seconds"] > 0 and step["peak_rss"] > 0
    assert (tmp_path / "bank-300.sqlite").exists()  # kept for the next run
