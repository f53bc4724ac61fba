"""What the commands that talk to a hashwall server share: options, the client, failures.

``--server`` and ``--key`` may come from ``HASHWALL_SERVER`` and ``HASHWALL_KEY``, so that a
key need not be typed on a command line (where other users of the machine can see it).
"""

from __future__ import annotations

from typing import Annotated

import typer

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
