"""``hashwall bench ...``: benchmarks users can run; each prints a table or one JSON object."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

bench_app = typer.Typer(help="Benchmarks: measured numbers, printed as a table or JSON.")


@bench_app.command("hash")
def bench_hash(
    photos: Annotated[Path, typer.Option(help="Folder of images (searched recursively).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    limit: Annotated[int | None, typer.Option(help="Use at most this many images.")] = None,
) -> None:
    """Hash the same images with reference mode, fast mode and plain pdqhash; compare."""
    from hashwall.bench.hashing import run_hash_bench

    raise typer.Exit(run_hash_bench(photos=photos, json_out=json_out, limit=limit))


@bench_app.command("video")
def bench_video(
    videos: Annotated[
        Path | None,
        typer.Option(help="Folder of videos (searched recursively; default: generated 720p)."),
    ] = None,
    seconds_per_hash: Annotated[
        float, typer.Option(min=0.0, help="Hash one frame every this many seconds (0: every).")
    ] = 1.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    fast: Annotated[
        bool, typer.Option("--fast", help="hashwall's side hashes frames in fast mode.")
    ] = False,
) -> None:
    """vPDQ frame hashing: hashwall's hash_video vs PyAV decoding + pdqhash; frames/s and
    x real time (wall, and per core in process CPU time)."""
    from hashwall.bench.video import run_video_bench

    raise typer.Exit(
        run_video_bench(
            videos=videos, seconds_per_hash=seconds_per_hash, json_out=json_out, fast=fast
        )
    )


@bench_app.command("index")
def bench_index(
    n: Annotated[int, typer.Option("--n", help="Hashes in the bank.")] = 1_000_000,
    queries: Annotated[int, typer.Option(help="Queries (the same for every method).")] = 1000,
    data: Annotated[
        str, typer.Option(help="random | photos (the shape of a real bank).")
    ] = "photos",
    photos: Annotated[
        Path | None, typer.Option(help="Photos whose PDQ hashes seed --data photos.")
    ] = None,
    radius: Annotated[int, typer.Option(help="Match radius in bits.")] = 31,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 0,
    orientations: Annotated[
        int,
        typer.Option(
            help="1: a query is one hash; 8: an upload's 8 orientations in one call "
            "(what the SDK sends by default)."
        ),
    ] = 1,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Exact index vs faiss Flat vs the HMA faiss config: q/s, latency, build, memory, recall."""
    from hashwall.bench.index import DEFAULT_PHOTOS, run_index_bench

    raise typer.Exit(
        run_index_bench(
            n=n,
            queries=queries,
            data=data,
            photos=photos or DEFAULT_PHOTOS,
            json_out=json_out,
            radius=radius,
            seed=seed,
            orientations=orientations,
        )
    )


