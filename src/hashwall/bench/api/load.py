"""The load generator of ``bench api``: raw HTTP/1.1 on keep-alive connections, closed or open
loop, in a process of its own pinned to the cores the server does not use."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from hashwall.bench.api.bank import QUALITY, hexes, pdq_like

HIT_DISTANCE: Final = 8
#: Connections the open-loop load keeps (a request waits when all are busy, and counts it).
OPEN_LOOP_CONNECTIONS: Final = 64

# --- the load generator (a separate process, pinned to the other cores) ------------------------


def pin_to_cores(cores: Sequence[int]) -> None:
    """Run this process on ``cores`` only (where the OS allows it)."""
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(cores))


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """Send one raw request on a keep-alive connection; its status and body."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return int(head[9:12]), await reader.readexactly(length)


def _record(out: dict[str, Any], status: int, body: bytes, latency: float) -> None:
    out["latencies"].append(latency)
    if status != 200:
        out["errors"] += 1
        out["error_statuses"][str(status)] = out["error_statuses"].get(str(status), 0) + 1
        return
    for decision in ("allow", "review", "block"):
        if b'"decision":"' + decision.encode() in body:
            out["decisions"][decision] += 1
            return


async def _connection(
    port: int,
    requests: Sequence[bytes],
    offset: int,
    step: int,
    next_due: Callable[[], Awaitable[float | None]],
    warm_until: float,
    out: dict[str, Any],
) -> None:
    """Send ``requests[offset::step]`` (round robin) on one keep-alive connection, each when
    ``next_due`` says (None: stop), and count its latency from that time after warm-up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while (due := await next_due()) is not None:
            status, body = await exchange(reader, writer, requests[i % len(requests)])
            i += step
            out["sent"] += 1
            if due >= warm_until:
                _record(out, status, body, time.perf_counter() - due)
    finally:
        writer.close()


def _summary(out: dict[str, Any], duration: float, keep_latencies: bool) -> dict[str, Any]:
    latencies = np.asarray(out.pop("latencies"), dtype=np.float64)
    out["measured"] = int(latencies.size)
    out["p50_ms"] = float(np.percentile(latencies, 50) * 1000) if latencies.size else None
    out["p99_ms"] = float(np.percentile(latencies, 99) * 1000) if latencies.size else None
    out["checks_per_s"] = latencies.size / duration
    if keep_latencies:
        out["latencies"] = latencies.tolist()
    return out


def _tally() -> dict[str, Any]:
    return {
        "latencies": [],
        "sent": 0,
        "errors": 0,
        "error_statuses": {},
        "decisions": {"allow": 0, "review": 0, "block": 0},
    }


def load_at_rate(
    port: int,
    requests: Sequence[bytes],
    rate: float,
    warmup: float,
    duration: float,
    connections: int = OPEN_LOOP_CONNECTIONS,
    seed: int = 0,
) -> dict[str, Any]:
    """Offer ``rate`` requests/s (Poisson arrivals, open loop) on up to ``connections``
    keep-alive connections; latencies from each request's arrival time, after warm-up."""
    import random

    out = _tally()
    offered = 0

    async def main() -> None:
        nonlocal offered
        arrivals: asyncio.Queue[float | None] = asyncio.Queue()
        gaps = random.Random(seed)
        due = time.perf_counter()
        warm, stop_at = due + warmup, due + warmup + duration
        # Each connection takes the next arrival time; a request kept waiting for a free
        # connection counts its wait (no coordinated omission).
        workers = [
            asyncio.create_task(
                _connection(port, requests, c, connections, arrivals.get, warm, out)
            )
            for c in range(connections)
        ]
        while due < stop_at:
            now = time.perf_counter()
            while due <= now and due < stop_at:  # every arrival that is due, at once
                arrivals.put_nowait(due)
                offered += due >= warm
                due += gaps.expovariate(rate)
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        for _ in workers:
            arrivals.put_nowait(None)
        await asyncio.gather(*workers)

    asyncio.run(main())
    result = _summary(out, duration, keep_latencies=False)
    result["offered_per_s"] = rate
    result["offered"] = offered  # arrivals after warm-up: fixed by the seed, not by the machine
    return result


