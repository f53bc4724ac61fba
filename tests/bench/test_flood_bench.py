"""``hashwall bench flood`` end to end on a small bank: checks measured alone and during a flood
of anonymous case creations, which the server answers (created or refused, never an error)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from hashwall.cli.bench import bench_app


def test_bench_flood_measures_checks_alone_and_during_a_flood() -> None:
    result = CliRunner().invoke(
        bench_app,
        ["flood", "--bank", "2000", "--rate", "20", "--duration", "1", "--flooders", "2",
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for name in ("checks_alone", "checks_during_flood"):
        run = report[name]
        assert run["errors"] == 0, run["error_statuses"]
        assert run["measured"] > 0 and run["p99_ms"] >= run["p50_ms"] > 0
    flood = report["flood_statuses"]
    assert flood.get("201", 0) > 0  # the flood got cases made
    assert set(flood) <= {"201", "429", "503"}  # and nothing but created or refused
