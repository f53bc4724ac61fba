"""``hashwall bench api`` end to end on a small bank: one JSON object with every measurement."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hashwall.bench.api.bank import build_store, make_hashes
from hashwall.bench.api.load import load, load_at_rate, signal_requests
from hashwall.bench.api.run import MEDIA_SLICES, _target_met
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
    at_rate = run["signals_at_rate"]  # 1,000/s per core offered in an open loop by default
    assert at_rate["offered_per_s"] == at_rate["offered_per_s_per_core"] == 1000.0
    assert at_rate["errors"] == 0 and at_rate["p99_ms"] >= at_rate["p50_ms"] > 0
    # Every arrival is answered and counted: how many there are is fixed by the seed (Poisson,
    # about 1,000 in 1 s), not by how fast the machine is.
    assert at_rate["measured"] == at_rate["offered"]
    assert 700 < at_rate["offered"] < 1300
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


def _slow_http_server(seconds_per_answer: float) -> tuple[int, Callable[[], None]]:
    """A keep-alive HTTP server on a thread that answers one request at a time, slowly."""
    answer = b'HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{"decision":"allow"}'
    ready = threading.Event()
    port: list[int] = []
    stop: list[Callable[[], None]] = []

    def run() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await reader.readuntil(b"\r\n\r\n"):
                time.sleep(seconds_per_answer)  # blocks the loop: one answer at a time
                writer.write(answer)
                await writer.drain()

        async def main() -> None:
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            port.append(server.sockets[0].getsockname()[1])
            done = asyncio.Event()
            loop = asyncio.get_running_loop()
            stop.append(lambda: loop.call_soon_threadsafe(done.set))
            ready.set()
            await done.wait()
            server.close()

        asyncio.run(main())

    threading.Thread(target=run, daemon=True).start()
    ready.wait(5)
    return port[0], stop[0]


def test_open_loop_counts_the_wait_of_a_server_that_cannot_keep_up() -> None:
    port, stop = _slow_http_server(0.02)  # 50 answers/s
    request = b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    try:
        closed = load(port, [request], 1, 0.0, 1.0)
        offered = load_at_rate(port, [request], 100.0, 0.0, 1.0, connections=1)
    finally:
        stop()
    # Every answer takes at least 20 ms, one at a time: the server does at most 50/s however
    # fast the machine. Open loop at 100/s: the queue grows for the whole second, and the
    # latency counts it (bounds from below only: a busy machine only makes them larger).
    assert closed["p50_ms"] >= 20
    assert offered["offered_per_s"] == 100.0 and offered["errors"] == 0
    assert offered["p99_ms"] > 300
    assert offered["decisions"]["allow"] == offered["measured"] == offered["offered"] > 50


def test_the_signal_target_reads_p99_at_the_offered_rate() -> None:
    def run(most: float, p99_most: float, offered: float, p99_at: float) -> dict[str, Any]:
        return {
            "signals": {"checks_per_s_per_core": most, "p99_ms": p99_most, "errors": 0},
            "signals_at_rate": {
                "offered_per_s_per_core": offered, "p99_ms": p99_at, "errors": 0,
            },
        }  # fmt: skip

    assert _target_met(run(1100, 25.0, 1000, 12.0))  # saturated p99 is not the target's
    assert not _target_met(run(1100, 15.0, 1000, 22.0))
    assert not _target_met(run(900, 10.0, 1000, 12.0))  # cannot do 1,000/s at all
    assert not _target_met(run(1100, 25.0, 500, 5.0))  # offered too little: saturated p99
    assert _target_met(run(1100, 15.0, 500, 5.0))
