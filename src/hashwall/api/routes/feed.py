"""The feed: a snapshot of the bank, then its events, resumable by cursor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from hashwall.api import mapping
from hashwall.api.auth import FeedCaller
from hashwall.api.routes.common import ERRORS, StateDep
from hashwall.service import feed as feed_service
from hashwall.wire import FeedPageOut

router = APIRouter(prefix="/v1", tags=["feed"], responses=ERRORS)


@router.get("/feed", response_model=FeedPageOut)
async def read_feed(
    who: FeedCaller,
    state: StateDep,
    cursor: Annotated[
        str | None, Query(max_length=512, description="From the previous page; none to start.")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=feed_service.MAX_FEED_LIMIT, description="Items plus events.")
    ] = feed_service.DEFAULT_FEED_LIMIT,
    platform: Annotated[
        str | None, Query(max_length=256, description="Admin keys: whose feed to read.")
    ] = None,
) -> FeedPageOut:
    """One page of the bank for matching locally; pass ``cursor`` back for the next."""
    page = await run_in_threadpool(
        feed_service.read_feed,
        state.ctx,
        who.actor,
        cursor=cursor,
        limit=limit,
        platform=platform,
    )
    position = feed_service.Cursor.decode(page.cursor).seq
    state.metrics.observe_feed(page.platform, page.head_seq - position)
    return mapping.feed_page(page)
