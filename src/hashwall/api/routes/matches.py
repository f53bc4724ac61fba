"""Verdicts: a platform's reviewer judges a match its platform received."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from hashwall.api.auth import VerdictCaller
from hashwall.api.models import VerdictIn, VerdictOut
from hashwall.api.routes.common import ERRORS, StateDep
from hashwall.service.verdicts import VerdictRequest, submit_verdict

router = APIRouter(prefix="/v1/matches", tags=["matches"], responses=ERRORS)

MatchRef = Annotated[str, Path(min_length=1, max_length=64, description="From a check answer.")]


@router.post("/{match_ref}/verdict", response_model=VerdictOut)
async def verdict(
    match_ref: MatchRef, body: VerdictIn, who: VerdictCaller, state: StateDep
) -> VerdictOut:
    """``confirmed``, ``not_ncii`` (exempts the upload) or ``csam``, on this platform's match."""
    request = VerdictRequest(
        match_ref=match_ref,
        verdict=body.verdict,
        upload_pdq=body.upload_pdq,
        upload_sha256=body.upload_sha256,
    )
    result = await run_in_threadpool(submit_verdict, state.ctx, who.actor, request)
    return VerdictOut.from_result(result)
