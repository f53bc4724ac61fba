"""The FastAPI application: routes under ``/v1``, health and metrics, and the defences.

Usage::

    app = create_app()                      # Settings() from HASHWALL_* variables
    uvicorn.run(app, host="127.0.0.1", port=8000)

What runs where:

- **At start** (lifespan): the store is opened and its schema compared with the package's head
  revision (nothing is migrated: that is ``hashwall db upgrade``'s job; a schema not at head
  makes ``/readyz`` 503 and ``/v1`` routes ``store_unavailable``); the live index is built and
  follows the event log; the decoder pool starts now or on the first media request.
- **Pages**: ``/`` (what hashwall is, links), ``/docs`` (Swagger UI) and ``/static/*``, all
  from this server, no CDN (:mod:`hashwall.api.routes.pages`).
- **Per request**, outermost first (:mod:`hashwall.api.middleware`): latency and status are
  counted per route template; every answer carries ``X-Content-Type-Options: nosniff``, and
  those of the case routes ``Cache-Control: no-store``; an unexpected exception becomes a 500
  problem without a traceback; a body must be JSON, or a media form on a media route with a
  key (else 415), and a JSON body is read within its hard limit (413) before FastAPI sees it.
  Then ``/v1`` routes pass :func:`hashwall.api.auth.caller` (key, rate limits), call one use
  case, and format.
- **At shutdown**: the follower stops, the decoder pool (if this app started it), the Redis
  clients (``aclose``) and the argon2 threads are closed, the store disposed (if opened here).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool

import hashwall
from hashwall.api.defences.argon2_cap import ConcurrencyCap
from hashwall.api.defences.idempotency import idempotency_store
from hashwall.api.defences.pin_backoff import pin_backoff
from hashwall.api.defences.rate import rate_limiter
from hashwall.api.metrics import Metrics
from hashwall.api.middleware import ProblemBoundary, RequestBodies, RequestMetrics, SecurityHeaders
from hashwall.api.problems import install_problem_handlers, log_unexpected
from hashwall.api.routes import admin, cases, check, feed, health, matches, pages
from hashwall.api.state import ApiState, MediaHasher
from hashwall.service.context import ServiceContext
from hashwall.settings import Settings
from hashwall.store.repo import Store
from hashwall.wire import CaseCreate, CheckIn, Problem

log = logging.getLogger("hashwall.api")

#: Models the OpenAPI document refers to without FastAPI seeing them in a signature.
DOCUMENTED_MODELS: Final = (Problem, CaseCreate, CheckIn)

DESCRIPTION: Final = """\
hashwall banks fingerprints of intimate images so that platforms can block re-uploads, without
the images ever leaving the person's device.

Auth: `Authorization: Bearer <key>` (roles `admin`, `intake`, `platform`; platform scopes
`check`, `feed`, `verdict`). No key: the anonymous reporter channel (`/v1/cases*` only).
Errors: `application/problem+json` with a stable `code`. See docs/api.md.
"""


def create_app(
    settings: Settings | None = None,
    *,
    ctx: ServiceContext | None = None,
    decode_pool: MediaHasher | None = None,
    start_decode_pool: bool = False,
) -> FastAPI:
    """The hashwall API for ``settings`` (default: ``Settings()``), or over an existing ``ctx``.

    ``ctx`` (tests, embedding): its store and settings are used; its live index too if it has
    one (built here if needed, followed only if this app built it). ``decode_pool``: a pool to
    use instead of starting one (the caller closes it). ``start_decode_pool``: start the pool
    with the app rather than on the first media request.
    """
    owns_store = ctx is None
    if ctx is None:
        settings = settings or Settings()
        ctx = ServiceContext(Store.from_url(settings.database_url), settings)
    settings = ctx.settings
    state = ApiState(
        ctx=ctx,
        limiter=rate_limiter(settings),
        pin_backoff=pin_backoff(settings),
        pin_cap=ConcurrencyCap.for_pin_checks(settings),
        idempotency=idempotency_store(settings),
        metrics=Metrics(),
        decode_pool=decode_pool,
        owns_decode_pool=decode_pool is None,
    )
    state.metrics.pool_stats = lambda: _pool_stats(state)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(state.open_store)
        if start_decode_pool:
            await state.decoder()
        try:
            yield
        finally:
            await _shutdown(state, owns_store=owns_store)

    app = FastAPI(
        title="hashwall",
        version=hashwall.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # /docs is served by routes/pages.py with Swagger UI's assets from this server (FastAPI's
        # own pages load them from a CDN); no ReDoc page.
        docs_url=None,
        redoc_url=None,
        # No OpenTelemetry from FastAPI: hashwall exports its own metrics (/metrics), and spans
        # of a global provider would carry request details (client addresses are reporter
        # data). Off, its per-request check of the providers is gone too.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.hashwall = state
    install_problem_handlers(app)
    # The check router first: routes are matched in order, and checks are most of the traffic.
    for module in (check, cases, matches, feed, admin, health, pages):
        app.include_router(module.router)
    # Added innermost first: requests pass them from the last added to the first.
    app.add_middleware(
        RequestBodies,
        max_json_bytes=settings.max_json_bytes,
        video_json_bytes=settings.video_max_json_bytes,
    )
    app.add_middleware(ProblemBoundary)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestMetrics, metrics=state.metrics)
    _document_problems(app)
    return app


def _document_problems(app: FastAPI) -> None:
    """Add the schemas routes refer to by hand (error answers, bodies read by the route)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in DOCUMENTED_MODELS:
                model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(model_schema.pop("$defs", {}))
                components[model.__name__] = model_schema
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _pool_stats(state: ApiState) -> Any:
    stats = getattr(state.decode_pool, "stats", None)
    return stats() if callable(stats) else None


async def _shutdown(state: ApiState, *, owns_store: bool) -> None:
    live = state.ctx.live
    if live is not None and state.owns_live:
        await run_in_threadpool(live.stop)
    hit_log = state.ctx.hit_log
    if hit_log is not None and state.owns_hit_log:
        await run_in_threadpool(hit_log.close)
        state.ctx.hit_log = None
    if state.decode_pool is not None and state.owns_decode_pool:
        pool, state.decode_pool = state.decode_pool, None
        await run_in_threadpool(pool.close)
    for closer in (state.limiter.aclose, state.pin_backoff.aclose, state.idempotency.aclose):
        try:
            await closer()
        except Exception as exc:  # shutting down: report and go on closing the rest
            log_unexpected(exc, "shutdown")
    state.pin_cap.close()
    if owns_store:
        state.ctx.store.dispose()
    state.store_problem = "the service is shut down"
