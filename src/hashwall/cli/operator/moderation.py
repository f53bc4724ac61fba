"""The operator's moderation commands: ``quarantine`` (items quarantined by not-NCII verdicts)
and ``allowlist`` (signals of images known not to be NCII)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hashwall.api import mapping
from hashwall.cli.forms import wire_json
from hashwall.cli.operator.session import run_operator
from hashwall.cli.output import JsonOption, LimitOption, print_change, print_json, show, table, when
from hashwall.domain import Actor
from hashwall.hashing.signals import SIGNAL_TYPES, Signal
from hashwall.service import moderation
from hashwall.service.context import ServiceContext
from hashwall.settings import Settings

quarantine_app = typer.Typer(
    name="quarantine",
    help="Items quarantined by not-NCII verdicts: reinstate or delete.",
    no_args_is_help=True,
)
allowlist_app = typer.Typer(
    name="allowlist",
    help="Signals of images known not to be NCII (never banked or matched).",
    no_args_is_help=True,
)


# --- quarantine ------------------------------------------------------------------------------


@quarantine_app.command("list")
def quarantine_list(
    limit: LimitOption = 100,
    after: Annotated[
        str | None, typer.Option("--after", help="Continue after this item ref.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """List quarantined items, oldest first."""
    queue = run_operator(
        json_out,
        lambda ctx, actor: moderation.list_quarantine(ctx, actor, limit=limit, after=after),
    )
    if json_out:
        print_json({"items": [wire_json(mapping.quarantined_item(item)) for item in queue]})
        return
    rows = table(
        "item", "kind", "trust", "csam", "not-NCII verdicts", "organisations", "quarantined"
    )
    for item in queue:
        rows.add_row(
            item.item_ref,
            item.kind,
            item.trust,
            "yes" if item.csam else "",
            str(item.not_ncii_verdicts),
            str(item.not_ncii_organisations),
            when(item.state_changed_at),
        )
    show(rows, "The quarantine is empty.")


@quarantine_app.command("reinstate")
def quarantine_reinstate(
    item_ref: Annotated[str, typer.Argument(help="The item ref (itm_...).")],
    json_out: JsonOption = False,
) -> None:
    """Return a quarantined item to the active bank."""
    change = run_operator(
        json_out, lambda ctx, actor: moderation.reinstate_item(ctx, actor, item_ref)
    )
    if json_out:
        print_json(wire_json(mapping.state_change(change)))
    else:
        print_change(change, "Reinstated")


@quarantine_app.command("delete")
def quarantine_delete(
    item_ref: Annotated[str, typer.Argument(help="The item ref (itm_...).")],
    json_out: JsonOption = False,
) -> None:
    """Delete a quarantined item for good: its hash values are erased everywhere.

    Only quarantined items; an active one is deleted with `hashwall item delete --reason`.
    """
    change = run_operator(
        json_out, lambda ctx, actor: moderation.delete_quarantined_item(ctx, actor, item_ref)
    )
    if json_out:
        print_json(wire_json(mapping.state_change(change)))
    else:
        print_change(change, "Deleted")


# --- allowlist -------------------------------------------------------------------------------

_SIGNAL_ARGUMENT = re.compile(r"(?P<type>[a-z0-9_]+):(?P<value>.*)")


def allowlist_signals(arguments: list[str], settings: Settings) -> list[Signal]:
    """Signals from ``TYPE:HEX`` arguments and image paths (hashed here, locally).

    An argument ``TYPE:VALUE`` with a known signal type is a signal (validated: ``invalid_hash``)
    unless a file of that name exists. An image gives its md5 and sha256, and its PDQ hash when
    usable (quality >= 50) with the PDQ hashes of its 8 orientations: a rotated or mirrored copy
    is then refused and never blocks either.
    """
    from hashwall.hashing.image import hash_file

    out: list[Signal] = []
    for argument in arguments:
        match = _SIGNAL_ARGUMENT.fullmatch(argument)
        if match is not None and match["type"] in SIGNAL_TYPES and not Path(argument).exists():
            out.append(Signal.parse({"type": match["type"], "value": match["value"]}))
            continue
        hashes = hash_file(Path(argument), settings=settings, orientations=True)
        out.extend(hashes.signals())
        if hashes.usable and hashes.orientations:
            turned = (Signal("pdq", h.hex, hashes.quality) for h in hashes.orientations)
            out.extend(s for s in turned if s not in out)
    return out


@allowlist_app.command("add")
def allowlist_add(
    signals_or_files: Annotated[
        list[str],
        typer.Argument(
            help="Signals as TYPE:HEX (pdq:..., md5:..., sha256:...) or image files to hash."
        ),
    ],
    note: Annotated[str | None, typer.Option("--note", help="Why (e.g. stock photo).")] = None,
    json_out: JsonOption = False,
) -> None:
    """Allowlist images known not to be NCII: refused at intake, never matched."""

    def run(ctx: ServiceContext, actor: Actor) -> list[moderation.AllowlistInfo]:
        signals = allowlist_signals(signals_or_files, ctx.settings)
        return moderation.add_to_allowlist(ctx, actor, signals, note=note)

    entries = run_operator(json_out, run)
    if json_out:
        print_json({"entries": [wire_json(mapping.allowlist_entry(e)) for e in entries]})
    else:
        _print_allowlist(entries, show_added=True)


def _print_allowlist(entries: list[moderation.AllowlistInfo], *, show_added: bool = False) -> None:
    columns = ["id", "type", "value", "quality", "note", "created"]
    if show_added:
        columns.append("added")
    rows = table(*columns)
    for e in entries:
        row = [
            str(e.id),
            e.type,
            e.value,
            "" if e.quality is None else str(e.quality),
            e.note or "",
            when(e.created_at),
        ]
        if show_added:
            row.append("yes" if e.added else "already there")
        rows.add_row(*row)
    show(rows, "The allowlist is empty.")


@allowlist_app.command("list")
def allowlist_list(
    signal_type: Annotated[
        str | None, typer.Option("--type", help="Only this signal type.")
    ] = None,
    limit: LimitOption = 100,
    after: Annotated[int, typer.Option("--after", help="Continue after this entry id.")] = 0,
    json_out: JsonOption = False,
) -> None:
    """List allowlist entries."""
    entries = run_operator(
        json_out,
        lambda ctx, actor: moderation.list_allowlist(
            ctx, actor, signal_type=signal_type, limit=limit, after_id=after
        ),
    )
    if json_out:
        print_json({"entries": [wire_json(mapping.allowlist_entry(e)) for e in entries]})
    else:
        _print_allowlist(entries)


@allowlist_app.command("remove")
def allowlist_remove(
    entry_id: Annotated[int, typer.Argument(help="The entry id (see `allowlist list`).")],
    json_out: JsonOption = False,
) -> None:
    """Remove an allowlist entry."""
    run_operator(
        json_out, lambda ctx, actor: moderation.remove_from_allowlist(ctx, actor, entry_id)
    )
    if json_out:
        print_json({"removed": entry_id})
    else:
        Console().print(f"Removed allowlist entry {entry_id}.", highlight=False)
