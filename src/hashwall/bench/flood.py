"""``hashwall bench flood``: platform checks while the anonymous channel is flooded with cases.

A ``hashwall serve`` process (SQLite, pinned to one core, a bank of vouched hashes) is offered
platform checks at ``--rate`` per second in an open loop (Poisson arrivals, latency from each
arrival, as ``bench api`` does), twice: alone, then while ``--flooders`` connections, each from
its own address (``X-Forwarded-For``, the server trusting the loopback proxy), create anonymous
cases as fast as the server answers. Each creation costs an argon2 hash of a new PIN (~0.2-0.4 s
of one core) unless the intake budget or the argon2 slots refuse it. The report gives the
checks' p50/p99 both times, and what the flood got (created, refused 429, refused 503).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from hashwall.bench.api.bank import bench_database, build_store, make_hashes
from hashwall.bench.api.load import exchange, load_at_rate, signal_requests
from hashwall.bench.api.server import running_server


def _case_request(address: str, n: int) -> bytes:
    body = json.dumps({"items": [{"signals": [{"type": "md5", "value": f"{n:032x}"}]}]}).encode()
    head = (
        f"POST /v1/cases HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: {address}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _flood(port: int, flooders: int, stop: threading.Event) -> dict[str, int]:
    statuses: dict[str, int] = {}
    sent = 0

    async def one(k: int) -> None:
        nonlocal sent
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not stop.is_set():
                sent += 1
                status, _ = await exchange(reader, writer, _case_request(f"198.18.{k}.1", sent))
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                if status in (429, 503):
                    await asyncio.sleep(0.01)  # a flood retries at once, all but
        finally:
            writer.close()

    await asyncio.gather(*(one(k) for k in range(flooders)))
    return statuses


def run_flood(
    *, bank_size: int, rate: float, duration: float, flooders: int, seed: int
) -> dict[str, Any]:
    """Measure (see the module docstring)."""
    bank, strangers = make_hashes(bank_size, 4000, seed, None)
    settings = {"HASHWALL_TRUSTED_PROXIES": "127.0.0.1/32"}
    with bench_database("sqlite", None) as url:
        store = build_store(url, bank)
        requests = signal_requests(store.key, bank, strangers, 0.01, 2000, seed, orientations=False)
        with running_server(url, cores=[0], workers=1, decode_workers=1, settings=settings) as s:
            load_at_rate(s.port, requests, rate, 1.0, 2.0)  # warm-up
            alone = load_at_rate(s.port, requests, rate, 0.0, duration, seed=seed)
            stop = threading.Event()
            flood: dict[str, Any] = {}

            def flood_thread() -> None:
                flood.update(asyncio.run(_flood(s.port, flooders, stop)))

            thread = threading.Thread(target=flood_thread, daemon=True)
            thread.start()
            try:
                during = load_at_rate(s.port, requests, rate, 2.0, duration, seed=seed + 1)
            finally:
                stop.set()
                thread.join(60)
    keep = ("offered_per_s", "measured", "p50_ms", "p99_ms", "errors", "error_statuses")
    return {
        "bank": bank_size,
        "flooders": flooders,
        "checks_alone": {k: alone[k] for k in keep},
        "checks_during_flood": {k: during[k] for k in keep},
        "flood_statuses": flood,
    }
