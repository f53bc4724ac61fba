"""``hashwall bench oracle`` end to end on a small bank: every hit answered allow is on record."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from hashwall.cli.bench import bench_app


def test_bench_oracle_reports_medians_and_every_hit_on_record() -> None:
    result = CliRunner().invoke(
        bench_app, ["oracle", "--bank", "2000", "--checks", "40", "--rounds", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["checks_per_round"] == 60 and len(report["rounds"]) == 2
    for one in report["rounds"]:
        assert min(one["hit_median_us"], one["miss_a_median_us"], one["miss_b_median_us"]) > 0
    # 100 warm-up hits and 20 per round, each answered allow, each an audit row.
    assert report["hits_sent"] == 140
    assert report["hits_on_record"] == report["hits_sent"]
