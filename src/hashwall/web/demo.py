"""The demo platform that ``/demo`` plays, only where ``hashwall demo setup`` ran (``make run``).

``HASHWALL_DEMO_KEYS_FILE`` names the keys file that ``hashwall demo setup`` wrote; while it is
unset (every real deployment), or the file holds no platform key, ``/demo`` and its two calls
are 404. Otherwise the server holds the first demo platform's key and the page never sees it:
the page's calls (``POST /demo/check``, ``POST /demo/matches/{ref}/verdict``) are handed, in
this process, to the service's own API (``/v1/check``, ``/v1/matches/{ref}/verdict``) with
that key, as a platform's backend would call it, and the API's answer goes back as it is.

The file is read on every call: a later ``hashwall demo setup`` may have revoked the keys it
held and saved new ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import quote

import httpx
from starlette.types import ASGIApp

from hashwall.settings import Settings

#: Where a demo check goes in the API.
CHECK_PATH: Final = "/v1/check"
#: The headers of the API's answer that the page gets back.
_PASSED_ON: Final = ("content-type", "retry-after", "idempotent-replay")


@dataclass(frozen=True, slots=True)
class DemoPlatform:
    """The platform the demo page plays: its name and its key (never sent to a browser)."""

    name: str
    key: str

    def __repr__(self) -> str:
        return f"DemoPlatform(name={self.name!r}, key=<hidden>)"


def demo_platform(settings: Settings) -> DemoPlatform | None:
    """The first platform of the demo keys file, or None when the demo is not set up."""
    if not settings.demo_keys_file:
        return None
    try:
        saved = json.loads(Path(settings.demo_keys_file).read_text(encoding="utf-8"))
        first = saved["platforms"][0]
        name, key = first["name"], first["key"]
    except (OSError, ValueError, LookupError, TypeError):
        return None
    if not isinstance(name, str) or not isinstance(key, str) or not key:
        return None
    return DemoPlatform(name=name, key=key)


@dataclass(frozen=True, slots=True)
class Answer:
    """The API's answer to a forwarded call."""

    status: int
    body: bytes
    headers: dict[str, str]


def verdict_path(match_ref: str) -> str:
    """Where a demo verdict on ``match_ref`` goes in the API (the reference quoted whole)."""
    return f"/v1/matches/{quote(match_ref, safe='')}/verdict"


async def forward(app: ASGIApp, platform: DemoPlatform, path: str, body: bytes) -> Answer:
    """POST ``body`` (JSON) to this service's ``path`` as ``platform``, in process."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 0))
    async with httpx.AsyncClient(transport=transport, base_url="http://demo.invalid") as client:
        response = await client.post(
            path,
            content=body,
            headers={
                "Authorization": f"Bearer {platform.key}",
                "Content-Type": "application/json",
            },
        )
    headers = {k: response.headers[k] for k in _PASSED_ON if k in response.headers}
    return Answer(status=response.status_code, body=response.content, headers=headers)
