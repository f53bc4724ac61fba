"""``hashwall matches list`` and ``hashwall verdict``: a platform's reviewers, over the API.

Both need a platform key with the ``verdict`` scope (``--key`` or ``HASHWALL_KEY``).

- ``matches list``: the platform's matches that await a verdict, oldest first, a page at a
  time (``--after`` the last match ref of the previous page). ``--json``: ``{"matches":
  [{"match_ref", "check_id", "decision", "created_at"}], "next_after"}``
  (``distance``/``orientation`` too where the platform's policy reveals them; ``next_after``
  is the ref to pass as ``--after`` for the next page when this one was full, else null).
- ``verdict MATCH_REF confirmed|not_ncii|csam [--upload FILE]``: the reviewer's verdict on one
  match (``not_ncii`` exempts the upload on this platform). The service keeps the upload each
  match was made on; ``--upload`` names that file so the service can make sure the verdict is
  about it: it is hashed here and only its PDQ and sha256 are sent (another file is
  ``upload_mismatch``). ``--json``: ``{"match_ref", "verdict", "recorded"}`` (``recorded``
  false: the item has left the bank).

Failures: ``code: message`` on stderr (``{"error": ...}`` with ``--json``), exit code 1.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hashwall.cli.output import fail, print_json
from hashwall.cli.remote import JsonOption, KeyOption, ServerOption
from hashwall.errors import HashwallError, InvalidKey

matches_app = typer.Typer(
    name="matches",
    help="Platforms: the matches awaiting your reviewers' verdict.",
    no_args_is_help=True,
)


class VerdictChoice(StrEnum):
    """What a reviewer can say about a match."""

    confirmed = "confirmed"
    not_ncii = "not_ncii"
    csam = "csam"


def _need_key(key: str | None, json_out: bool) -> str:
    if not key:
        fail(InvalidKey("a platform key with the verdict scope is needed: --key or HASHWALL_KEY"),
             json_out)  # fmt: skip
    return key


@matches_app.command("list")
def matches_list(
    server: ServerOption,
    key: KeyOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="Matches per page.")] = 100,
    after: Annotated[
        str | None, typer.Option("--after", help="Continue after this match ref.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """List this platform's matches awaiting a verdict, oldest first (one page)."""
    from hashwall.client import Client

    secret = _need_key(key, json_out)
    try:
        with Client(server, key=secret) as client:
            pending = client.pending_matches(limit=limit, after=after)
    except HashwallError as exc:
        fail(exc, json_out)
    next_after = pending[-1].match_ref if len(pending) == limit else None
    if json_out:
        print_json(
            {"matches": [m.model_dump(mode="json") for m in pending], "next_after": next_after}
        )
        return
    console = Console(highlight=False)
    if not pending:
        console.print("No match awaits a verdict.")
        return
    table = Table(show_lines=False)
    for column in ("match", "check", "decision", "distance", "orientation", "created"):
        table.add_column(column, no_wrap=column in ("match", "check"))
    for m in pending:
        table.add_row(
            m.match_ref,
            m.check_id,
            m.decision,
            "" if m.distance is None else str(m.distance),
            m.orientation or "",
            f"{m.created_at:%Y-%m-%d %H:%M:%S}",
        )
    console.print(table)
    if next_after:
        console.print(f"more: --after {next_after}")


def verdict_command(
    match_ref: Annotated[str, typer.Argument(help="The match ref (mch_...), from a check.")],
    verdict: Annotated[VerdictChoice, typer.Argument(help="confirmed, not_ncii or csam.")],
    server: ServerOption,
    upload: Annotated[
        Path | None,
        typer.Option(
            "--upload",
            help="The uploaded file the match was made on (hashed here; checked against it).",
        ),
    ] = None,
    key: KeyOption = None,
    json_out: JsonOption = False,
) -> None:
    """Send a reviewer's verdict on a match: confirmed, not_ncii (exempts the upload) or csam."""
    from hashwall.client import Client
    from hashwall.hashing.image import hash_file
    from hashwall.settings import Settings

    secret = _need_key(key, json_out)
    try:
        hashes = hash_file(upload, fast=True, settings=Settings()) if upload else None
        with Client(server, key=secret) as client:
            result = client.verdict(match_ref, verdict.value, upload=hashes)
    except HashwallError as exc:
        fail(exc, json_out)
    if json_out:
        print_json(result.model_dump(mode="json"))
    elif result.recorded:
        Console(highlight=False).print(f"Recorded {result.verdict} on {result.match_ref}.")
    else:
        Console(highlight=False).print(
            f"Not recorded: the item of {result.match_ref} has left the bank (withdrawn or "
            "deleted)."
        )
