"""``hashwall hash``: fingerprint files.

``hash`` hashes videos (and animated GIF, PNG and WebP files) by their frames (vPDQ): one JSON
object per file with a ``frames`` list, or with ``--vpdq`` the lines of vPDQ's text format.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from hashwall.cli.output import progress_bar
from hashwall.errors import HashwallError
from hashwall.hashing.image import ImageHashes, hash_file
from hashwall.hashing.pdq import ORIENTATIONS
from hashwall.hashing.vpdq import VideoHashes, hash_video
from hashwall.media.video import is_video_file
from hashwall.settings import Settings


class KeypointChoice(enum.StrEnum):
    """Whose keypoint codes ``hash --keypoints`` computes."""

    BANK = "bank"
    UPLOAD = "upload"


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
        if result.keypoints is not None:
            record["keypoints"] = result.keypoints.to_bytes().hex()
    return record


def _video_record(path: Path, result: VideoHashes) -> dict[str, Any]:
    first = result.first_frame
    return {
        "path": str(path),
        "kind": "video",
        # An animation's first frame, or a still video's picture, hashed as an image.
        "pdq": None if first is None else first.hash.hex,
        "quality": None if first is None else first.quality,
        "md5": result.md5,
        "sha256": result.sha256,
        "width": result.width,
        "height": result.height,
        "error": None,
        "format": result.container,
        "codec": result.codec,
        "fps": result.fps,
        "duration": round(result.duration, 3),
        "frames_decoded": result.frames_decoded,
        "frames_hashed": result.frames_hashed,
        "seconds_per_hash": result.seconds_per_hash,
        "usable": result.usable,
        "notes": [{"code": n.code, "message": n.message} for n in result.notes],
        "frames": [f.to_dict() for f in result.frames],
    }


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
    paths: Annotated[
        list[Path], typer.Argument(help="Image or video files, or folders (recursive).")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    all_orientations: Annotated[
        bool, typer.Option("--all-orientations", help="Add the 8 dihedral PDQ hashes.")
    ] = False,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast", help="Fast mode: reduced decode (images), sampled PDQ filter (videos)."
        ),
    ] = False,
    seconds_per_hash: Annotated[
        float | None,
        typer.Option(
            "--seconds-per-hash",
            min=0,
            help="Videos: seconds between hashed frames (default 1; 0 = every frame).",
        ),
    ] = None,
    every_frame: Annotated[
        bool, typer.Option("--every-frame", help="Videos: hash every frame.")
    ] = False,
    keypoints: Annotated[
        KeypointChoice | None,
        typer.Option(
            "--keypoints",
            help="Images: add the keypoint codes (JSON: 'keypoints', 32 hex digits a "
            "keypoint), as banked ('bank') or as a check sends them ('upload').",
        ),
    ] = None,
    vpdq: Annotated[
        bool,
        typer.Option(
            "--vpdq",
            help="Print one video's frames in vPDQ's text format "
            "(frame_number,quality,hash,timestamp), low-quality and repeated frames kept.",
        ),
    ] = False,
) -> None:
    """Fingerprint images (PDQ hash and quality, md5, sha256) and videos (vPDQ frame hashes,
    md5, sha256). Exit code 1 if any file failed."""
    settings = Settings()
    files = list(iter_paths(paths))
    if every_frame:
        seconds_per_hash = 0.0
    if vpdq:
        _print_vpdq(files, settings, seconds_per_hash, fast)
        return
    console = Console()
    err_console = Console(stderr=True)
    table = _HashTable(console.width)
    failed = 0
    with progress_bar(console=err_console) as progress:
        task = progress.add_task("hashing", total=len(files), visible=len(files) > 1)
        for path in files:
            record: dict[str, Any]
            result: ImageHashes | VideoHashes | None = None
            error: HashwallError | None = None
            try:
                if is_video_file(path, settings):
                    result = hash_video_file(path, settings, seconds_per_hash, fast, progress)
                else:
                    result = hash_file(
                        path,
                        fast=fast,
                        orientations=all_orientations,
                        keypoints=None if keypoints is None else keypoints.value,
                        settings=settings,
                    )
            except HashwallError as exc:
                error = exc
                failed += 1
            if isinstance(result, VideoHashes):
                record = _video_record(path, result)
            else:
                record = _record(path, result, error, all_orientations)
            if json_out:
                sys.stdout.write(json.dumps(record) + "\n")
                sys.stdout.flush()
            elif isinstance(result, VideoHashes):
                _add_video_rows(table, path, result)
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


def hash_video_file(
    path: Path,
    settings: Settings,
    seconds_per_hash: float | None,
    fast: bool,
    progress: Progress,
    *,
    mirror: bool = False,
    box: bool = False,
) -> VideoHashes:
    """Hash one video with a progress bar of its own (decoded frames of those expected);
    ``box``: a check's frames cropped to the picture inside bars too."""
    task = progress.add_task(f"{path.name}", total=None)

    def advance(decoded: int, expected: int | None) -> None:
        progress.update(task, completed=decoded, total=max(expected or 0, decoded) or None)

    try:
        return hash_video(
            path,
            settings=settings,
            seconds_per_hash=seconds_per_hash,
            fast=fast,
            mirror=mirror,
            progress=advance,
            box=box,
        )
    finally:
        progress.remove_task(task)


def _add_video_rows(table: _HashTable, path: Path, result: VideoHashes) -> None:
    note = "; ".join(n.code for n in result.notes)
    summary = (
        f"{result.container} {result.duration:.1f} s, {len(result.frames)} frame hashes "
        f"of {result.frames_decoded} frames"
    )
    first = result.first_frame
    table.add(
        str(path),
        first.hash.hex if first else "",
        str(first.quality) if first else "",
        f"{result.width}x{result.height}",
        "; ".join(filter(None, (summary, note))),
    )
    for frame in result.frames:
        table.add(
            f"  frame {frame.frame_number} @ {frame.timestamp:.3f} s",
            frame.hash.hex,
            str(frame.quality),
            "",
            "",
        )


def _print_vpdq(
    files: list[Path], settings: Settings, seconds_per_hash: float | None, fast: bool
) -> None:
    """``--vpdq``: one video's hashed frames as vPDQ prints them (none dropped or collapsed)."""
    from hashwall.hashing.vpdq import compute_hash
    from hashwall.media.video import open_video

    if len(files) != 1:
        raise typer.BadParameter("--vpdq takes exactly one video file", param_hint="PATHS")
    path = files[0]
    if seconds_per_hash is None:
        seconds_per_hash = settings.vpdq_seconds_per_hash
    err_console = Console(stderr=True)
    try:
        with (
            open_video(path, settings) as video,
            progress_bar(path.name, console=err_console) as progress,
        ):
            task = progress.add_task("frames", total=video.info.expected_frames)
            for feature in compute_hash(video, seconds_per_hash, fast=fast):
                sys.stdout.write(feature.to_line() + "\n")
                progress.update(task, completed=video.decoded)
    except HashwallError as exc:
        err_console.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1) from None


__all__ = ["hash_command", "hash_video_file", "iter_paths"]
