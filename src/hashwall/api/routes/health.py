"""Liveness and readiness (not rate limited, no key), and metrics (an admin key, unless
``HASHWALL_METRICS_PUBLIC``: their labels name every platform and its decision counts)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from hashwall.api.auth import caller, require
from hashwall.api.metrics import CONTENT_TYPE
from hashwall.api.outage import StoreOutage
from hashwall.api.routes.common import ERRORS, StateDep
from hashwall.wire import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process answers (it may not be ready)."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready (see detail)."}},
)
async def readyz(request: Request, state: StateDep) -> JSONResponse:
    """Ready: schema at head, the store answering, index built and within ``index_max_lag`` s
    of the event log."""
    if state.store_problem is not None:
        await run_in_threadpool(state.open_store)
    live = state.ctx.live
    built = live is not None and live.built
    lag = live.lag_seconds if live is not None else None
    outage: StoreOutage | None = getattr(request.app.state, "store_outage", None)
    store_down = outage is not None and outage.down
    ready = state.store_problem is None and not store_down and live is not None and live.ready
    if state.store_problem is not None:
        detail = state.store_problem
    elif store_down:
        detail = "the database is unavailable (requests answer 503 store_unavailable)"
    elif not built:
        detail = "the live index is not built yet"
    elif not ready:
        detail = f"the live index is {lag:.1f} s behind the event log" if lag else "not ready"
    else:
        detail = "ready"
    body = Readiness(
        ready=ready,
        schema_ok=state.store_problem is None,
        index_built=built,
        index_size=live.size if live is not None else 0,
        last_seq=live.last_seq if live is not None else 0,
        lag_seconds=lag,
        detail=detail,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


_admin = require("admin")


async def _metrics_reader(request: Request, state: StateDep) -> None:
    """An admin key (401 without one, 403 for other roles), unless metrics are public."""
    if not state.settings.metrics_public:
        await _admin(await caller(request, state))


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(_metrics_reader)],
    responses={status: ERRORS[status] for status in (401, 403, 429, 503)},
)
async def metrics(state: StateDep) -> Response:
    """Prometheus text format, of every worker of this server (``serve --workers N``).

    Needs an admin key unless ``HASHWALL_METRICS_PUBLIC`` is set."""
    return Response(await run_in_threadpool(state.metrics.render), media_type=CONTENT_TYPE)
