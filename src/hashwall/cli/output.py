"""How every command prints: one JSON document per line, or ``code: message`` on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from hashwall.errors import HashwallError


def print_json(document: Any) -> None:
    """One JSON document on one line of stdout."""
    sys.stdout.write(json.dumps(document, default=str) + "\n")
    sys.stdout.flush()


def fail(error: HashwallError, json_out: bool, exit_code: int = 1) -> NoReturn:
    """Print ``code: message`` on stderr (``{"error": ...}`` on stdout with --json) and exit."""
    if json_out:
        print_json({"error": error.to_dict()})
    else:
        Console(stderr=True).print(
            f"[red]{error.code}[/red]: {escape(error.message)}", highlight=False, soft_wrap=True
        )
    raise typer.Exit(exit_code)
