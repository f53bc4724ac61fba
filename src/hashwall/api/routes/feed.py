"""The feed: a snapshot of the bank, then its events, resumable by cursor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from hashwall.api import mapping
from hashwall.api.auth import FeedCaller
from hashwall.api.routes.common import ERRORS, StateDep
from hashwall.service import feed as feed_service
from hashwall.service import feed_blocks
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


@router.get(
    "/feed/snapshot",
    response_class=StreamingResponse,
    responses={200: {"content": {feed_blocks.MEDIA_TYPE: {}}, "description": "Frames."}},
)
async def read_feed_snapshot(
    who: FeedCaller,
    state: StateDep,
    cursor: Annotated[
        str | None,
        Query(max_length=512, description="A snapshot cursor to resume from; none to start."),
    ] = None,
    block: Annotated[
        int, Query(ge=1, le=feed_service.MAX_BLOCK_ITEMS, description="Items per block.")
    ] = feed_service.DEFAULT_BLOCK_ITEMS,
    platform: Annotated[
        str | None, Query(max_length=256, description="Admin keys: whose feed to read.")
    ] = None,
) -> StreamingResponse:
    """The feed's snapshot phase as binary blocks of columns, for a first sync of a big bank;
    then read ``GET /v1/feed`` from the cursor of its last frame."""
    stream = await run_in_threadpool(
        feed_service.open_snapshot_stream,
        state.ctx,
        who.actor,
        cursor=cursor,
        block=block,
        platform=platform,
    )
    state.metrics.observe_feed(stream.platform, stream.head_seq - stream.snapshot_seq)
    start = {
        "platform": stream.platform,
        "policy": mapping.policy(stream.policy).model_dump(mode="json"),
        "snapshot_seq": stream.snapshot_seq,
        "head_seq": stream.head_seq,
    }
    body = feed_blocks.encode_stream(start, stream.blocks, stream.events_cursor)
    return StreamingResponse(body, media_type=feed_blocks.MEDIA_TYPE)
