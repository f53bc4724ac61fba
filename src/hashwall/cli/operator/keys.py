"""The operator's ``key`` commands: create (the key shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from hashwall.api import mapping
from hashwall.cli.forms import wire_json
from hashwall.cli.operator.session import run_operator
from hashwall.cli.output import JsonOption, print_json, show, table, when
from hashwall.service import keys as key_service

key_app = typer.Typer(
    name="key", help="API keys: create (shown once), list, revoke.", no_args_is_help=True
)


# --- API keys --------------------------------------------------------------------------------


def _print_keys(keys: list[key_service.KeyInfo]) -> None:
    rows = table("id", "role", "owner", "scopes", "label", "created", "revoked")
    for key in keys:
        owner = key.platform or key.partner or ""
        rows.add_row(
            key.key_id,
            key.role,
            owner,
            ", ".join(key.scopes),
            key.label or "",
            when(key.created_at),
            when(key.revoked_at),
        )
    show(rows, "No API keys yet: `hashwall key create --role admin`.")


@key_app.command("create")
def key_create(
    role: Annotated[str, typer.Option("--role", help="admin, intake or platform.")],
    platform: Annotated[
        str | None, typer.Option("--platform", help="The platform (platform keys).")
    ] = None,
    partner: Annotated[
        str | None, typer.Option("--partner", help="The intake partner (intake keys).")
    ] = None,
    scopes: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="check, feed or verdict; repeat for several (platform keys; default: all).",
        ),
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="A note for people.")] = None,
    json_out: JsonOption = False,
) -> None:
    """Create an API key. The full key is printed once; only its hash is stored."""
    created = run_operator(
        json_out,
        lambda ctx, actor: key_service.create_api_key(
            ctx,
            actor,
            role=role,
            platform=platform,
            partner=partner,
            scopes=scopes or None,
            label=label,
        ),
    )
    if json_out:
        print_json(wire_json(mapping.created_key(created)))
        return
    info = created.info
    owner = f" for {info.platform or info.partner}" if (info.platform or info.partner) else ""
    scopes_text = f", scopes {', '.join(info.scopes)}" if info.scopes else ""
    console = Console()
    console.print(
        f"Created {info.role} key {info.key_id}{escape(owner)}{scopes_text}.", highlight=False
    )
    console.print("The key is shown only this once; store it now:", highlight=False)
    console.print(created.key, highlight=False, soft_wrap=True)


@key_app.command("list")
def key_list(
    active: Annotated[bool, typer.Option("--active", help="Hide revoked keys.")] = False,
    json_out: JsonOption = False,
) -> None:
    """List API keys (never their secrets)."""
    keys = run_operator(
        json_out,
        lambda ctx, actor: key_service.list_api_keys(ctx, actor, include_revoked=not active),
    )
    if json_out:
        print_json({"keys": [wire_json(mapping.api_key(k)) for k in keys]})
    else:
        _print_keys(keys)


@key_app.command("revoke")
def key_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (key_...).")],
    json_out: JsonOption = False,
) -> None:
    """Revoke an API key: from now on it authenticates nothing."""
    key = run_operator(json_out, lambda ctx, actor: key_service.revoke_api_key(ctx, actor, key_id))
    if json_out:
        print_json(wire_json(mapping.api_key(key)))
    else:
        Console().print(f"Revoked key {key.key_id} at {when(key.revoked_at)}.", highlight=False)
