"""The operator's commands: ``org``, ``platform``, ``partner``, ``key``, ``quarantine``,
``allowlist``, ``audit`` and ``retention``, one module per command group.

They work directly on the configured store (``HASHWALL_DATABASE_URL``, default
``sqlite:///./var/hashwall.db``) as the operator (no key), so the first admin key needs none
(:mod:`hashwall.cli.operator.session`).

Each command parses, calls one use case of :mod:`hashwall.service.operator` (or
:mod:`hashwall.service.retention`) and formats: rich tables for people, or with ``--json``
exactly one JSON document on stdout. Listings print ``{"<things>": [...]}``; single results print
the object itself.

On failure nothing but ``code: message`` goes to stderr (``{"error": {"code", "message"}}`` on
stdout with ``--json``) and the exit code is 1; never a traceback.
"""

from __future__ import annotations

import typer

from hashwall.cli.operator.keys import key_app
from hashwall.cli.operator.moderation import allowlist_app, quarantine_app
from hashwall.cli.operator.records import audit_command, retention_app
from hashwall.cli.operator.session import run_operator
from hashwall.cli.operator.tenancy import org_app, partner_app, platform_app

__all__ = ["register_operator_commands", "run_operator"]


def register_operator_commands(app: typer.Typer) -> None:
    """Add the operator's command groups and ``audit`` to the ``hashwall`` app."""
    app.add_typer(org_app, name="org")
    app.add_typer(platform_app, name="platform")
    app.add_typer(partner_app, name="partner")
    app.add_typer(key_app, name="key")
    app.add_typer(quarantine_app, name="quarantine")
    app.add_typer(allowlist_app, name="allowlist")
    app.add_typer(retention_app, name="retention")
    app.command("audit")(audit_command)
