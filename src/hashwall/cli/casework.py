"""The operator's casework on the store: ``case show``, ``case erase``, ``item delete``,
``csam list``.

Like the other operator commands (:mod:`hashwall.cli.operator`) they work directly on the
configured store (``HASHWALL_DATABASE_URL``) as the operator, with no key. With ``--json``:

- ``case show``: ``{"case_number", "channel", "partner", "status", "created_at",
  "withdrawn_at", "removed_at", "items": [{"item", "kind", "trust", "state", "csam",
  "created_at", "state_changed_at", "matches", "verdicts"}]}``; never a hash value or the PIN;
- ``case erase``: ``{"case_number", "deleted_items", "already_removed", "removed_at"}``;
- ``item delete``: ``{"item", "previous_state", "state", "event_seq"}``;
- ``csam list``: ``{"items": [{"item", "case_number", "kind", "trust", "state", "created_at",
  "csam_verdicts", "platforms", "first_flagged_at"}]}``.

Failures: ``code: message`` on stderr (``{"error": ...}`` with ``--json``), exit code 1.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from hashwall.api import mapping
from hashwall.cli import case as case_cli
from hashwall.cli.forms import wire_json
from hashwall.cli.operator.session import run_operator as run
from hashwall.cli.output import (
    JsonOption,
    LimitOption,
    fail,
    print_change,
    print_json,
    show,
    table,
    when,
)
from hashwall.errors import InvalidInput
from hashwall.service import casework, verdicts

CaseNumber = Annotated[str, typer.Argument(help="The case number, e.g. HW-7K2D-Q9XM-4TRB.")]
ReasonOption = Annotated[
    str,
    typer.Option(
        "--reason",
        help="Why, for the audit log (e.g. 'erasure request by letter, ticket 4711'); "
        "no personal data.",
    ),
]

item_app = typer.Typer(name="item", help="Operator: one banked item.", no_args_is_help=True)
csam_app = typer.Typer(
    name="csam",
    help="Operator: items reviewers flagged as CSAM, for the operator's legal duties.",
    no_args_is_help=True,
)


def case_show(case_number: CaseNumber, json_out: JsonOption = False) -> None:
    """Operator, on the store: a case by its number, its items and their matches (no hashes)."""
    record = run(json_out, lambda ctx, actor: casework.find_case(ctx, actor, case_number))
    if json_out:
        print_json(wire_json(mapping.case_record(record)))
        return
    console = Console(highlight=False)
    partner = f", filed by {escape(record.partner)}" if record.partner else ""
    console.print(
        f"case {record.case_number}: [bold]{record.status}[/bold] ({record.channel}{partner}),"
        f" opened {when(record.created_at)}"
        + (f", withdrawn {when(record.withdrawn_at)}" if record.withdrawn_at else "")
        + (f", removed {when(record.removed_at)}" if record.removed_at else "")
    )
    rows = table("item", "kind", "trust", "state", "csam", "matches", "verdicts", "created")
    for item in record.items:
        verdicts = ", ".join(f"{n} {kind}" for kind, n in sorted(item.verdicts.items()))
        rows.add_row(
            item.item_ref,
            item.kind,
            item.trust,
            item.state,
            "yes" if item.csam else "",
            str(item.matches),
            verdicts,
            when(item.created_at),
        )
    show(rows, "The case holds no items.")


def case_erase(
    case_number: CaseNumber,
    reason: ReasonOption,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Operator, on the store: erase a case at the person's request.

    Every item still in the bank is deleted (its fingerprints erased everywhere, at once); the
    case is closed and its status tells the person the service removed it. The reason goes to
    the audit log (action case_erased). Asks for confirmation on a terminal; elsewhere it
    needs --yes.
    """
    if not yes and not case_cli.stdin_is_terminal():
        fail(
            InvalidInput(
                f"not erasing case {case_number}: standard input is not a terminal, so there is "
                "no one to confirm; add --yes"
            ),
            json_out,
        )
    if not yes:
        typer.confirm(
            f"Erase case {case_number} and delete its items? This cannot be undone",
            abort=True,
            err=True,
        )
    erased = run(
        json_out, lambda ctx, actor: casework.erase_case(ctx, actor, case_number, reason=reason)
    )
    if json_out:
        print_json(wire_json(mapping.case_erasure(erased)))
    elif erased.already_removed:
        Console(highlight=False).print(
            f"case {erased.case_number} was already erased on {when(erased.removed_at)}: "
            "nothing changed."
        )
    else:
        Console(highlight=False).print(
            f"Erased case {erased.case_number}: {len(erased.deleted_items)} item(s) deleted; "
            "its status now says the service removed it."
        )


@item_app.command("delete")
def item_delete(
    item_ref: Annotated[str, typer.Argument(help="The item ref (itm_...).")],
    reason: ReasonOption,
    json_out: JsonOption = False,
) -> None:
    """Delete one item that is in the bank (active or quarantined), with a reason.

    Its fingerprints are erased everywhere, at once. For a quarantined item the usual decision
    is `hashwall quarantine delete`; this is for the rest (a court order, a mistaken item).
    """
    change = run(
        json_out,
        lambda ctx, actor: casework.delete_active_item(ctx, actor, item_ref, reason=reason),
    )
    if json_out:
        print_json(wire_json(mapping.state_change(change)))
    else:
        print_change(change, "Deleted")


@item_app.command("confirm")
def item_confirm(
    item_ref: Annotated[str, typer.Argument(help="The item ref (itm_...).")],
    json_out: JsonOption = False,
) -> None:
    """Confirm an item for everyone: it blocks on every platform.

    One organisation's reviewers confirm an item for that organisation's platforms only; it
    blocks everywhere once several organisations did, a partner vouched, or the operator
    confirms it here (docs/trust.md).
    """
    confirmed = run(json_out, lambda ctx, actor: verdicts.confirm_item(ctx, actor, item_ref))
    if json_out:
        print_json(wire_json(mapping.confirmed(confirmed)))
    elif confirmed.changed:
        typer.echo(f"Confirmed {confirmed.item_ref}: it blocks on every platform.")
    else:
        typer.echo(f"{confirmed.item_ref} is already {confirmed.trust}: nothing changed.")


@csam_app.command("list")
def csam_list(
    limit: LimitOption = 100,
    after: Annotated[
        str | None, typer.Option("--after", help="Continue after this item ref.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Items a platform's reviewer flagged as CSAM, oldest first (they keep blocking)."""
    flagged = run(
        json_out, lambda ctx, actor: casework.list_csam(ctx, actor, limit=limit, after=after)
    )
    if json_out:
        print_json({"items": [wire_json(mapping.flagged_item(item)) for item in flagged]})
        return
    rows = table("item", "case", "kind", "state", "csam verdicts", "platforms", "first flagged")
    for item in flagged:
        rows.add_row(
            item.item_ref,
            item.case_number,
            item.kind,
            item.state,
            str(item.csam_verdicts),
            ", ".join(item.platforms),
            when(item.first_flagged_at),
        )
    show(rows, "No item is flagged as CSAM.")


def register_casework_commands(app: typer.Typer, case_app: typer.Typer) -> None:
    """Add ``case show``/``case erase`` to the ``case`` group, and the ``item``, ``csam`` groups."""
    case_app.command("show")(case_show)
    case_app.command("erase")(case_erase)
    app.add_typer(item_app, name="item")
    app.add_typer(csam_app, name="csam")
