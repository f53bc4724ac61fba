"""``hashwall bench index``: hashwall's exact index against faiss on the same data and queries.

Methods, each measured in its own child process (so that one method's allocations do not hide
another's in the RSS figure), single-threaded:

* ``hashwall``: :class:`hashwall.index.mih.MihIndex` through its public ``search``;
* ``faiss_flat``: faiss ``IndexBinaryFlat`` (brute force tuned for 256-bit codes);
* ``faiss_hma``: ``IndexBinaryIDMap2(IndexBinaryMultiHash(256, 16, 16))``, ``nflip = 1``, the
  configuration ThreatExchange's Hasher-Matcher-Actioner uses for PDQ;
* ``oracle``: :class:`hashwall.index.brute.BruteForceIndex` on a sample of the queries; every
  method's recall is measured against it on that sample.

faiss's ``range_search`` excludes the radius itself, so it is given ``radius + 1``.

``orientations=8`` (``run_index_bench``) makes each query an upload's 8 orientations, answered
in one call as the service's check does (``search_dihedral``; faiss: one ``range_search`` of the
8 rows); the 8 are 8 consecutive queries of the data (half near copies of banked hashes).

``--json`` prints ``{"n", "data", "radius", "orientations", "queries", "oracle_queries",
"results": {"<method>": {"qps", "p50_us", "p99_us", "p50_cpu_us", "p99_cpu_us", "build_s",
"bytes_per_hash", "recall"}}}``; ``p50_cpu_us`` and ``p99_cpu_us`` are the same percentiles in
thread CPU time (immune to time slices lost to other processes on a shared machine).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

METHODS = ("hashwall", "faiss_flat", "faiss_hma", "oracle")
#: Where ``--photos`` points when not given: a folder of photos beside a development checkout.
#: When it is missing, ``--data photos`` falls back to ``random`` with a notice.
DEFAULT_PHOTOS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "photos"


def _oracle_sample(n: int, queries: int) -> int:
    """How many queries the brute-force oracle answers (all of them for small banks)."""
    if n <= 200_000:
        return queries
    return min(queries, max(20, int(2e9 // (n * 40))), 200)


def _rss() -> int:
    import psutil

    gc.collect()
    return int(psutil.Process().memory_info().rss)


def _child(
    method: str, workdir: Path, radius: int, sample: int, orientations: int = 1
) -> dict[str, Any]:
    """Build one method's index on the saved data, time its queries, save its sample answers."""
    from hashwall.index.base import words_to_bytes

    bank = words_to_bytes(np.load(workdir / "bank.npy", allow_pickle=False))
    qwords = np.load(workdir / "queries.npy", allow_pickle=False)
    queries = words_to_bytes(qwords)
    o = orientations
    n = bank.shape[0]
    ids = np.arange(n, dtype=np.int64)
    if method == "oracle":
        queries = queries[: sample * o]
    count = len(queries) // o  # queries (each of o orientations, rows o*i .. o*i+o-1)
    if method == "hashwall":  # load numba's cached machine code before measuring
        from hashwall.hashing.codes import Hash256
        from hashwall.index.mih import MihIndex

        MihIndex.from_arrays(ids[:2], bank[:2]).search(Hash256(bytes(bank[0])), radius)
    before = _rss()
    t0 = time.perf_counter()
    search: Any
    if method == "hashwall":
        from hashwall.hashing.codes import Hash256
        from hashwall.index.mih import MihIndex

        index = MihIndex.from_arrays(ids, bank)
        qh = [Hash256(bytes(row)) for row in queries]

        def search(i: int) -> npt.NDArray[np.int64]:
            if o > 1:
                found = index.search_dihedral(qh[o * i : o * i + o], radius)
                return np.array(sorted(m.id for m in found), dtype=np.int64)
            return np.array([m.id for m in index.search(qh[i], radius)], dtype=np.int64)

    elif method == "oracle":
        from hashwall.hashing.codes import Hash256
        from hashwall.index.brute import BruteForceIndex

        oracle = BruteForceIndex()
        oracle.add(ids, bank)
        qh = [Hash256(bytes(row)) for row in queries]

        def search(i: int) -> npt.NDArray[np.int64]:
            if o > 1:
                found = oracle.search_dihedral(qh[o * i : o * i + o], radius)
                return np.array(sorted(m.id for m in found), dtype=np.int64)
            return np.array([m.id for m in oracle.search(qh[i], radius)], dtype=np.int64)

    else:
        import faiss

        faiss.omp_set_num_threads(1)
        findex: Any
        if method == "faiss_flat":
            findex = faiss.IndexBinaryFlat(256)
            findex.add(bank)
        elif method == "faiss_hma":
            inner = faiss.IndexBinaryMultiHash(256, 16, 16)
            inner.nflip = 1
            findex = faiss.IndexBinaryIDMap2(inner)
            findex.add_with_ids(bank, ids)
        else:
            raise ValueError(f"unknown method {method!r}")

        def search(i: int) -> npt.NDArray[np.int64]:
            _lims, _d, found = findex.range_search(queries[o * i : o * i + o], radius + 1)
            return np.unique(np.asarray(found, dtype=np.int64))

    build_s = time.perf_counter() - t0
    after = _rss()
    for i in range(min(3, count)):  # warm up (numba loads its cached machine code)
        search(i)
    lat = np.empty(count, dtype=np.float64)
    cpu = np.empty(count, dtype=np.float64)
    answers: list[npt.NDArray[np.int64]] = []
    t_all = time.perf_counter()
    for i in range(count):
        c = time.thread_time_ns()
        t = time.perf_counter_ns()
        found = search(i)
        lat[i] = (time.perf_counter_ns() - t) / 1e3
        cpu[i] = (time.thread_time_ns() - c) / 1e3
        if i < sample:
            answers.append(found)
    total = time.perf_counter() - t_all
    counts = np.array([a.size for a in answers], dtype=np.int64)
    flat = np.concatenate(answers) if answers else np.zeros(0, np.int64)
    np.save(workdir / f"{method}.counts.npy", counts, allow_pickle=False)
    np.save(workdir / f"{method}.ids.npy", flat, allow_pickle=False)
    return {
        "qps": count / total if total > 0 else 0.0,
        "p50_us": float(np.percentile(lat, 50)) if lat.size else 0.0,
        "p99_us": float(np.percentile(lat, 99)) if lat.size else 0.0,
        # the same queries in thread CPU time: on a shared machine, wall-clock p99 mostly
        # measures time slices lost to other processes
        "p50_cpu_us": float(np.percentile(cpu, 50)) if cpu.size else 0.0,
        "p99_cpu_us": float(np.percentile(cpu, 99)) if cpu.size else 0.0,
        "build_s": build_s,
        "bytes_per_hash": (after - before) / max(n, 1),
    }


