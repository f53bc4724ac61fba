"""``hashwall serve``: the HTTP API under uvicorn.

The store and every limit come from ``HASHWALL_*`` variables (:class:`hashwall.Settings`); the
schema must be at head (``hashwall db upgrade``), else ``/readyz`` answers 503 until it is.
Each worker process builds its own live index and follows the event log.

The access log has the method, the path, the query and the status: never a body or a header,
so no PIN, key or media reaches it (case numbers and PINs travel in bodies only), and never the
client's address (a reporter's address is reporter data: :class:`DropClientAddress` blanks it
in every access record before any handler sees it). uvicorn's own proxy-header handling is off:
``X-Forwarded-For`` is believed only from the proxies named in ``HASHWALL_TRUSTED_PROXIES``, by
the app itself.

Also runnable as ``python -m hashwall.cli.serve``.
"""

from __future__ import annotations

import copy
import logging
from typing import Annotated, Any, Final

import typer

APP: Final = "hashwall.api.app:create_app"
#: uvicorn's access line without its ``%(client_addr)s``.
ACCESS_FORMAT: Final = '%(levelprefix)s "%(request_line)s" %(status_code)s'


class DropClientAddress(logging.Filter):
    """Blank the client address (the first argument) of uvicorn's access records."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            record.args = ("-", *args[1:])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration, with addresses kept out of the access log."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["access"]["fmt"] = ACCESS_FORMAT
    config.setdefault("filters", {})["drop_client_address"] = {"()": DropClientAddress}
    config["loggers"]["uvicorn.access"]["filters"] = ["drop_client_address"]
    return config


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (each holds its own index).")
    ] = 1,
    log_level: Annotated[str, typer.Option(help="critical, error, warning, info, debug.")] = "info",
    access_log: Annotated[
        bool, typer.Option(help="Log one line per request (method, path, status; no bodies).")
    ] = True,
) -> None:
    """Serve the API (routes under /v1, docs at /docs, schema at /openapi.json)."""
    import uvicorn

    uvicorn.run(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        log_config=log_config(),
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


def main() -> None:
    """``python -m hashwall.cli.serve [OPTIONS]``."""
    typer.run(serve_command)


if __name__ == "__main__":
    main()
