"""``hashwall bench oracle``: can a platform tell a banked hash from an unbanked one by time?

The platform of this run answers ``allow`` for unvouched items and the whole bank is unvouched,
so every check answers ``allow``: the answer says nothing, and the question is whether the
response time does. A ``hashwall serve`` process (SQLite or PostgreSQL, one core) gets, on one
keep-alive connection, one request at a time, checks of three kinds in a shuffled order:

- hits: a banked hash with a few bits flipped (a re-encoded copy of a banked image);
- misses A and misses B: hashes of nothing in the bank, two sets drawn alike.

It reports the median latency of each kind, the difference between the medians of hits and of
all misses, and the noise: the difference between the medians of misses A and misses B, which
can only come from the machine. A timing oracle shows as ``hit_vs_miss_us`` well above
``miss_vs_miss_us`` (before this service took one path for both, a hit cost a store
transaction and a miss none: ~2.0 vs ~1.3 ms). It also counts the hits on record
(``check_hit_allowed`` audit rows, written by the server's hit log): all of them.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np

from hashwall.bench.api.bank import (
    QUALITY,
    bench_database,
    build_store,
    hexes,
    make_hashes,
    pdq_like,
)
from hashwall.bench.api.load import HIT_DISTANCE, exchange, http_request
from hashwall.bench.api.server import running_server

KINDS = ("hit", "miss_a", "miss_b")


def _flip(row: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    near = row.copy()
    for bit in rng.choice(256, size=HIT_DISTANCE, replace=False):
        near[bit // 64] ^= np.uint64(1) << np.uint64(63 - bit % 64)
    return near


def _body(hexes: str) -> bytes:
    return json.dumps({"signals": [{"type": "pdq", "value": hexes, "quality": QUALITY}]}).encode()


def oracle_requests(
    key: str, bank: np.ndarray, strangers: np.ndarray, per_kind: int, seed: int
) -> list[tuple[str, bytes]]:
    """``per_kind`` requests of each kind, shuffled (kind, raw HTTP request)."""
    rng = np.random.default_rng(seed)
    strangers = strangers[pdq_like(strangers)]
    hits: list[np.ndarray] = []
    while len(hits) < per_kind:
        near = _flip(bank[rng.integers(0, len(bank))], rng)
        if pdq_like(near[None, :])[0]:
            hits.append(near)
    picks = rng.permutation(len(strangers))[: 2 * per_kind]
    if len(picks) < 2 * per_kind:
        raise ValueError("not enough hashes outside the bank: raise --bank or lower --checks")
    rows = {
        "hit": hits,
        "miss_a": [strangers[i] for i in picks[:per_kind]],
        "miss_b": [strangers[i] for i in picks[per_kind:]],
    }
    out = [
        (kind, http_request("/v1/check", key, _body(hexes(row[None, :])[0]), "application/json"))
        for kind in KINDS
        for row in rows[kind]
    ]
    order = rng.permutation(len(out))
    return [out[i] for i in order]


async def _send_all(port: int, requests: list[tuple[str, bytes]]) -> dict[str, list[float]]:
    import time

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    try:
        for kind, raw in requests:
            started = time.perf_counter()
            status, body = await exchange(reader, writer, raw)
            elapsed = time.perf_counter() - started
            if status != 200 or b'"decision":"allow"' not in body:
                raise RuntimeError(f"unexpected answer {status}: {body[:200]!r}")
            latencies[kind].append(elapsed)
    finally:
        writer.close()
    return latencies


def run_oracle(
    *,
    backend: str,
    postgres_url: str | None,
    bank_size: int,
    checks: int,
    rounds: int,
    seed: int,
) -> dict[str, Any]:
    """Run the measurement (see the module docstring); one result per round, and the medians."""
    from hashwall.service.hitlog import HIDDEN_HIT_ACTION
    from hashwall.store.repo import Store

    per_kind = max(1, checks // 2)  # hits and misses interleaved: ``checks`` hits + misses A/B
    bank, strangers = make_hashes(bank_size, 4 * per_kind * rounds + 1000, seed, None)
    results: list[dict[str, Any]] = []
    with bench_database(backend, postgres_url) as url:
        store = build_store(url, bank, trust="unvouched", unvouched_answer="allow")
        sent_hits = 0
        with running_server(url, cores=[0], workers=1, decode_workers=1) as server:
            warm = oracle_requests(store.key, bank, strangers, 100, seed + 1000)
            asyncio.run(_send_all(server.port, warm))
            sent_hits += 100
            for index in range(rounds):
                requests = oracle_requests(store.key, bank, strangers, per_kind, seed + index)
                latencies = asyncio.run(_send_all(server.port, requests))
                sent_hits += per_kind
                med = {k: float(np.median(v)) * 1e6 for k, v in latencies.items()}
                misses = float(np.median(latencies["miss_a"] + latencies["miss_b"])) * 1e6
                results.append(
                    {
                        "hit_median_us": round(med["hit"], 1),
                        "miss_a_median_us": round(med["miss_a"], 1),
                        "miss_b_median_us": round(med["miss_b"], 1),
                        "hit_vs_miss_us": round(med["hit"] - misses, 1),
                        "miss_vs_miss_us": round(med["miss_a"] - med["miss_b"], 1),
                    }
                )
        reader = Store.from_url(url)
        try:
            with reader.read() as repo:
                on_record = len(repo.list_audit(action=HIDDEN_HIT_ACTION, limit=10**9))
        finally:
            reader.dispose()
    hit_vs = [abs(r["hit_vs_miss_us"]) for r in results]
    noise = [abs(r["miss_vs_miss_us"]) for r in results]
    return {
        "backend": backend,
        "bank": bank_size,
        "checks_per_round": 3 * per_kind,
        "rounds": results,
        "median_abs_hit_vs_miss_us": round(float(np.median(hit_vs)), 1),
        "median_abs_miss_vs_miss_us": round(float(np.median(noise)), 1),
        "hits_sent": sent_hits,
        "hits_on_record": on_record,
    }
