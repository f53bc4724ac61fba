"""How every command prints: one JSON document per line, or ``code: message`` on stderr; and the
tables, timestamps and options that the operator's commands share."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated, Any, NoReturn, Protocol

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hashwall.errors import HashwallError

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
LimitOption = Annotated[int, typer.Option("--limit", help="Most rows to show.", min=1, max=1000)]


def print_json(document: Any) -> None:
    """One JSON document on one line of stdout."""
    sys.stdout.write(json.dumps(document, default=str) + "\n")
    sys.stdout.flush()


def progress_bar(
    label: str = "{task.description}",
    *,
    show: bool = True,
    eta: bool = True,
    console: Console | None = None,
) -> Progress:
    """The commands' progress bar on standard error: ``label``, a bar, done of total and (with
    ``eta``) the time left; drawn only when ``show`` and standard error is a terminal, and
    gone when done."""
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    if eta:
        columns.append(TimeRemainingColumn())
    return Progress(
        *columns,
        console=console or Console(stderr=True),
        disable=not (show and sys.stderr.isatty()),
        transient=True,
    )


def fail(error: HashwallError, json_out: bool, exit_code: int = 1) -> NoReturn:
    """Print ``code: message`` on stderr (``{"error": ...}`` on stdout with --json) and exit."""
    if json_out:
        print_json({"error": error.to_dict()})
    else:
        Console(stderr=True).print(
            f"[red]{error.code}[/red]: {escape(error.message)}", highlight=False, soft_wrap=True
        )
    raise typer.Exit(exit_code)


def when(value: datetime | None) -> str:
    """A timestamp for a table cell (empty for none)."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def short(text: str, width: int = 60) -> str:
    """``text`` cut to ``width`` characters, with an ellipsis when cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


#: Columns people copy from (ids, refs, names, actions): never wrapped.
_NO_WRAP = frozenset({"id", "item", "name", "action", "value"})


def table(*columns: str) -> Table:
    """A table with these columns; ids, refs, names, actions and values are never wrapped."""
    out = Table(show_lines=False)
    for column in columns:
        out.add_column(column, overflow="fold", no_wrap=column in _NO_WRAP)
    return out


def show(rows: Table, empty: str) -> None:
    """Print the table, or ``empty`` when it has no rows."""
    console = Console()
    if rows.row_count:
        console.print(rows)
    else:
        console.print(empty)


class StateChange(Protocol):
    """An item's change of state, as the quarantine and item commands report it."""

    @property
    def item_ref(self) -> str: ...
    @property
    def previous_state(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def event_seq(self) -> int: ...


def print_change(change: StateChange, verb: str) -> None:
    """``<verb> itm_...: previous -> state (event N).``"""
    Console().print(
        f"{verb} {change.item_ref}: {change.previous_state} -> {change.state}"
        f" (event {change.event_seq}).",
        highlight=False,
    )
