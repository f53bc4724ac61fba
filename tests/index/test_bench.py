"""``hashwall bench index`` prints one JSON object of the documented shape; recall is 1.0."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hashwall.bench.index import DEFAULT_PHOTOS
from hashwall.cli.main import app

from support import skip_needing

KEYS = {
    "qps",
    "p50_us",
    "p99_us",
    "p50_cpu_us",
    "p99_cpu_us",
    "build_s",
    "bytes_per_hash",
    "recall",
}


@pytest.mark.parametrize("data", ["random", "photos"])
def test_bench_index_json_shape_and_exact_recall(data: str) -> None:
    if data == "photos" and not DEFAULT_PHOTOS.is_dir():
        skip_needing("needs the reference data", f"no photos at {DEFAULT_PHOTOS}")
    args = ["bench", "index", "--n", "20000", "--queries", "50", "--data", data, "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["n"] == 20000 and doc["data"] == data and doc["radius"] == 31
    assert set(doc["results"]) == {"hashwall", "faiss_flat", "faiss_hma", "oracle"}
    for method, row in doc["results"].items():
        assert set(row) == KEYS, method
        assert all(isinstance(v, float | int) for v in row.values())
    assert doc["results"]["hashwall"]["recall"] == 1.0


def test_bench_index_of_8_orientations_answers_each_upload_exactly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hashwall.bench.index import run_index_bench

    if not DEFAULT_PHOTOS.is_dir():  # near copies to find: random codes match nothing
        skip_needing("needs the reference data", f"no photos at {DEFAULT_PHOTOS}")
    code = run_index_bench(
        n=20000,
        queries=12,
        data="photos",
        photos=DEFAULT_PHOTOS,
        json_out=True,
        methods=("hashwall", "faiss_flat"),
        orientations=8,
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["orientations"] == 8 and doc["oracle_queries"] == 12
    assert set(doc["results"]) == {"hashwall", "faiss_flat", "oracle"}
    for method, row in doc["results"].items():
        assert set(row) == KEYS, method
        assert row["recall"] == 1.0, method


def test_bench_index_takes_the_orientations_from_the_command_line() -> None:
    args = ["bench", "index", "--n", "2000", "--queries", "4", "--data", "random"]
    refused = CliRunner().invoke(app, [*args, "--orientations", "3", "--json"])
    assert refused.exit_code == 2
    assert "orientations must be 1 or 8" in refused.output
    done = CliRunner().invoke(app, [*args, "--orientations", "8", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["orientations"] == 8
