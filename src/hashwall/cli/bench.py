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
        )
    )
