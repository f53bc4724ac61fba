"""``hashwall export`` and ``hashwall import``: hash lists out of and into the bank (operator).

``hashwall export [--format csv|jsonl] [--output FILE]`` writes the live bank, one signal a line
(``signal_type,value,trust,item_ref``; :mod:`hashwall.service.lists`), to stdout or to FILE
(mode 0600: signals are sensitive); ``--feed-copy bank.json`` writes a platform's feed copy in
the same shape. ``hashwall import FILE --partner NAME --label TEXT`` banks a
list (csv, jsonl, or the tooling's ``TYPE VALUE`` lines) as one case of an intake partner;
``--exchange NAME`` pulls the list from a ``threatexchange`` collaboration instead of a file.

``--json`` prints one object: for export ``{"signals", "file"}`` (on stderr when the list goes to
stdout), for import the report ``{"partner", "label", "lines", "items_banked",
"signals_banked", "already_banked", "refused", "case_number", "refusals": [{"line", "code",
"message"}]}``. Exit code 0 (refused lines included), 1 when nothing could be read or written.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from hashwall.cli import forms
from hashwall.cli.operator import run_operator
from hashwall.cli.output import JsonOption, fail, print_json
from hashwall.errors import HashwallError, InvalidInput

if TYPE_CHECKING:
    from hashwall.service.lists import ImportReport

#: Refused lines shown to people (``--json`` gives them all).
SHOWN_REFUSALS = 20


def register_lists_commands(app: typer.Typer) -> None:
    """Add ``export`` and ``import`` to the ``hashwall`` app."""
    app.command("export")(export_command)
    app.command("import")(import_command)


def export_command(
    fmt: Annotated[
        str, typer.Option("--format", help="csv (signal_type,value,trust,item_ref) or jsonl.")
    ] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
    ] = None,
    feed_copy: Annotated[
        Path | None,
        typer.Option(
            help="Export a platform's feed copy (the --dir of `hashwall feed sync`, "
            "or a JSON copy)."
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Write the live bank as a hash list (never withdrawn or deleted items)."""
    from hashwall.service.list_formats import feed_copy_lines, write_list
    from hashwall.service.lists import export_bank

    if fmt not in ("csv", "jsonl"):
        fail(InvalidInput("--format is csv or jsonl"), json_out)
    copy_items: dict[str, Any] | None = None
    if feed_copy is not None:
        try:
            if feed_copy.is_dir():
                from hashwall.service.feed_copy import FeedCopy

                copy_items = dict(FeedCopy.read_view(feed_copy)[1].items())
            else:
                copy_items = json.loads(feed_copy.read_text(encoding="utf-8"))["items"]
        except HashwallError as exc:
            fail(exc, json_out)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            fail(InvalidInput(f"cannot read the feed copy {feed_copy}: {exc}"), json_out)

    def write(out: TextIO) -> int:
        if copy_items is not None:
            return write_list(feed_copy_lines(copy_items), out, fmt)  # type: ignore[arg-type]
        return run_operator(
            json_out,
            lambda ctx, actor: write_list(export_bank(ctx, actor), out, fmt),  # type: ignore[arg-type]
        )

    if output is None:
        count = write(sys.stdout)
    else:
        try:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                count = write(out)
        except OSError as exc:
            fail(InvalidInput(f"cannot write {output}: {exc.strerror}"), json_out)
    summary = {"signals": count, "file": str(output) if output else None}
    if json_out and output is not None:
        print_json(summary)
    else:
        message = json.dumps(summary) if json_out else f"exported {count} signal(s)"
        Console(stderr=True).print(message, highlight=False, soft_wrap=True)


@contextmanager
def _import_progress() -> Iterator[Callable[[ImportReport], None]]:
    """A progress line on standard error while a list is imported (a terminal only): lines
    read, items banked, already banked and refused so far, after each batch."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not sys.stderr.isatty(),
        transient=True,
    ) as progress:
        task = progress.add_task("importing", total=None)

        def on_batch(report: ImportReport) -> None:
            progress.update(
                task,
                description=(
                    f"importing: {report.lines:,} line(s) read, {report.items_banked:,} "
                    f"item(s) banked, {report.already_banked:,} already banked, "
                    f"{len(report.refused):,} refused"
                ),
            )

        yield on_batch


def import_command(
    file: Annotated[Path | None, typer.Argument(help="The list (csv, jsonl or txt).")] = None,
    partner: Annotated[str, typer.Option(help="The intake partner the cases belong to.")] = "",
    label: Annotated[str, typer.Option(help="What the list is (kept in the audit log).")] = "",
    exchange: Annotated[
        str | None,
        typer.Option(help="Pull the list from this threatexchange collaboration (or `sample`)."),
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv, jsonl or txt (default: the file's suffix).")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Items per transaction.")] = 1000,
    json_out: JsonOption = False,
) -> None:
    """Bank a hash list as one case of an intake partner (idempotent: re-running banks nothing
    new)."""
    from hashwall.service.list_formats import format_for, read_list
    from hashwall.service.lists import import_list

    if not partner or not label:
        fail(InvalidInput("name the intake partner (--partner) and the list (--label)"), json_out)
    if (file is None) == (exchange is None):
        fail(InvalidInput("give a FILE or --exchange NAME, one of them"), json_out)
    if exchange is not None:
        try:
            from hashwall.interop.exchange_import import exchange_lines
        except ImportError as exc:
            fail(InvalidInput(str(exc)), json_out)
        with _import_progress() as on_batch:
            report = run_operator(
                json_out,
                lambda ctx, actor: import_list(
                    ctx,
                    actor,
                    exchange_lines(exchange),
                    partner=partner,
                    label=label,
                    batch=batch,
                    on_batch=on_batch,
                ),
            )
    else:
        assert file is not None
        try:
            kind = format_for(file.name, fmt)
            stream = file.open(encoding="utf-8", newline="")
        except InvalidInput as exc:
            fail(exc, json_out)
        except OSError as exc:
            fail(InvalidInput(f"cannot read {file}: {exc.strerror}"), json_out)
        with stream, _import_progress() as on_batch:
            report = run_operator(
                json_out,
                lambda ctx, actor: import_list(
                    ctx,
                    actor,
                    read_list(stream, kind),
                    partner=partner,
                    label=label,
                    batch=batch,
                    on_batch=on_batch,
                ),
            )
    if json_out:
        print_json(forms.import_report(report))
        return
    console = Console()
    console.print(
        f"{report.lines} line(s): banked {report.items_banked} item(s) "
        f"({report.signals_banked} signal(s)) for {report.partner}"
        + (f" in case {report.case_number}" if report.case_number else "")
        + f"; {report.already_banked} item(s) already banked"
        + f"; {len(report.refused)} line(s) refused",
        highlight=False,
        soft_wrap=True,
    )
    for refusal in report.refused[:SHOWN_REFUSALS]:
        console.print(f"  line {refusal.line}: {refusal.code}: {refusal.message}", highlight=False)
    if len(report.refused) > SHOWN_REFUSALS:
        console.print(f"  ... and {len(report.refused) - SHOWN_REFUSALS} more (--json: all)")