def _recall(workdir: Path, method: str, sample: int) -> float:
    """Fraction of the oracle's (query, id) pairs that ``method`` found, on the sample."""
    tc = np.load(workdir / "oracle.counts.npy")[:sample]
    ti = np.load(workdir / "oracle.ids.npy")
    mc = np.load(workdir / f"{method}.counts.npy")[:sample]
    mi = np.load(workdir / f"{method}.ids.npy")
    t_off = np.concatenate([[0], np.cumsum(tc)])
    m_off = np.concatenate([[0], np.cumsum(mc)])
    total = int(t_off[-1])
    if total == 0:
        return 1.0
    hit = 0
    for q in range(tc.size):
        truth = ti[t_off[q] : t_off[q + 1]]
        got = mi[m_off[q] : m_off[q + 1]]
        hit += int(np.isin(truth, got).sum())
    return hit / total


def run_index_bench(
    *,
    n: int,
    queries: int,
    data: str,
    photos: Path,
    json_out: bool,
    radius: int = 31,
    seed: int = 0,
    methods: tuple[str, ...] = METHODS,
    orientations: int = 1,
) -> int:
    """Run the benchmark; print a table (or one JSON object with ``json_out``). Exit code.

    ``orientations``: 1 (a query is one code) or 8 (an upload's 8 orientations, one call).
    """
    from rich.console import Console
    from rich.table import Table

    from hashwall.bench.index_data import make_data, photo_hashes

    err = Console(stderr=True, quiet=json_out or not sys.stderr.isatty())
    if data not in ("random", "photos"):
        Console(stderr=True).print(f"[red]--data must be random or photos, got {data!r}[/]")
        return 2
    if data == "photos" and not photos.is_dir():
        if photos != DEFAULT_PHOTOS:
            print(
                f"error: photos folder not found: {photos}: pass --photos DIR, a folder of "
                "photos (searched recursively), or --data random",
                file=sys.stderr,
            )
            return 2
        # No --photos and no default folder: still a benchmark, of uniform codes, said so.
        print(
            "notice: no --photos DIR given and no photos at the default folder: using --data "
            "random (pass --photos DIR, a folder of photos, for the shape of a real bank)",
            file=sys.stderr,
        )
        data = "random"
    if orientations not in (1, 8):
        Console(stderr=True).print(f"[red]orientations must be 1 or 8, got {orientations}[/]")
        return 2
    methods = tuple(m for m in METHODS if m in methods or m == "oracle")
    sample = _oracle_sample(n, queries)
    with tempfile.TemporaryDirectory(prefix="hashwall-bench-index-") as tmp:
        workdir = Path(tmp)
        with err.status(f"generating {n:,} {data} hashes"):
            bases = photo_hashes(photos) if data == "photos" else None
            bank, qwords = make_data(data, n, queries * orientations, seed, bases)
            np.save(workdir / "bank.npy", bank, allow_pickle=False)
            np.save(workdir / "queries.npy", qwords, allow_pickle=False)
            del bank, qwords
        results: dict[str, dict[str, float]] = {}
        env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
        for method in methods:
            with err.status(
                f"{method}: build and {queries if method != 'oracle' else sample} queries"
            ):
                proc = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "hashwall.bench.index",
                        method,
                        str(workdir),
                        str(radius),
                        str(sample),
                        str(orientations),
                    ],
                    capture_output=True,
                    text=True,
                    env=env,
                    check=False,
                )
            if proc.returncode != 0:
                Console(stderr=True).print(f"[red]{method} failed:[/]\n{proc.stderr[-2000:]}")
                return 1
            results[method] = json.loads(proc.stdout.strip().splitlines()[-1])
        for method in methods:
            results[method]["recall"] = _recall(workdir, method, sample)
    doc = {
        "n": n,
        "data": data,
        "radius": radius,
        "orientations": orientations,
        "queries": queries,
        "oracle_queries": sample,
        "results": results,
    }
    if json_out:
        print(json.dumps(doc))
        return 0
    table = Table(
        title=f"bench index: n={n:,} data={data} radius={radius} queries={queries} "
        f"of {orientations} orientation{'s' if orientations > 1 else ''} (recall on {sample})"
    )
    cols = (
        "method",
        "queries/s",
        "p50 µs",
        "p99 µs",
        "p50 cpu µs",
        "p99 cpu µs",
        "build s",
        "bytes/hash",
        "recall",
    )
    for col in cols:
        table.add_column(col, justify="left" if col == "method" else "right")
    for method, r in results.items():
        table.add_row(
            method,
            f"{r['qps']:,.0f}",
            f"{r['p50_us']:,.0f}",
            f"{r['p99_us']:,.0f}",
            f"{r['p50_cpu_us']:,.0f}",
            f"{r['p99_cpu_us']:,.0f}",
            f"{r['build_s']:.1f}",
            f"{r['bytes_per_hash']:.1f}",
            f"{r['recall']:.4f}",
        )
    out = Console(width=max(120, Console().width))
    out.print(table)
    if "hashwall" in results:
        hw = results["hashwall"]["qps"]
        for other in ("faiss_flat", "faiss_hma"):
            if other in results and results[other]["qps"] > 0:
                out.print(f"hashwall / {other}: {hw / results[other]['qps']:.1f}x queries/s")
    return 0


if __name__ == "__main__":  # the per-method child process
    _method, _workdir, _radius, _sample, _orientations = sys.argv[1:6]
    print(
        json.dumps(_child(_method, Path(_workdir), int(_radius), int(_sample), int(_orientations)))
    )
