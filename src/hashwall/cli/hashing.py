"""``hashwall hash`` and ``hashwall compare``: fingerprint files; compare two images or hashes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hashwall.errors import FileUnreadable, HashwallError, InvalidHash
from hashwall.hashing.image import ImageHashes, hash_file
from hashwall.hashing.pdq import MIN_QUALITY, ORIENTATIONS, PdqHash
from hashwall.settings import Settings

DEFAULT_THRESHOLD = 31

#: ``hashwall compare`` exit codes, as ``cmp`` and ``diff`` use them.
COMPARE_MATCH = 0
COMPARE_NO_MATCH = 1
COMPARE_ERROR = 2


def iter_paths(paths: list[Path]) -> Iterator[Path]:
    """Files named, and files under folders named (recursively, sorted, hidden ones skipped)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if child.is_file() and not any(part.startswith(".") for part in rel.parts):
                    yield child
        else:
            yield path


def _record(
    path: Path, result: ImageHashes | None, error: HashwallError | None, orientations: bool
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "path": str(path),
        "kind": "image",
        "pdq": None,
        "quality": None,
        "md5": None,
        "sha256": None,
        "width": None,
        "height": None,
        "error": error.to_dict() if error else None,
    }
    if result is not None:
        record.update(
            pdq=result.pdq.hex,
            quality=result.quality,
            md5=result.md5,
            sha256=result.sha256,
            width=result.width,
            height=result.height,
            format=result.format,
            mode=str(result.mode),
            frames=result.frame_count,
            usable=result.usable,
            notes=[{"code": n.code, "message": n.message} for n in result.notes],
        )
        if orientations and result.orientations is not None:
            record["orientations"] = [h.hex for h in result.orientations]
    return record


class _HashTable:
    """The ``hash`` table: one row per file; on a narrow terminal the hash goes under the path."""

    WIDE = 110  # a 64-digit hash beside a path, quality, size and note

    def __init__(self, width: int) -> None:
        self.wide = width >= self.WIDE
        self.table = Table(box=box.SIMPLE_HEAD, show_lines=not self.wide)
        if self.wide:
            self.table.add_column("path", overflow="fold")
            self.table.add_column("pdq", no_wrap=True, min_width=64)
            self.table.add_column("quality", justify="right")
            self.table.add_column("size")
            self.table.add_column("note", overflow="fold")
        else:
            self.table.add_column("path / pdq / size", overflow="fold", min_width=64)
            self.table.add_column("quality", justify="right")

    def add(self, path: str, pdq: str, quality: str, size: str, note: str) -> None:
        """One file (or one orientation of it)."""
        if self.wide:
            self.table.add_row(path, pdq, quality, size, note)
            return
        lines = [path] + [x for x in (pdq, " ".join(filter(None, (size, note)))) if x]
        self.table.add_row("\n".join(lines), quality)


