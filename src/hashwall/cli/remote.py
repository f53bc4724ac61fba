"""What the commands that talk to a hashwall server share: options, the client, failures.

``--server`` and ``--key`` may come from ``HASHWALL_SERVER`` and ``HASHWALL_KEY``, so that a
key need not be typed on a command line (where other users of the machine can see it).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from hashwall.errors import HashwallError

ServerOption = Annotated[
    str,
    typer.Option(
        "--server",
        envvar="HASHWALL_SERVER",
        help="Base URL of the hashwall service, e.g. http://127.0.0.1:8000 (HASHWALL_SERVER).",
        show_default=False,
    ),
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        envvar="HASHWALL_KEY",
        help="API key <key_id>.<secret> (HASHWALL_KEY; prefer it to the command line).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (see the command's help).")]


def print_json(document: Any) -> None:
    """One JSON document on one line of stdout."""
    sys.stdout.write(json.dumps(document, default=str) + "\n")
    sys.stdout.flush()


def error_document(error: HashwallError) -> dict[str, str]:
    """``{"code", "message"}`` of an error (the server's code for :class:`ApiError`)."""
    return {"code": error.code, "message": error.message}


def fail(error: HashwallError, json_out: bool, exit_code: int = 1) -> NoReturn:
    """Print ``code: message`` on stderr (``{"error": ...}`` on stdout with --json) and exit."""
    if json_out:
        print_json({"error": error_document(error)})
    else:
        Console(stderr=True).print(
            f"[red]{error.code}[/red]: {escape(error.message)}", highlight=False, soft_wrap=True
        )
    raise typer.Exit(exit_code)
