"""``hashwall demo setup``: a demo world on the configured store, created once (``make run``).

Creates an organisation (``Demo Co``) with three platforms (``demo-social``, a social feed;
``demo-messenger``; ``demo-photos``, a photo app), an intake partner (``Demo Helpline``), and
one key each plus an admin key, all labelled ``demo``. The keys' secrets exist only in the
answer (the store keeps their hashes), so they are saved in ``--keys-file`` (default
``./var/demo-keys.json``, mode 0600) and printed again by the next run.

Idempotent: a run whose keys file holds keys that still work on this store changes nothing and
prints them. Otherwise what is missing is created, earlier ``demo`` keys are revoked and new ones
are made and saved. Works on the store directly as the operator (``HASHWALL_DATABASE_URL``); the
schema must exist (``hashwall db upgrade``).

The keys are followed by what to do next (:func:`next_steps`): an ``export
HASHWALL_SERVER=... PLATFORM_KEY=... INTAKE_KEY=... ADMIN_KEY=...`` line to copy into another
terminal, and three commands to try: bank a photo as the partner, check it as the first
platform, withdraw the case.

The addresses come first: ``/report`` and ``/case`` (the reporter's pages) and ``/demo``, which
plays the first platform with its key held by the server; a server serves ``/demo`` only with
``HASHWALL_DEMO_KEYS_FILE`` naming the keys file (``make run`` sets it), never otherwise.

``--json`` prints ``{"created", "keys_file", "database", "urls": {"report", "case", "demo",
"api", "docs", "openapi"}, "admin_key", "platforms": [{"name", "description", "key"}],
"partner": {"name", "key"}}``.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.console import Console

from hashwall.cli.feed import write_atomically
from hashwall.cli.operator import run_operator
from hashwall.cli.output import print_json
from hashwall.domain import Actor
from hashwall.errors import AlreadyExists, InvalidKey
from hashwall.service import auth, tenants
from hashwall.service import keys as key_service
from hashwall.service.context import ServiceContext
from hashwall.settings import Settings
from hashwall.store.engine import redact

ORGANISATION: Final = "Demo Co"
PLATFORMS: Final = (
    ("demo-social", "a social feed"),
    ("demo-messenger", "a messenger"),
    ("demo-photos", "a photo app"),
)
PARTNER: Final = "Demo Helpline"
LABEL: Final = "demo"
DEFAULT_KEYS_FILE: Final = Path("./var/demo-keys.json")
#: The server's setting that serves /demo as the first demo platform (see hashwall.web.demo).
DEMO_KEYS_ENV: Final = "HASHWALL_DEMO_KEYS_FILE"
#: Stands for the case number that the first example command prints.
CASE_NUMBER: Final = "CASE_NUMBER"

demo_app = typer.Typer(name="demo", help="A demo world for trying hashwall out.")


def urls(base: str) -> dict[str, str]:
    """Where the served demo answers: the reporter's pages, the demo platform's page, the API."""
    base = base.rstrip("/")
    return {
        "report": f"{base}/report",
        "case": f"{base}/case",
        "demo": f"{base}/demo",
        "api": base,
        "docs": f"{base}/docs",
        "openapi": f"{base}/openapi.json",
    }


def _saved(path: Path) -> dict[str, Any] | None:
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


def _keys_of(saved: dict[str, Any]) -> list[str]:
    keys = [saved.get("admin_key"), (saved.get("partner") or {}).get("key")]
    keys += [p.get("key") for p in saved.get("platforms") or [] if isinstance(p, dict)]
    return [k for k in keys if isinstance(k, str)]


def _still_valid(ctx: ServiceContext, saved: dict[str, Any]) -> bool:
    keys = _keys_of(saved)
    if len(keys) != 2 + len(PLATFORMS):
        return False
    try:
        for key in keys:
            auth.authenticate(ctx, key)
    except InvalidKey:
        return False
    return True


def _ignore_existing(create: Any, *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(AlreadyExists):
        create(*args, **kwargs)


def setup_demo(ctx: ServiceContext, actor: Actor, keys_file: Path, base_url: str) -> dict[str, Any]:
    """Create the demo world if needed; the document of its keys (``created``: made now)."""
    saved = _saved(keys_file)
    if saved is not None and _still_valid(ctx, saved):
        return {**saved, "created": False, "keys_file": str(keys_file)}
    _ignore_existing(tenants.add_organisation, ctx, actor, ORGANISATION)
    reveal = tenants.PolicyUpdate(reveal_distance=True, reveal_orientation=True)
    for name, _ in PLATFORMS:
        _ignore_existing(
            tenants.add_platform, ctx, actor, organisation=ORGANISATION, name=name, policy=reveal
        )
    _ignore_existing(tenants.add_partner, ctx, actor, PARTNER)
    for old in key_service.list_api_keys(ctx, actor, include_revoked=False):
        if old.label == LABEL:
            key_service.revoke_api_key(ctx, actor, old.key_id)

    def key(**kwargs: Any) -> str:
        return key_service.create_api_key(ctx, actor, label=LABEL, **kwargs).key

    document = {
        "database": redact(ctx.settings.database_url),
        "urls": urls(base_url),
        "admin_key": key(role="admin"),
        "platforms": [
            {"name": name, "description": what, "key": key(role="platform", platform=name)}
            for name, what in PLATFORMS
        ],
        "partner": {"name": PARTNER, "key": key(role="intake", partner=PARTNER)},
    }
    write_atomically(keys_file, document)  # 0600: the keys are secrets
    return {**document, "created": True, "keys_file": str(keys_file)}


def _print(document: dict[str, Any]) -> None:
    console = Console(soft_wrap=True, highlight=False)
    what = "created" if document["created"] else "already set up"
    console.print(f"demo world {what} on {document['database']}")
    rows = [("admin key", document["admin_key"])]
    rows += [
        (f"platform {p['name']} ({p['description']})", p["key"]) for p in document["platforms"]
    ]
    rows.append((f"intake partner {document['partner']['name']}", document["partner"]["key"]))
    width = max(len(who) for who, _ in rows)
    for who, key in rows:
        console.print(f"  {who:<{width}}  {key}")
    console.print(f"keys saved in {document['keys_file']} (readable by you only)")
    links = document["urls"]
    platform = document["platforms"][0]["name"]
    console.print(
        f"report photos:       {links['report']}\n"
        f"check or withdraw:   {links['case']}\n"
        f"demo platform:       {links['demo']}  (plays {platform}; served while "
        f"{DEMO_KEYS_ENV}={document['keys_file']}, as make run sets it)\n"
        f"API:                 {links['api']}\n"
        f"API docs:            {links['docs']}\n"
        f"OpenAPI:             {links['openapi']}"
    )
    console.print()
    console.print("Next, in another terminal in this folder:")
    console.print("\n".join(next_steps(document)), markup=False)


def next_steps(document: dict[str, Any]) -> list[str]:
    """Shell lines to copy: the exports, then bank a photo, check it, withdraw the case."""
    platform = document["platforms"][0]
    exports = {
        "HASHWALL_SERVER": document["urls"]["api"],
        "PLATFORM_KEY": platform["key"],
        "INTAKE_KEY": document["partner"]["key"],
        "ADMIN_KEY": document["admin_key"],
    }
    lines = []
    command = Path(sys.executable).parent / "hashwall"
    if shutil.which("hashwall") is None and command.exists():
        lines.append(f'export PATH={shlex.quote(str(command.parent))}:"$PATH"')
    lines += [
        "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in exports.items()),
        f"# 1. Bank a photo as the partner {document['partner']['name']} (any photo.jpg of yours:",
        "#    only its fingerprints are sent). It prints the case number and the PIN.",
        'hashwall case create photo.jpg --key "$INTAKE_KEY"',
        f"# 2. Check the same photo as the platform {platform['name']}: the answer is block.",
        'hashwall check photo.jpg --key "$PLATFORM_KEY"',
        "# 3. Withdraw the case, with the case number from step 1 (the partner that filed it",
        "#    needs no PIN); step 2 then answers allow.",
        f'hashwall case withdraw {CASE_NUMBER} --key "$INTAKE_KEY" --yes',
    ]
    return lines


@demo_app.command("setup")
def setup_command(
    keys_file: Annotated[
        Path, typer.Option("--keys-file", help="Where the demo keys are kept (mode 0600).")
    ] = DEFAULT_KEYS_FILE,
    url: Annotated[str, typer.Option("--url", help="Where the demo is served.")] = (
        "http://127.0.0.1:8000"
    ),
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Create the demo organisation, platforms, partner and keys once; print the keys."""
    settings = Settings()
    document = run_operator(
        json_out,
        lambda ctx, actor: setup_demo(ctx, actor, keys_file, url),
        settings,
    )
    if json_out:
        print_json(document)
    else:
        _print(document)