def load(
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    warmup: float,
    duration: float,
    keep_latencies: bool = False,
) -> dict[str, Any]:
    """Send ``requests`` round robin on ``concurrency`` connections, each as soon as the last
    answer came (closed loop: the most the server does); latencies after warm-up (in seconds
    under ``latencies`` too with ``keep_latencies``)."""
    out = _tally()

    async def main() -> None:
        now = time.perf_counter()
        warm_until, stop_at = now + warmup, now + warmup + duration

        async def now_until_stop() -> float | None:  # closed loop: the next one at once
            began = time.perf_counter()
            return began if began < stop_at else None

        await asyncio.gather(
            *(
                _connection(port, requests, c, concurrency, now_until_stop, warm_until, out)
                for c in range(concurrency)
            )
        )

    asyncio.run(main())
    return _summary(out, duration, keep_latencies)


def http_request(path: str, key: str, body: bytes, content_type: str) -> bytes:
    """The bytes of one keep-alive ``POST`` with ``key``."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def signal_requests(
    key: str,
    bank: npt.NDArray[np.uint64],
    strangers: npt.NDArray[np.uint64],
    hit_rate: float,
    count: int,
    seed: int,
    digests: bool = True,
    orientations: bool = True,
) -> list[bytes]:
    """Check requests: an upload's PDQ, 8 orientations (and sha256); ``hit_rate`` near copies.

    ``orientations=False``: the PDQ alone (what a platform hashing with another tool sends).
    """
    rng = np.random.default_rng(seed)
    strangers = strangers[pdq_like(strangers)]
    picks = strangers[rng.integers(0, len(strangers), size=(count, 8))]
    hits = rng.random(count) < hit_rate
    if hits.any():
        near = bank[rng.integers(0, len(bank), size=int(hits.sum()))].copy()
        for row in near:  # a few bits off: a re-encoded copy of a banked image
            for bit in rng.choice(256, size=HIT_DISTANCE, replace=False):
                row[bit // 64] ^= np.uint64(1) << np.uint64(63 - bit % 64)
        picks[hits, 0] = near
        # A few flips can leave the popcount a PDQ hash may have: use a stranger there.
        invalid = ~pdq_like(picks[:, 0])
        picks[invalid, 0] = strangers[rng.integers(0, len(strangers), size=int(invalid.sum()))]
    out = []
    for row in picks:
        codes = hexes(row)
        signals: list[dict[str, Any]] = [{"type": "pdq", "value": codes[0], "quality": QUALITY}]
        if digests:
            signals.append({"type": "sha256", "value": secrets.token_hex(32)})
        body: dict[str, Any] = {"signals": signals}
        if orientations:
            body["pdq_orientations"] = codes
        out.append(http_request("/v1/check", key, json.dumps(body).encode(), "application/json"))
    return out


def media_requests(key: str, files: Sequence[Path]) -> list[bytes]:
    """Multipart check requests, one per file."""
    out = []
    for path in files:
        boundary = secrets.token_hex(16)
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        body += path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        out.append(
            http_request("/v1/check", key, body, f"multipart/form-data; boundary={boundary}")
        )
    return out


def fast_hash_rate(files: Sequence[Path], seconds: float = 5.0) -> float:
    """Images/s of fast-mode hashing with orientations (as a decoder worker hashes), one thread."""
    from hashwall.hashing.image import hash_image
    from hashwall.settings import Settings

    datas = [p.read_bytes() for p in files]
    # One Settings, as a decoder worker holds (building one per image costs ~1 ms).
    settings = Settings()
    hash_image(datas[0], fast=True, orientations=True, settings=settings)  # compile the kernels
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        hash_image(datas[done % len(datas)], fast=True, orientations=True, settings=settings)
        done += 1
    return done / (time.perf_counter() - started)
