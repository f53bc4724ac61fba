"""``hashwall serve``: the HTTP API under uvicorn.

The store and every limit come from ``HASHWALL_*`` variables (:class:`hashwall.Settings`); the
schema must be at head (``hashwall db upgrade``), else ``/readyz`` answers 503 until it is.
Each worker process builds its own live index and follows the event log.

The access log has the method, the path, the query and the status: never a body or a header,
so no PIN, key or media reaches it (case numbers and PINs travel in bodies only), and never the
client's address (a reporter's address is reporter data: :class:`DropClientAddress` blanks it
in every access record before any handler sees it).

**Behind proxies**, uvicorn resolves the client from ``X-Forwarded-For`` (read from the right),
believing only the proxies named in ``HASHWALL_TRUSTED_PROXIES`` (its ``forwarded_allow_ips``,
:func:`server_options`); unset, the header is never believed (not even from 127.0.0.1, which
uvicorn trusts by default).

**Workers die with their supervisor.** With ``--workers N`` uvicorn supervises N worker
processes; if the supervisor is killed (``kill -9``, the OOM killer), its workers must not go on
serving, orphaned, holding the port (the next start failed with "Address already in use").
Each worker asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG`` on Linux;
elsewhere a thread watches its parent pid), and gives up at once if the supervisor was already
gone before it asked. SIGTERM is uvicorn's graceful shutdown: the listening socket closes first,
so a new ``hashwall serve`` can bind the port at once. A worker that dies is replaced by the
supervisor (uvicorn's own), and the others keep answering meanwhile.

**One scrape, every worker.** With ``--workers N`` a request reaches one worker, so ``serve``
gives the workers a fresh private directory (0700, removed at exit) as
``PROMETHEUS_MULTIPROC_DIR`` before they start, and ``/metrics`` answers from all the workers'
files (:mod:`hashwall.api.metrics`); if the supervisor is killed, its workers remove the
directory as they exit. One process needs none (an inherited value is dropped:
files left there by another run would be counted).

Also runnable as ``python -m hashwall.cli.serve``.
"""

from __future__ import annotations

import atexit
import copy
import ctypes
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

if TYPE_CHECKING:
    from fastapi import FastAPI

    from hashwall.settings import Settings

APP: Final = "hashwall.cli.serve:worker_app"
#: Set by the supervisor of ``--workers N`` for its workers: its pid.
SUPERVISOR_ENV: Final = "HASHWALL_SERVE_SUPERVISOR"
_PR_SET_PDEATHSIG: Final = 1
#: prometheus_client reads it when imported (hashwall.api.metrics.MULTIPROCESS_ENV; not imported
#: from there: importing prometheus_client here would fix its mode before the variable is set).
MULTIPROCESS_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
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


def die_with_supervisor() -> None:
    """In a worker of ``--workers N``: SIGTERM when the supervisor dies (see the module
    docstring); exit now if it already has. Nothing outside a supervised worker."""
    raw = os.environ.get(SUPERVISOR_ENV)
    if not raw:
        return
    supervisor = int(raw)
    armed = False
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    shared = os.environ.get(MULTIPROCESS_ENV)
    if shared:
        atexit.register(_remove_if_orphaned, shared, supervisor)
    if os.getppid() != supervisor:  # it died before the kernel was asked to tell us
        raise SystemExit(f"hashwall serve: the supervisor (pid {supervisor}) is gone")
    if not armed:
        threading.Thread(
            target=_watch_parent, args=(supervisor,), name="hashwall-parent", daemon=True
        ).start()


def _remove_if_orphaned(shared: str, supervisor: int) -> None:
    """At a worker's exit: a supervisor that was killed cannot remove the metrics directory."""
    if os.getppid() != supervisor:
        shutil.rmtree(shared, ignore_errors=True)


def _watch_parent(supervisor: int) -> None:
    while os.getppid() == supervisor:
        threading.Event().wait(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy-header options for ``settings``: ``X-Forwarded-For`` believed only from
    ``trusted_proxies``, and from nobody when there are none."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": list(settings.trusted_proxies)}


def worker_app() -> FastAPI:
    """The app of one server process (uvicorn's factory): it dies with its supervisor."""
    die_with_supervisor()
    from hashwall.api.app import create_app

    return create_app()


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

    from hashwall.settings import Settings

    options = server_options(Settings())
    shared: str | None = None
    if workers > 1:
        os.environ[SUPERVISOR_ENV] = str(os.getpid())
        shared = tempfile.mkdtemp(prefix="hashwall-metrics-")  # 0700
        os.environ[MULTIPROCESS_ENV] = shared
    else:  # one process: nothing supervises it, and its own registry is the whole story
        os.environ.pop(SUPERVISOR_ENV, None)
        os.environ.pop(MULTIPROCESS_ENV, None)
    try:
        uvicorn.run(
            APP,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=access_log,
            log_config=log_config(),
            server_header=False,
            timeout_graceful_shutdown=10,
            **options,
        )
    finally:
        if shared is not None:
            os.environ.pop(MULTIPROCESS_ENV, None)
            shutil.rmtree(shared, ignore_errors=True)


def main() -> None:
    """``python -m hashwall.cli.serve [OPTIONS]``."""
    typer.run(serve_command)


if __name__ == "__main__":
    main()
