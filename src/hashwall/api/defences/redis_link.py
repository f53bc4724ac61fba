"""The Redis connection of a defence, and the warning while Redis is down."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis.asyncio

log = logging.getLogger("hashwall.api.defences")

#: Redis scripts work in integer microseconds.
US = 1_000_000


class RedisLink:
    """An asyncio client on one URL, created on first use (it belongs to the event loop that
    first uses it), its registered scripts, and a rate-limited outage warning."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._client: redis.asyncio.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._last_warning = 0.0

    def script(self, source: str) -> Any:
        """``source`` registered on the client (an async callable ``(keys=, args=)``)."""
        if self._client is None:
            self._client = redis.asyncio.Redis.from_url(
                self._url, socket_timeout=1.0, socket_connect_timeout=1.0
            )
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._client.register_script(source)
        return script

    def warn(self, exc: Exception) -> None:
        """Log that Redis is unavailable, at most once a minute."""
        now = time.monotonic()
        if now - self._last_warning > 60:
            self._last_warning = now
            log.warning("Redis unavailable (%s); limits are per process until it is back", exc)

    async def aclose(self) -> None:
        """Close the client (on its own event loop)."""
        self._scripts.clear()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
