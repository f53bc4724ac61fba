"""``hashwall hash`` and ``hashwall compare``: fingerprint files; compare two images, two hashes
or two videos.

``hash`` hashes videos (and animated GIF, PNG and WebP files) by their frames (vPDQ): one JSON
object per file with a ``frames`` list, or with ``--vpdq`` the lines of vPDQ's text format.

``compare A B`` with two videos judges A as an upload against B as a banked video with the
video rule (:mod:`hashwall.hashing.video_match`): A is hashed at one frame a second as it is
and mirrored, B at every frame (a bank is hashed densely so that an upload's samples find it
whatever their phase).
"""

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
from hashwall.hashing.video_match import (
    DEFAULT_BANKED_PERCENT,
    DEFAULT_UPLOAD_PERCENT,
    VideoFrames,
    VideoMatch,
    match_video,
)
from hashwall.hashing.vpdq import VideoHashes, hash_video
from hashwall.media.video import is_video_file
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


def _video_record(path: Path, result: VideoHashes) -> dict[str, Any]:
    first = result.first_frame
    return {
        "path": str(path),
        "kind": "video",
        # An animation's first frame hashed as an image (what banking it as an image gave).
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
    on_terminal = sys.stderr.isatty()
    table = _HashTable(console.width)
    failed = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not on_terminal,
        transient=True,
    ) as progress:
        task = progress.add_task("hashing", total=len(files), visible=len(files) > 1)
        for path in files:
            record: dict[str, Any]
            result: ImageHashes | VideoHashes | None = None
            error: HashwallError | None = None
            try:
                if is_video_file(path, settings):
                    result = _hash_video_file(path, settings, seconds_per_hash, fast, progress)
                else:
                    result = hash_file(
                        path, fast=fast, orientations=all_orientations, settings=settings
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


def _hash_video_file(
    path: Path,
    settings: Settings,
    seconds_per_hash: float | None,
    fast: bool,
    progress: Progress,
    *,
    mirror: bool = False,
) -> VideoHashes:
    """Hash one video with a progress bar of its own (decoded frames of those expected)."""
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
            Progress(
                TextColumn(path.name),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err_console,
                disable=not sys.stderr.isatty(),
                transient=True,
            ) as progress,
        ):
            task = progress.add_task("frames", total=video.info.expected_frames)
            for feature in compute_hash(video, seconds_per_hash, fast=fast):
                sys.stdout.write(feature.to_line() + "\n")
                progress.update(task, completed=video.decoded)
    except HashwallError as exc:
        err_console.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1) from None


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


def _both_videos(a: str, b: str, settings: Settings) -> bool:
    paths = (Path(a), Path(b))
    return all(p.is_file() and is_video_file(p, settings) for p in paths)


