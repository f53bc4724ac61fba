"""``hashwall match FILE... --bank DIR``: check uploads locally, against a feed copy.

For platforms that keep the bank with ``hashwall feed sync --dir DIR`` instead of sending every
upload (``--bank`` is that folder, or a copy in the JSON form that ``hashwall feed export``
writes):
each file is hashed here as ``hashwall check`` hashes it (an image in fast mode with its 8
orientations, its regions and its keypoints, ``--no-keypoints`` to skip them; a video at one
frame per second with its mirrored frames, and a progress bar per video) and answered by
:class:`hashwall.service.local_match.LocalBank` with the service's index and rules for what the
feed carries (not the allowlist, this platform's exemptions or its organisation's own
confirmations). Nothing is sent anywhere; no match ref is made.

Output: a table, or with ``--json`` one object per file and line: ``{"path", "decision",
"reason", "matches": [{"item_ref", "decision", "signal_type", "distance", "orientation"}],
"error"}`` (a match found by keypoints has no distance or orientation); a video's match has
``upload_frames_matched_pct``, ``banked_frames_matched_pct`` and ``ranges`` (``{"upload",
"banked"}``, each ``[{"start", "end"}]`` in seconds) instead of a distance, as the service's
check answers them.

Exit codes, as ``hashwall check``: 1 some file could not be hashed (whatever the others
answered), or the bank copy could not be read; otherwise 4 some ``block``, 3 some ``review``,
0 every file ``allow``; 2 usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hashwall.cli import forms
from hashwall.cli.check import EXIT_ALLOW, EXIT_BLOCK, EXIT_ERROR, EXIT_REVIEW
from hashwall.cli.output import fail, print_json, progress_bar
from hashwall.errors import HashwallError

if TYPE_CHECKING:
    from hashwall.service.local_match import LocalMatch


def match_command(
    paths: Annotated[list[Path], typer.Argument(help="Upload files or folders (recursive).")],
    bank: Annotated[
        Path,
        typer.Option(
            "--bank", help="The copy `hashwall feed sync` keeps (its --dir), or a JSON copy."
        ),
    ],
    reference: Annotated[
        bool, typer.Option("--reference", help="Hash in reference mode instead of fast mode.")
    ] = False,
    keypoints: Annotated[
        bool,
        typer.Option(
            "--keypoints/--no-keypoints",
            help="Compute images' keypoints (crops and screenshots PDQ misses; ~tens of ms).",
        ),
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Match files locally against a feed copy: allow, review or block (exit codes as check)."""
    from hashwall.cli.hashing import hash_video_file, iter_paths
    from hashwall.hashing.image import hash_file
    from hashwall.media.video import is_video_file
    from hashwall.service.check import CheckRequest
    from hashwall.service.local_match import LocalBank
    from hashwall.settings import Settings

    try:
        local = LocalBank.load(bank)
    except HashwallError as exc:
        fail(exc, json_out)
    settings = Settings()
    files = list(iter_paths(paths))
    if not files:
        fail(HashwallError("no files found"), json_out)
    table = Table(show_lines=False)
    for column in ("file", "decision", "reason", "matches"):
        table.add_column(column, overflow="fold")
    counts = {"allow": 0, "review": 0, "block": 0, "error": 0}
    for path in files:
        record: dict[str, Any] = {"path": str(path), "decision": None, "reason": None,
                                  "matches": [], "error": None}  # fmt: skip
        try:
            if is_video_file(path, settings):
                with progress_bar() as progress:
                    video = hash_video_file(path, settings, None, not reference, progress,
                                            mirror=True)  # fmt: skip
                request = CheckRequest.from_video(video)
            else:
                request = CheckRequest.from_image(
                    hash_file(
                        path, fast=not reference, orientations=True, regions=True,
                        keypoints="upload" if keypoints else None, settings=settings,
                    )
                )  # fmt: skip
            answer = local.match(request)
        except HashwallError as exc:
            counts["error"] += 1
            record["error"] = exc.to_dict()
            message = f"[red]{exc.code}[/red]: {escape(exc.message)}"
            table.add_row(escape(str(path)), "[red]error[/red]", "", message)
        else:
            counts[answer.decision] += 1
            record.update(
                decision=answer.decision,
                reason=answer.reason,
                matches=[forms.local_match(m) for m in answer.matches],
            )
            described = "; ".join(_describe(m) for m in answer.matches)
            table.add_row(escape(str(path)), answer.decision, answer.reason, described)
        if json_out:
            print_json(record)
    if not json_out:
        Console().print(table)
        Console(stderr=True).print(", ".join(f"{n} {name}" for name, n in counts.items() if n))
    if counts["error"]:
        raise typer.Exit(EXIT_ERROR)
    if counts["block"]:
        raise typer.Exit(EXIT_BLOCK)
    raise typer.Exit(EXIT_REVIEW if counts["review"] else EXIT_ALLOW)


def _describe(match: LocalMatch) -> str:
    """One match in the table: the item ref and how it matched."""
    if match.video is not None:
        return (
            f"{match.item_ref} frames {match.video.upload_frames_matched_pct:.2f}% of the upload, "
            f"{match.video.banked_frames_matched_pct:.2f}% of the banked video"
        )
    if match.distance is not None:
        return f"{match.item_ref} distance {match.distance} {match.orientation}"
    return f"{match.item_ref} {match.signal_type}"
