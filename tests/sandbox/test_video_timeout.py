"""A video job in the decoder sandbox that would decode for far longer than its limit is ended
by ``video_decode_timeout`` (the worker killed and replaced), with a clear error, and the pool
serves the next video."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from hashwall.errors import DecodeTimeout
from hashwall.hashing.vpdq import VideoHashes
from hashwall.sandbox.pool import DecodePool
from hashwall.settings import Settings

from video_samples import clip, tiny_frames_gif

VIDEO_LIMIT = 1.0


def _hashed(pool: DecodePool, data: bytes) -> VideoHashes:
    return asyncio.run(pool.hash_video(data, seconds_per_hash=0.0, mirror=False, max_frames=100))


@pytest.fixture(scope="module")
def pool() -> Iterator[DecodePool]:
    # The image limit is far above the video one: the error must name the video's.
    settings = Settings(
        decode_timeout=60.0, video_decode_timeout=VIDEO_LIMIT, decode_queue_timeout=60.0
    )
    with DecodePool(settings, workers=1) as decoder:
        yield decoder


def test_a_video_that_decodes_for_too_long_is_stopped_and_the_pool_serves_on(
    pool: DecodePool,
) -> None:
    # 300,000 frames of 0.02 s: 6,000 s, within every limit of Settings (2 h, 432,000 frames,
    # the bytes), so the worker decodes frame after frame (tens of seconds here) until the
    # time limit ends it.
    endless = tiny_frames_gif(300_000, delay_cs=2)
    before = pool.stats()
    started = time.monotonic()
    with pytest.raises(DecodeTimeout) as caught:
        _hashed(pool, endless)
    assert time.monotonic() - started >= VIDEO_LIMIT  # the limit, not a failure, ended it
    assert (caught.value.code, caught.value.status) == ("decode_timeout", 422)
    assert f"longer than {VIDEO_LIMIT:g} s" in caught.value.message
    assert pool.stats().timeouts == before.timeouts + 1

    served = _hashed(pool, clip("mp4", seconds=1, fps=10))  # a fresh worker takes it
    assert served.usable and served.frames_decoded == 10