def _compare_videos(
    a: Path,
    b: Path,
    settings: Settings,
    *,
    threshold: int,
    upload_percent: float,
    banked_percent: float,
    seconds_per_hash: float | None,
    banked_seconds_per_hash: float,
    fast: bool,
    json_out: bool,
) -> VideoMatch:
    """Hash A (the upload, mirrored too) and B (the banked video), and apply the video rule."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not sys.stderr.isatty(),
        transient=True,
    ) as progress:
        upload = _hash_video_file(a, settings, seconds_per_hash, fast, progress, mirror=True)
        banked = _hash_video_file(b, settings, banked_seconds_per_hash, fast, progress)
    result = match_video(
        VideoFrames.from_video(upload, settings.pdq_min_quality),
        VideoFrames.from_video(banked, settings.pdq_min_quality),
        threshold=threshold,
        upload_percent=upload_percent,
        banked_percent=banked_percent,
    )
    if json_out:
        out = {"kind": "video", **result.to_dict(), "threshold": threshold}
        out["a"] = {
            "role": "upload",
            "frames": len(upload.frames),
            "duration": round(upload.duration, 3),
        }
        out["b"] = {
            "role": "banked",
            "frames": len(banked.frames),
            "duration": round(banked.duration, 3),
        }
        sys.stdout.write(json.dumps(out) + "\n")
        return result
    console = Console()
    verdict = "[green]match[/green]" if result.match else "[yellow]no match[/yellow]"
    console.print(
        f"{verdict} ({result.reason}): {result.upload_frames_matched_pct:.1f}% of A's "
        f"{len(upload.frames)} frames found in B, {result.banked_frames_matched_pct:.1f}% of "
        f"B's {len(banked.frames)} frames found in A; {result.ordered_frames} in order"
        + (", A mirrored" if result.mirrored else "")
    )
    for name, spans in (("A", result.upload_ranges), ("B", result.banked_ranges)):
        if spans:
            text = ", ".join(f"{r.start:.1f}-{r.end:.1f} s" for r in spans)
            console.print(f"  matched in {name}: {text}")
    return result


def compare_command(
    a: Annotated[
        str,
        typer.Argument(help="An image or video file, or a 64-hex PDQ hash (videos: the upload)."),
    ],
    b: Annotated[
        str,
        typer.Argument(
            help="An image or video file, or a 64-hex PDQ hash (videos: the banked one)."
        ),
    ],
    threshold: Annotated[
        int,
        typer.Option(
            min=0, max=255, help="Largest distance that counts as a match (videos: per frame)."
        ),
    ] = DEFAULT_THRESHOLD,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    fast: Annotated[bool, typer.Option("--fast", help="Fast mode for files.")] = False,
    upload_percent: Annotated[
        float,
        typer.Option(min=0, max=100, help="Videos: share of A's frames found in B that matches."),
    ] = DEFAULT_UPLOAD_PERCENT,
    banked_percent: Annotated[
        float,
        typer.Option(min=0, max=100, help="Videos: share of B's frames found in A that matches."),
    ] = DEFAULT_BANKED_PERCENT,
    seconds_per_hash: Annotated[
        float | None,
        typer.Option(min=0, help="Videos: seconds between A's hashed frames (default 1)."),
    ] = None,
    banked_seconds_per_hash: Annotated[
        float,
        typer.Option(min=0, help="Videos: seconds between B's hashed frames (0: every frame)."),
    ] = 0.0,
) -> None:
    """Distance between two images or hashes, in the best of the 8 orientations; or whether
    video A (an upload) holds video B (a banked video).

    Two videos: A is hashed at one frame a second, as it is and mirrored, B at every frame;
    they match when at least --upload-percent of A's distinct frames are within --threshold of
    B's, or --banked-percent of B's frames are found in A, with at least 3 distinct frames in
    the same order in both. --json prints match, reason, upload_frames_matched_pct,
    banked_frames_matched_pct, ordered_frames, mirrored and ranges (upload and banked, in
    seconds).

    Exit codes: 0 they match (distance within --threshold, both usable); 1 they do not match
    (beyond the threshold, or an image too featureless to match on: reason low_quality); 2 an
    operand could not be read or hashed, or the command line is wrong.
    """
    settings = Settings()
    console = Console()
    if _both_videos(a, b, settings):
        try:
            result = _compare_videos(
                Path(a),
                Path(b),
                settings,
                threshold=threshold,
                upload_percent=upload_percent,
                banked_percent=banked_percent,
                seconds_per_hash=seconds_per_hash,
                banked_seconds_per_hash=banked_seconds_per_hash,
                fast=fast,
                json_out=json_out,
            )
        except HashwallError as exc:
            if json_out:
                sys.stdout.write(json.dumps({"match": False, "error": exc.to_dict()}) + "\n")
            else:
                Console(stderr=True).print(f"[red]{exc.code}[/red]: {exc.message}")
            raise typer.Exit(COMPARE_ERROR) from None
        raise typer.Exit(COMPARE_MATCH if result.match else COMPARE_NO_MATCH)
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
