"""``hashwall bench keypoint-build`` prints one JSON object of the documented shape; every read
gives the same sets."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from hashwall.cli.main import app

READ_KEYS = {
    "read",
    "read_s",
    "filter_s",
    "parse_s",
    "index_s",
    "total_s",
    "photos_per_s",
    "items",
    "records",
    "same_sets",
}


def test_bench_keypoint_build_json_shape_and_same_sets() -> None:
    args = ["bench", "keypoint-build", "--n", "50", "--backend", "sqlite", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"seed", "repeat", "runs"}
    (run,) = doc["runs"]
    assert set(run) == {"backend", "n", "bank_s", "store_bytes", "reads"}
    assert run["backend"] == "sqlite" and run["n"] == 50
    assert [r["read"] for r in run["reads"]] == ["text", "blocks"]
    for row in run["reads"]:
        assert set(row) == READ_KEYS
        assert row["items"] == 50 and row["records"] == 50 * 83
        assert row["same_sets"] is True
