"""Running one use case on the configured store as the operator (no key).

The operator's commands never create a database: where there is none (or it was never migrated,
or is at an older revision) they fail with ``store_unavailable`` naming ``hashwall db upgrade``
and ``HASHWALL_DATABASE_URL``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from hashwall.cli.output import fail
from hashwall.domain import Actor
from hashwall.errors import HashwallError, InvalidInput, StoreUnavailable
from hashwall.service.context import ServiceContext
from hashwall.settings import Settings
from hashwall.store import migrate
from hashwall.store.engine import normalise_url, redact
from hashwall.store.repo import Store

_T = TypeVar("_T")


def run_operator(
    json_out: bool,
    use_case: Callable[[ServiceContext, Actor], _T],
    settings: Settings | None = None,
) -> _T:
    """Open the configured store, run ``use_case`` as the operator, close the store.

    Any :class:`HashwallError` (and any database failure, as ``store_unavailable``) is printed
    and exits with code 1.
    """
    try:
        config = settings or Settings()
        url = normalise_url(config.database_url)
    except (ValueError, SQLAlchemyError) as exc:
        fail(InvalidInput(f"cannot use the configured database: {exc}"), json_out)
    _require_sqlite_file(url, json_out)  # before an engine would create an empty one
    store = Store.from_url(url)
    try:
        _require_schema(store, config.database_url)
        return use_case(ServiceContext(store=store, settings=config), Actor.operator())
    except HashwallError as exc:
        fail(exc, json_out)
    except SQLAlchemyError as exc:
        orig = exc.orig if isinstance(exc, DBAPIError) else None
        detail = str(orig).strip() if orig is not None else type(exc).__name__
        fail(
            StoreUnavailable(
                f"{redact(config.database_url)}: {detail} "
                "(is the schema created? run `hashwall db upgrade`)"
            ),
            json_out,
        )
    finally:
        store.dispose()


_WHERE = "set HASHWALL_DATABASE_URL to the service's database (sqlite:///PATH or postgresql://...)"


def _require_sqlite_file(url: URL, json_out: bool) -> None:
    """Fail, creating nothing, when a SQLite store's file does not exist."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if not Path(database).expanduser().exists():
        fail(
            StoreUnavailable(
                f"no hashwall database at {database}: {_WHERE}, or create one here with "
                "`hashwall db upgrade`"
            ),
            json_out,
        )


def _require_schema(store: Store, url: str) -> None:
    """``store_unavailable`` unless the store's schema is at this hashwall's revision."""
    current = migrate.current_revision(store.engine)
    head = migrate.head_revision()
    if current is None:
        raise StoreUnavailable(
            f"{redact(url)} holds no hashwall schema: run `hashwall db upgrade` to create it, "
            f"or {_WHERE}"
        )
    if current != head:
        raise StoreUnavailable(
            f"{redact(url)} is at schema revision {current}, this hashwall needs {head}: "
            "run `hashwall db upgrade`"
        )
