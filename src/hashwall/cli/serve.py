"""``hashwall serve``: the HTTP API under uvicorn.

The store and every limit come from ``HASHWALL_*`` variables (:class:`hashwall.Settings`); the
schema must be at head (``hashwall db upgrade``), else ``/readyz`` answers 503 until it is.
Each worker process builds its own live index and follows the event log.

The access log has the method, the path, the query and the status: never a body or a header,
so no PIN, key or media reaches it (case numbers and PINs travel in bodies only). uvicorn's own
proxy-header handling is off: ``X-Forwarded-For`` is believed only from the proxies named in
``HASHWALL_TRUSTED_PROXIES``, by the app itself.

Also runnable as ``python -m hashwall.cli.serve``.
"""

from __future__ import annotations

from typing import Annotated, Final

import typer

APP: Final = "hashwall.api.app:create_app"


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
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


def main() -> None:
    """``python -m hashwall.cli.serve [OPTIONS]``."""
    typer.run(serve_command)


if __name__ == "__main__":
    main()
