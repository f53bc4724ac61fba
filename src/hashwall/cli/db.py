"""``hashwall db upgrade`` and ``hashwall db current``: the store's schema, migrated by Alembic.

Both work on ``HASHWALL_DATABASE_URL`` (default ``sqlite:///./var/hashwall.db``) or
``--database-url``. With ``--json`` each prints one JSON object:

- ``upgrade``: ``{"database", "from", "to", "head"}`` (``from`` is null for a new database);
- ``current``: ``{"database", "current", "head", "up_to_date"}`` (``current`` null for a
  database never migrated, or a SQLite file that does not exist yet: it is not created);
- on failure: ``{"error": {"code", "message"}}`` and exit code 1 (``store_unavailable``) or 2
  (``invalid_input``: a URL hashwall cannot use).

The database URL is printed with its password hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from hashwall.cli.output import fail, print_json
from hashwall.errors import InvalidInput, StoreUnavailable
from hashwall.settings import Settings
from hashwall.store import migrate
from hashwall.store.engine import make_engine, normalise_url, redact

db_app = typer.Typer(
    name="db",
    help="The store's schema: create it, migrate it, show its revision.",
    no_args_is_help=True,
)

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL of the store (default: HASHWALL_DATABASE_URL or ./var/hashwall.db).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@db_app.command("upgrade")
def upgrade_command(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    database_url: DatabaseUrlOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create or migrate the store's schema up to the newest revision (safe to re-run)."""
    url = database_url or Settings().database_url

    def run(engine: Engine) -> dict[str, Any]:
        """Migrate and report the revisions before and after."""
        before = migrate.current_revision(engine)
        migrate.upgrade(engine, revision)
        return {
            "database": redact(url),
            "from": before,
            "to": migrate.current_revision(engine),
            "head": migrate.head_revision(),
        }

    report = _with_engine(url, run, json_out)
    if json_out:
        print_json(report)
    elif report["from"] == report["to"]:
        Console().print(f"{report['database']}: already at revision {report['to']}")
    else:
        Console().print(
            f"{report['database']}: migrated from {report['from'] or 'an empty database'}"
            f" to revision {report['to']}"
        )


@db_app.command("current")
def current_command(
    database_url: DatabaseUrlOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show the store's schema revision and whether it is the newest one."""
    url = database_url or Settings().database_url
    if _missing_sqlite_file(url):  # say so without creating an empty database
        report = {
            "database": redact(url),
            "current": None,
            "head": migrate.head_revision(),
            "up_to_date": False,
        }
        if json_out:
            print_json(report)
        else:
            Console().print(
                f"{report['database']}: no database yet (`hashwall db upgrade` creates it),"
                f" head {report['head']}"
            )
        return

    def run(engine: Engine) -> dict[str, Any]:
        """Report the database's revision against the package's head."""
        current = migrate.current_revision(engine)
        head = migrate.head_revision()
        return {
            "database": redact(url),
            "current": current,
            "head": head,
            "up_to_date": current == head,
        }

    report = _with_engine(url, run, json_out)
    if json_out:
        print_json(report)
    else:
        state = "up to date" if report["up_to_date"] else "run `hashwall db upgrade`"
        Console().print(
            f"{report['database']}: revision {report['current'] or '(none)'},"
            f" head {report['head']} ({state})"
        )


def _with_engine(
    url: str, run: Callable[[Engine], dict[str, Any]], json_out: bool
) -> dict[str, Any]:
    """Open the store, run, close; turn failures into one error report and an exit code."""
    try:
        engine = make_engine(url)
    except (ValueError, SQLAlchemyError) as exc:  # an unusable URL
        fail(InvalidInput(f"cannot use database URL {_safe(url)}: {exc}"), json_out, 2)
    try:
        return run(engine)
    except SQLAlchemyError as exc:
        orig = exc.orig if isinstance(exc, DBAPIError) else None
        detail = str(orig) if orig is not None else type(exc).__name__
        fail(StoreUnavailable(f"{redact(url)}: {detail.strip()}"), json_out, 1)
    finally:
        engine.dispose()


def _missing_sqlite_file(url: str) -> bool:
    """Whether ``url`` names a SQLite file that does not exist (unparseable URLs: False)."""
    try:
        parsed = normalise_url(url)
    except (ValueError, SQLAlchemyError):
        return False
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return False
    return not Path(database).expanduser().exists()


def _safe(url: str) -> str:
    try:
        return redact(url)
    except (ValueError, SQLAlchemyError):
        return "(unparseable)"