@bench_app.command("api")
def bench_api(
    bank: Annotated[int, typer.Option("--bank", help="Hashes in the bank.")] = 1_000_000,
    workers: Annotated[
        int, typer.Option(min=1, help="Server worker processes (and cores it is pinned to).")
    ] = 1,
    backend: Annotated[
        list[str] | None,
        typer.Option(help="sqlite and/or postgresql (default: both; postgresql if configured)."),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Connections kept busy.")] = 8,
    duration: Annotated[float, typer.Option(min=1.0, help="Seconds measured per load.")] = 10.0,
    hit_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of uploads that match the bank.")
    ] = 0.01,
    photos: Annotated[
        Path | None, typer.Option(help="JPEGs for the media checks (default: the wallpapers).")
    ] = None,
    no_media: Annotated[bool, typer.Option("--no-media", help="Skip the media checks.")] = False,
    digests: Annotated[
        bool,
        typer.Option(help="Send the upload's sha256 with its PDQ hashes, as the SDK does."),
    ] = True,
    orientations: Annotated[
        bool,
        typer.Option(
            help="Send the upload's 8 orientation hashes with its PDQ, as the SDK does "
            "(--no-orientations: the one PDQ a platform hashing with another tool sends)."
        ),
    ] = True,
    rate: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Signal checks/s per server core offered in an open-loop run (Poisson "
            "arrivals; latency counted from each arrival), after the closed-loop run; 0 skips it.",
        ),
    ] = 1000.0,
    postgres_url: Annotated[
        str | None,
        typer.Option(help="PostgreSQL server (default: HASHWALL_BENCH_POSTGRES_URL)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated bank and uploads.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The HTTP API under load: signal checks/s (closed loop, and open loop at --rate), p50/p99,
    server CPU per check, media checks against fast hashing on the server core."""
    from hashwall.bench.api import DEFAULT_PHOTOS, run_api_bench

    raise typer.Exit(
        run_api_bench(
            bank=bank,
            workers=workers,
            backends=backend or ["sqlite", "postgresql"],
            concurrency=concurrency,
            duration=duration,
            hit_rate=hit_rate,
            photos=None if no_media else (photos or DEFAULT_PHOTOS),
            postgres_url=postgres_url,
            seed=seed,
            json_out=json_out,
            digests=digests,
            orientations=orientations,
            rate=rate,
        )
    )


@bench_app.command("oracle")
def bench_oracle(
    bank: Annotated[int, typer.Option("--bank", help="Unvouched hashes in the bank.")] = 100_000,
    checks: Annotated[
        int, typer.Option(min=2, help="Hits and misses per round (as many misses again: B).")
    ] = 1000,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds (each with fresh uploads).")] = 5,
    backend: Annotated[str, typer.Option(help="sqlite or postgresql.")] = "sqlite",
    postgres_url: Annotated[
        str | None,
        typer.Option(help="PostgreSQL server (default: HASHWALL_BENCH_POSTGRES_URL)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated bank and uploads.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Whether response time tells a banked hash from an unbanked one on a platform that
    answers allow for unvouched items: medians of hits and misses against miss-vs-miss noise,
    and the hits on record."""
    import json
    import os

    from hashwall.bench.oracle import run_oracle

    if backend not in ("sqlite", "postgresql"):
        raise typer.BadParameter("sqlite or postgresql", param_hint="--backend")
    url = postgres_url or os.environ.get("HASHWALL_BENCH_POSTGRES_URL")
    if backend == "postgresql" and not url:
        raise typer.BadParameter("set --postgres-url or HASHWALL_BENCH_POSTGRES_URL")
    report = run_oracle(
        backend=backend, postgres_url=url, bank_size=bank, checks=checks, rounds=rounds, seed=seed
    )
    if json_out:
        typer.echo(json.dumps(report))
        return
    typer.echo(f"{backend}, bank {bank:,}, {report['checks_per_round']:,} checks per round")
    typer.echo("round  hit p50 us  miss A p50  miss B p50  hit-miss us  missA-missB us")
    for index, r in enumerate(report["rounds"], 1):
        typer.echo(
            f"{index:>5}  {r['hit_median_us']:>10}  {r['miss_a_median_us']:>10}  "
            f"{r['miss_b_median_us']:>10}  {r['hit_vs_miss_us']:>11}  {r['miss_vs_miss_us']:>14}"
        )
    typer.echo(
        f"median |hit - miss| {report['median_abs_hit_vs_miss_us']} us, "
        f"median |miss A - miss B| {report['median_abs_miss_vs_miss_us']} us; "
        f"hits on record {report['hits_on_record']:,} of {report['hits_sent']:,}"
    )


@bench_app.command("flood")
def bench_flood(
    bank: Annotated[int, typer.Option("--bank", help="Vouched hashes in the bank.")] = 100_000,
    rate: Annotated[float, typer.Option(min=1.0, help="Platform checks/s offered.")] = 200.0,
    duration: Annotated[float, typer.Option(min=1.0, help="Seconds measured each time.")] = 20.0,
    flooders: Annotated[
        int, typer.Option(min=1, help="Connections creating anonymous cases, one address each.")
    ] = 8,
    seed: Annotated[int, typer.Option(help="Seed of the generated bank and uploads.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Platform checks alone, then during a flood of anonymous case creations: p50/p99 of the
    checks both times, and what the flood got."""
    import json

    from hashwall.bench.flood import run_flood

    report = run_flood(bank_size=bank, rate=rate, duration=duration, flooders=flooders, seed=seed)
    if json_out:
        typer.echo(json.dumps(report))
        return
    typer.echo(f"bank {bank:,}, checks offered at {rate:g}/s, {flooders} flooding addresses")
    for name in ("checks_alone", "checks_during_flood"):
        r = report[name]
        typer.echo(
            f"{name:<20} p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms  "
            f"{r['measured']} checks, {r['errors']} errors"
        )
    typer.echo(f"flood answers: {report['flood_statuses']}")


@bench_app.command("feed")
def bench_feed(
    bank: Annotated[int, typer.Option("--bank", min=1, help="PDQ items in the bank.")] = 100_000,
    changes: Annotated[
        int, typer.Option(min=0, help="Changes before the re-sync (half adds, half deletions).")
    ] = 1000,
    cache: Annotated[
        Path | None, typer.Option(help="Where banks are built once and kept (SQLite files).")
    ] = None,
    python_path: Annotated[
        str | None,
        typer.Option(help="Run the client and server from this source tree (a before/after)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """First sync and re-syncs of a bank of N items: seconds, client and server peak memory."""
    from hashwall.bench.feed import DEFAULT_CACHE, run_feed_bench

    raise typer.Exit(
        run_feed_bench(
            bank=bank,
            changes=changes,
            cache=cache or DEFAULT_CACHE,
            python_path=python_path,
            json_out=json_out,
        )
    )


@bench_app.command("keypoints")
def bench_keypoints(
    n: Annotated[int, typer.Option("--n", min=1, help="Items (photos) in the bank.")] = 1_000_000,
    queries: Annotated[int, typer.Option(min=1, help="Checks that match nothing.")] = 500,
    data: Annotated[
        str,
        typer.Option(
            help="random | photos (codes of real photos' keypoints, with noise) | real (real "
            "photos banked, their transformed copies and other photos checked)."
        ),
    ] = "random",
    photos: Annotated[
        Path | None, typer.Option(help="Photos whose keypoints seed --data photos.")
    ] = None,
    noise: Annotated[
        int, typer.Option(min=0, max=64, help="--data photos: flip 0 to this many bits a code.")
    ] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The keypoint index at N items of 83 codes: build, bytes per item, candidate stage and
    search time per check (p50/p99), candidates per check, and copies of banked pictures."""
    from hashwall.bench.keypoints import DEFAULT_PHOTOS, run_keypoint_bench

    raise typer.Exit(
        run_keypoint_bench(
            n=n,
            queries=queries,
            data=data,
            photos=photos or DEFAULT_PHOTOS,
            noise=noise,
            seed=seed,
            json_out=json_out,
        )
    )


@bench_app.command("keypoint-build")
def bench_keypoint_build(
    n: Annotated[
        list[int] | None, typer.Option("--n", min=1, help="Photos in the bank (repeatable).")
    ] = None,
    backend: Annotated[
        list[str] | None, typer.Option(help="sqlite | postgresql (repeatable; default both).")
    ] = None,
    postgres_url: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL database for a scratch schema (or HASHWALL_BENCH_POSTGRES_URL)."
        ),
    ] = None,
    read: Annotated[
        list[str] | None,
        typer.Option(help="text (hex rows, the build's before) | blocks (the build's read now)."),
    ] = None,
    repeat: Annotated[int, typer.Option(min=1, help="Time each read this often (fastest).")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the generated bank.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The keypoint part of a live index build from the store at N photos of 83 keypoints:
    seconds to read, filter, parse and index, and photos/s, for each read."""
    import os

    from hashwall.bench.keypoint_build import READS, print_report, run_build

    backends = backend or ["sqlite", "postgresql"]
    if not set(backends) <= {"sqlite", "postgresql"}:
        raise typer.BadParameter("sqlite or postgresql", param_hint="--backend")
    reads = read or list(READS)
    if not set(reads) <= set(READS):
        raise typer.BadParameter(" or ".join(READS), param_hint="--read")
    url = postgres_url or os.environ.get("HASHWALL_BENCH_POSTGRES_URL")
    if "postgresql" in backends and not url:
        raise typer.BadParameter("set --postgres-url or HASHWALL_BENCH_POSTGRES_URL")
    report = run_build(
        sizes=n or [20_000],
        backends=backends,
        postgres_url=url,
        reads=reads,
        repeat=repeat,
        seed=seed,
    )
    print_report(report, json_out)
