"""Fixtures the API tests share."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from support import skip_needing


@pytest.fixture
def redis_url() -> Iterator[tuple[str, str]]:
    """The local test Redis (DB 15) and a key prefix of this test's own, removed after; skipped
    when Redis is down (failed under ``CI=true``)."""
    url = os.environ.get("HASHWALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url, socket_connect_timeout=1.0)
    try:
        client.ping()
    except redis.RedisError as exc:
        skip_needing("needs Redis", f"unreachable at {url}: {exc}")
    prefix = f"hashwall-test:{uuid.uuid4().hex}:"
    yield url, prefix
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()
