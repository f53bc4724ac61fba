"""The service answering ``hashwall feed sync``'s two calls in the test's own process: the
same bytes as ``GET /v1/feed/snapshot`` and the same pages as ``GET /v1/feed``."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hashwall.api import mapping
from hashwall.domain import Actor
from hashwall.service import feed_blocks
from hashwall.service.context import ServiceContext
from hashwall.service.feed import open_snapshot_stream, read_feed

OP = Actor.operator()


class InProcess:
    """The two calls ``feed sync`` makes, answered by the service in this process (the same
    bytes as ``GET /v1/feed/snapshot``); ``cut`` cuts the next snapshot body at that fraction
    of its length, as a dropped connection would."""

    def __init__(self, ctx: ServiceContext, platform: str) -> None:
        self.ctx, self.platform = ctx, platform
        self.cut: float | None = None

    @contextmanager
    def feed_snapshot(self, cursor: str | None = None, *, block: int | None = None
                      ) -> Iterator[io.BytesIO]:  # fmt: skip
        stream = open_snapshot_stream(self.ctx, OP, cursor=cursor, block=block or 50_000,
                                      platform=self.platform)  # fmt: skip
        start = {"platform": stream.platform, "snapshot_seq": stream.snapshot_seq,
                 "head_seq": stream.head_seq,
                 "policy": mapping.policy(stream.policy).model_dump(mode="json")}  # fmt: skip
        body = b"".join(feed_blocks.encode_stream(start, stream.blocks, stream.events_cursor))
        if self.cut is not None:
            body, self.cut = body[: int(len(body) * self.cut)], None
        yield io.BytesIO(body)

    def iter_feed(self, cursor: str | None, *, limit: int) -> Iterator[Any]:
        while True:
            page = mapping.feed_page(
                read_feed(self.ctx, OP, cursor=cursor, limit=limit, platform=self.platform)
            )
            yield page
            if not page.more:
                return
            cursor = page.cursor
