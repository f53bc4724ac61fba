"""``hashwall bench api`` end to end on a small bank: one JSON object with every measurement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hashwall.bench.api import MEDIA_SLICES, build_store, make_hashes, signal_requests
from hashwall.cli.bench import bench_app
from hashwall.hashing.pdq import PdqHash
from hashwall.store.repo import Store

from support import encode, textured_rgb


def test_bench_api_json_on_sqlite_reports_throughput_latency_and_cpu() -> None:
    result = CliRunner().invoke(
        bench_app,
        ["api", "--bank", "3000", "--duration", "1", "--backend", "sqlite", "--no-media",
         "--hit-rate", "0.2", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    [run] = report["runs"]
    signals = run["signals"]
    assert run["backend"] == "sqlite" and run["bank"] == 3000
    assert signals["errors"] == 0, signals["error_statuses"]
    assert signals["checks_per_s"] > 0 and signals["p99_ms"] >= signals["p50_ms"] > 0
    assert signals["decisions"]["block"] > 0 and signals["decisions"]["allow"] > 0
    assert signals["server_cpu_us_per_check"] > 0
    assert isinstance(report["target_met"], bool)


def test_bulk_written_bank_is_what_the_store_reads_back(tmp_path: Path) -> None:
    bank, strangers = make_hashes(500, 100, 1, None)
    url = f"sqlite:///{tmp_path}/bench.db"
    store = build_store(url, bank)
    assert store.size == 500
    reader = Store.from_url(url)
    try:
        with reader.read() as repo:
            chunks = list(repo.iter_live_signals("pdq"))
            assert sum(len(c.values) for c in chunks) == 500
            assert repo.last_event_seq() >= 500
    finally:
        reader.dispose()
    for request in signal_requests(store.key, bank, strangers, 0.5, 50, 0):
        body = json.loads(request.split(b"\r\n\r\n", 1)[1])
        for value in [body["signals"][0]["value"], *body["pdq_orientations"]]:
            PdqHash.parse(value)


def test_no_orientations_sends_the_one_pdq_signal() -> None:
    bank, strangers = make_hashes(200, 100, 2, None)
    [request] = signal_requests("k.s", bank, strangers, 0.0, 1, 0, orientations=False)
    body = json.loads(request.split(b"\r\n\r\n", 1)[1])
    assert "pdq_orientations" not in body
    assert [s["type"] for s in body["signals"]] == ["pdq", "sha256"]


def test_bench_api_media_checks_take_turns_with_hashing_on_the_server_core(
    tmp_path: Path,
) -> None:
    for seed in range(3):
        (tmp_path / f"upload-{seed}.jpg").write_bytes(encode(textured_rgb(seed=seed), "JPEG"))
    result = CliRunner().invoke(
        bench_app,
        ["api", "--bank", "2000", "--duration", "1", "--backend", "sqlite",
         "--photos", str(tmp_path), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [run] = json.loads(result.stdout)["runs"]
    media = run["media"]
    assert media["errors"] == 0, media["error_statuses"]
    assert media["measured"] > 0 and media["decisions"]["allow"] > 0
    assert media["p99_ms"] >= media["p50_ms"] > 0
    assert len(media["fast_hash_slices"]) == MEDIA_SLICES
    assert all(rate > 0 for rate in media["fast_hash_slices"])
    ratio = media["checks_per_s_per_core"] / media["fast_hash_images_per_s"]
    assert run["media_vs_fast_hash"] == media["vs_fast_hash"] == pytest.approx(ratio)
