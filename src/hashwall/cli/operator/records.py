"""The operator's records: the ``audit`` log and the ``retention`` of match records."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from hashwall.api import mapping
from hashwall.cli.forms import wire_json
from hashwall.cli.operator.session import run_operator
from hashwall.cli.output import JsonOption, LimitOption, print_json, short, show, table, when
from hashwall.service import audit

retention_app = typer.Typer(
    name="retention", help="Deletion of old match records.", no_args_is_help=True
)


# --- retention -------------------------------------------------------------------------------


@retention_app.command("run")
def retention_run(json_out: JsonOption = False) -> None:
    """Delete match records older than each platform's retention days (run it daily)."""
    from hashwall.service.retention import run_retention

    report = run_operator(json_out, run_retention)
    if json_out:
        print_json(wire_json(mapping.retention_report(report)))
        return
    rows = table("platform", "retention days", "deleted before", "deleted")
    for p in report.platforms:
        rows.add_row(p.platform, str(p.retention_days), when(p.cutoff), str(p.deleted))
    show(rows, "No platforms: nothing to do.")
    Console().print(f"{report.deleted} match record(s) deleted.", highlight=False)


# --- audit -----------------------------------------------------------------------------------


def audit_command(
    limit: LimitOption = 50,
    action: Annotated[str | None, typer.Option("--action", help="Only this action.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Only this acting key id.")] = None,
    before: Annotated[
        int | None, typer.Option("--before", help="Entries older than this id.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Show the audit log, newest first (every state change and every feed read).

    The actor is a role and a name: operator, admin:KEY_ID, partner:NAME, platform:NAME, or
    reporter (the anonymous channel).
    """
    entries = run_operator(
        json_out,
        lambda ctx, actor: audit.list_audit(
            ctx, actor, limit=limit, before_id=before, actor_key_id=key, action=action
        ),
    )
    if json_out:
        print_json({"audit": [wire_json(mapping.audit_record(e)) for e in entries]})
        return
    rows = table("id", "when", "actor", "action", "target", "details")
    for e in entries:
        rows.add_row(
            str(e.id),
            when(e.created_at),
            e.actor,
            e.action,
            e.target or "",
            short(json.dumps(e.details, sort_keys=True)) if e.details else "",
        )
    show(rows, "The audit log is empty.")
