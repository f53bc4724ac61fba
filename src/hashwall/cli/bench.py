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