def hash_command(
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders (recursive).")],
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    all_orientations: Annotated[
        bool, typer.Option("--all-orientations", help="Add the 8 dihedral PDQ hashes.")
    ] = False,
    fast: Annotated[bool, typer.Option("--fast", help="Fast mode: reduced decode.")] = False,
) -> None:
    """Fingerprint images: PDQ hash and quality, md5, sha256. Exit code 1 if any file failed."""
    settings = Settings()
    files = list(iter_paths(paths))
    console = Console()
    err_console = Console(stderr=True)
    show_progress = len(files) > 1 and sys.stderr.isatty()
    table = _HashTable(console.width)
    failed = 0
    with Progress(
        TextColumn("hashing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not show_progress,
        transient=True,
    ) as progress:
        task = progress.add_task("hash", total=len(files))
        for path in files:
            result: ImageHashes | None = None
            error: HashwallError | None = None
            try:
                result = hash_file(
                    path, fast=fast, orientations=all_orientations, settings=settings
                )
            except HashwallError as exc:
                error = exc
                failed += 1
            record = _record(path, result, error, all_orientations)
            if json_out:
                sys.stdout.write(json.dumps(record) + "\n")
                sys.stdout.flush()
            elif result is not None:
                note = "; ".join(n.code for n in result.notes)
                size = f"{result.width}x{result.height}"
                table.add(str(path), result.pdq.hex, str(result.quality), size, note)
                if all_orientations and result.orientations:
                    for name, h in zip(ORIENTATIONS, result.orientations, strict=True):
                        table.add(f"  {name}", h.hex, "", "", "")
            else:
                assert error is not None
                table.add(str(path), "", "", "", f"[red]{error.code}[/red]: {error.message}")
            progress.advance(task)
    if not json_out:
        console.print(table.table)
        if failed:
            err_console.print(f"{failed} of {len(files)} files could not be hashed")
    if not files:
        err_console.print("no files found")
        raise typer.Exit(1)
    raise typer.Exit(1 if failed else 0)


def _operand(
    text: str, settings: Settings, fast: bool
) -> tuple[PdqHash, int | None, tuple[PdqHash, ...] | None]:
    """A hash (64 hex digits) or a file: its PDQ hash, quality (None for a hash), orientations."""
    path = Path(text)
    if not path.exists() and len(text) == 64:
        try:
            return PdqHash.from_hex(text), None, None
        except InvalidHash:
            pass
    if not path.exists():
        raise FileUnreadable(f"{text!r} is neither an existing file nor a 64-hex-digit PDQ hash")
    result = hash_file(path, fast=fast, orientations=True, settings=settings)
    return result.pdq, result.quality, result.orientations


def compare_command(
    a: Annotated[str, typer.Argument(help="An image file or a 64-hex PDQ hash.")],
    b: Annotated[str, typer.Argument(help="An image file or a 64-hex PDQ hash.")],
    threshold: Annotated[
        int, typer.Option(min=0, max=255, help="Largest distance that counts as a match.")
    ] = DEFAULT_THRESHOLD,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    fast: Annotated[bool, typer.Option("--fast", help="Fast mode for files.")] = False,
) -> None:
    """Distance between two images or hashes, in the best of the 8 orientations.

    Exit codes: 0 they match (distance within --threshold, both usable); 1 they do not match
    (beyond the threshold, or an image too featureless to match on: reason low_quality); 2 an
    operand could not be read or hashed, or the command line is wrong.
    """
    settings = Settings()
    console = Console()
    try:
        ha, qa, oa = _operand(a, settings, fast)
        hb, qb, ob = _operand(b, settings, fast)
    except HashwallError as exc:
        if json_out:
            sys.stdout.write(json.dumps({"match": False, "error": exc.to_dict()}) + "\n")
        else:
            Console(stderr=True).print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(COMPARE_ERROR) from None
    # The rotated side is a file (its 8 dihedral hashes are known); a bare hash cannot be rotated.
    rotated: str | None = None
    distances: list[tuple[int, str]]
    if ob is not None:
        rotated = "b"
        distances = [(ha.distance(h), o.value) for o, h in zip(ORIENTATIONS, ob, strict=True)]
    elif oa is not None:
        rotated = "a"
        distances = [(hb.distance(h), o.value) for o, h in zip(ORIENTATIONS, oa, strict=True)]
    else:
        distances = [(ha.distance(hb), ORIENTATIONS[0].value)]
    distance, orientation = min(distances, key=lambda d: d[0])
    low = [q for q in (qa, qb) if q is not None and q < MIN_QUALITY]
    match = distance <= threshold and not low
    reason = "low_quality" if low else ("within_threshold" if match else "beyond_threshold")
    out = {
        "match": match,
        "distance": distance,
        "orientation": orientation,
        "rotated": rotated,
        "threshold": threshold,
        "reason": reason,
        "a": {"pdq": ha.hex, "quality": qa},
        "b": {"pdq": hb.hex, "quality": qb},
    }
    if json_out:
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        verdict = "[green]match[/green]" if match else "[yellow]no match[/yellow]"
        where = (
            f" ({rotated.upper()} {orientation})" if rotated and orientation != "original" else ""
        )
        console.print(f"{verdict}: distance {distance}{where}, threshold {threshold}")
        if low:
            console.print(f"quality below {MIN_QUALITY}: too featureless to match on")
    raise typer.Exit(COMPARE_MATCH if match else COMPARE_NO_MATCH)


__all__ = ["compare_command", "hash_command", "iter_paths"]
