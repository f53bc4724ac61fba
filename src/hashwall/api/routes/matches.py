"""A platform's reviewers: the matches awaiting a verdict, and the verdict on one."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from hashwall.api import mapping
from hashwall.api.auth import VerdictCaller
from hashwall.api.routes.common import ERRORS, StateDep
from hashwall.service.reviews import MAX_PAGE, list_pending_matches
from hashwall.service.verdicts import VerdictRequest, submit_verdict
from hashwall.wire import PendingMatchOut, VerdictIn, VerdictOut

router = APIRouter(prefix="/v1/matches", tags=["matches"], responses=ERRORS)

MatchRef = Annotated[str, Path(min_length=1, max_length=64, description="From a check answer.")]


@router.get("", response_model=list[PendingMatchOut])
async def pending_matches(
    who: VerdictCaller,
    state: StateDep,
    match_state: Annotated[
        Literal["pending"],
        Query(alias="state", description="`pending`: no verdict from this platform yet."),
    ] = "pending",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Matches per page.")] = 100,
    after: Annotated[
        str | None,
        Query(max_length=64, description="The last match ref of the previous page."),
    ] = None,
) -> list[PendingMatchOut]:
    """This platform's matches that await its reviewers' verdict, oldest first (paged)."""
    found = await run_in_threadpool(
        list_pending_matches, state.ctx, who.actor, limit=limit, after=after
    )
    return [mapping.pending_match(m) for m in found]


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
    return mapping.verdict(result)
