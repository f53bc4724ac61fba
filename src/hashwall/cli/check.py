"""``hashwall check PATH...``: ask the service what to do with uploads, as a platform does.

Each file is hashed here (fast mode, with its 8 orientations; a video at one frame per second,
with its mirrored frames, and a progress bar per video) and only its signals are sent;
``--send-media`` uploads the file itself instead (hashed by the service in memory, never
stored). Needs a platform key with the ``check`` scope. A progress bar shows on a terminal.

Output: a table, or with ``--json`` one object per file and line: ``{"path", "decision",
"reason", "check_id", "matches", "error"}`` (``decision`` null and ``error`` ``{"code",
"message"}`` when the file could not be checked).

Exit codes: 1 some file could not be checked, whatever the others answered (a script must not
take a partial run for an answer), or the service could not be used at all (unreachable, bad
key: then nothing more is tried); otherwise 4 at least one ``block``, 3 at least one ``review``
(and no ``block``), 0 every file ``allow``; 2 usage.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hashwall.cli.output import fail, print_json, progress_bar
from hashwall.cli.remote import KeyOption, ServerOption
from hashwall.errors import HashwallError, InvalidKey

if TYPE_CHECKING:
    from rich.progress import Progress

    from hashwall.client import CheckResult, Client
    from hashwall.hashing.image import ImageHashes
    from hashwall.hashing.vpdq import VideoHashes
    from hashwall.settings import Settings

EXIT_ALLOW: Final = 0
EXIT_ERROR: Final = 1
EXIT_REVIEW: Final = 3
EXIT_BLOCK: Final = 4
#: Answers that mean no later file can succeed either: stop at once.
FATAL_CODES: Final = frozenset({"invalid_key", "forbidden", "connection_failed"})
RETRIES: Final = 3


def _check_one(
    client: Client,
    path: Path,
    *,
    send_media: bool,
    fast: bool,
    settings: Settings,
    progress: Progress,
) -> CheckResult:
    """Hash (or read) one file and check it, retrying politely on 429/503 (idempotently).

    A video is hashed at one frame per second with its mirrored frames (and, when its picture
    sits inside bars, its frames cropped to the picture), with a progress bar of its own."""
    from hashwall.cli.hashing import hash_video_file
    from hashwall.client import ApiError
    from hashwall.hashing.image import hash_file, read_media_file
    from hashwall.media.video import is_video_path

    idempotency_key = str(uuid.uuid4())
    hashes: ImageHashes | VideoHashes
    if send_media:
        data = read_media_file(path, settings)
    elif is_video_path(path, settings):
        hashes = hash_video_file(path, settings, None, fast, progress, mirror=True, box=True)
    else:
        hashes = hash_file(
            path, fast=fast, orientations=True, regions=True, keypoints="upload", settings=settings
        )
    for attempt in range(RETRIES + 1):
        try:
            if send_media:
                return client.check(media=data, idempotency_key=idempotency_key)
            return client.check(hashes, idempotency_key=idempotency_key)
        except ApiError as exc:
            if exc.status not in (429, 503) or attempt == RETRIES:
                raise
            time.sleep(min(exc.retry_after or 1.0, 30.0))
    raise AssertionError("unreachable")


def _record(path: Path, result: CheckResult | None, error: HashwallError | None) -> dict[str, Any]:
    return {
        "path": str(path),
        "decision": result.decision if result else None,
        "reason": result.reason if result else None,
        "check_id": result.check_id if result else None,
        "matches": [m.model_dump(exclude_none=True) for m in result.matches] if result else [],
        "error": error.to_dict() if error else None,
    }


def _describe(record: dict[str, Any]) -> str:
    parts = []
    for match in record["matches"]:
        text = match["match_ref"]
        if "distance" in match:
            text += f" distance {match['distance']}"
        if "orientation" in match:
            text += f" {match['orientation']}"
        if "upload_frames_matched_pct" in match:
            text += (
                f" frames {match['upload_frames_matched_pct']:g}% of the upload, "
                f"{match['banked_frames_matched_pct']:g}% of the banked video"
            )
        parts.append(text)
    return "; ".join(parts)


_STYLE: Final = {"allow": "green", "review": "yellow", "block": "red"}


def check_command(
    paths: Annotated[list[Path], typer.Argument(help="Upload files or folders (recursive).")],
    server: ServerOption,
    key: KeyOption = None,
    send_media: Annotated[
        bool,
        typer.Option("--send-media", help="Upload the files instead of hashing them here."),
    ] = False,
    reference: Annotated[
        bool, typer.Option("--reference", help="Hash in reference mode instead of fast mode.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Check files against the bank: allow, review or block.

    Exit codes: 0 every file allow; 4 some block; 3 some review (no block); 1 any file could
    not be checked (whatever the others answered) or the service could not be used; 2 usage.
    """
    from hashwall.cli.hashing import iter_paths
    from hashwall.client import Client
    from hashwall.settings import Settings

    if not key:
        fail(InvalidKey("a platform key is needed: --key or HASHWALL_KEY"), json_out, 2)
    settings = Settings()
    files = list(iter_paths(paths))
    if not files:
        fail(HashwallError("no files found"), json_out)
    console = Console()
    table = Table(show_lines=False)
    for column in ("file", "decision", "reason", "matches"):
        table.add_column(column, overflow="fold")
    counts = {"allow": 0, "review": 0, "block": 0, "error": 0}
    fatal: HashwallError | None = None
    with (
        Client(server, key=key) as client,
        progress_bar() as progress,
    ):
        task = progress.add_task("checking", total=len(files), visible=len(files) > 1)
        for path in files:
            result: CheckResult | None = None
            error: HashwallError | None = None
            try:
                result = _check_one(
                    client,
                    path,
                    send_media=send_media,
                    fast=not reference,
                    settings=settings,
                    progress=progress,
                )
            except HashwallError as exc:
                if exc.code in FATAL_CODES:
                    fatal = exc
                    break
                error = exc
            counts[result.decision if result else "error"] += 1
            record = _record(path, result, error)
            if json_out:
                print_json(record)
            elif result is not None:
                style = _STYLE[result.decision]
                table.add_row(
                    escape(str(path)),
                    f"[{style}]{result.decision}[/{style}]",
                    result.reason,
                    _describe(record),
                )
            else:
                assert error is not None
                message = f"[red]{error.code}[/red]: {escape(error.message)}"
                table.add_row(escape(str(path)), "[red]error[/red]", "", message)
            progress.advance(task)
    if not json_out and table.row_count:
        console.print(table)
        summary = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
        Console(stderr=True).print(summary)
    if fatal is not None:
        fail(fatal, json_out)
    if counts["error"]:
        raise typer.Exit(EXIT_ERROR)
    if counts["block"]:
        raise typer.Exit(EXIT_BLOCK)
    raise typer.Exit(EXIT_REVIEW if counts["review"] else EXIT_ALLOW)
