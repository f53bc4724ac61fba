"""The probes: ``/healthz`` (the process answers) and ``/readyz`` (it can serve)."""

from __future__ import annotations

from typing import Literal

from hashwall.wire.base import ResponseModel


class Health(ResponseModel):
    """``GET /healthz``: the process answers."""

    status: Literal["ok"]


class Readiness(ResponseModel):
    """``GET /readyz``: the index is built and within ``index_max_lag`` seconds of the log."""

    ready: bool
    schema_ok: bool
    index_built: bool
    index_size: int
    last_seq: int
    lag_seconds: float | None
    detail: str
