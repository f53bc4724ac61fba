"""Client addresses: uvicorn believes X-Forwarded-For only from the trusted proxies that
``hashwall serve`` gives it, read from the right; hashwall groups IPv6 clients per /64."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from hashwall.api.clientaddr import client_subject, limit_subject
from hashwall.cli.serve import server_options
from hashwall.settings import Settings

from app_harness import assert_problem, running_api
from support import fresh_database_url

MD5 = {"signals": [{"type": "md5", "value": "0" * 32}]}
PROXIES = ("10.0.0.0/8", "2001:db8:ffff::/48")


def served(app: Any, trusted: tuple[str, ...]) -> Any:
    """``app`` as ``hashwall serve`` runs it under uvicorn with ``trusted`` proxies."""
    config = uvicorn.Config(
        app, log_config=None, **server_options(Settings(trusted_proxies=trusted))
    )
    config.load()
    return config.loaded_app


async def _answer(send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def subject_seen(peer: str | None, forwarded: list[str], trusted: tuple[str, ...] = PROXIES) -> str:
    """The limiter subject the app sees for a request from ``peer`` with these
    ``X-Forwarded-For`` header lines, served as ``hashwall serve`` serves it."""
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(client_subject(scope))
        await _answer(send)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        pass

    scope = {
        "type": "http",
        "scheme": "http",
        "method": "GET",
        "path": "/",
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
        "client": None if peer is None else (peer, 50000),
    }
    asyncio.run(served(app, trusted)(scope, receive, send))
    return seen[0]


def test_without_trusted_proxies_the_header_is_never_believed() -> None:
    assert server_options(Settings()) == {"proxy_headers": False}
    assert subject_seen("198.51.100.7", ["203.0.113.1"], trusted=()) == "198.51.100.7"
    # Not even from 127.0.0.1, which uvicorn would trust by default.
    assert subject_seen("127.0.0.1", ["203.0.113.1"], trusted=()) == "127.0.0.1"


def test_header_from_an_untrusted_peer_is_ignored() -> None:
    assert subject_seen("198.51.100.7", ["203.0.113.1"]) == "198.51.100.7"


def test_trusted_proxy_names_the_client() -> None:
    assert subject_seen("10.0.0.2", ["203.0.113.1"]) == "203.0.113.1"


def test_client_cannot_spoof_by_prepending_addresses() -> None:
    # The client sent "X-Forwarded-For: 6.6.6.6"; our proxy appended what it saw.
    assert subject_seen("10.0.0.2", ["6.6.6.6, 203.0.113.1"]) == "203.0.113.1"


def test_chain_of_trusted_proxies_is_walked_from_the_right() -> None:
    header = ["6.6.6.6, 203.0.113.1, 10.1.1.1", "10.2.2.2"]  # two header lines
    assert subject_seen("10.0.0.2", header) == "203.0.113.1"


def test_all_hops_trusted_gives_the_leftmost() -> None:
    assert subject_seen("10.0.0.2", ["10.9.9.9, 10.1.1.1"]) == "10.9.9.9"
    assert subject_seen("10.0.0.2", []) == "10.0.0.2"


def test_ipv6_clients_behind_a_proxy_are_limited_per_64() -> None:
    assert subject_seen("2001:db8:ffff::1", ["[2001:DB8:0:7::5]:443"]) == "2001:db8:0:7::/64"
    assert subject_seen(None, []) == "unknown"


@pytest.mark.parametrize(
    ("address", "subject"),
    [
        ("203.0.113.1", "203.0.113.1"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("unix-socket", "unknown"),
        ("unknown", "unknown"),
    ],
)
def test_ipv6_clients_are_limited_per_64(address: str, subject: str) -> None:
    assert limit_subject(address) == subject


def test_forwarded_for_is_believed_only_from_trusted_proxies_by_the_served_app(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url("sqlite", tmp_path, request)
    with running_api(url, rate_limit_client_per_second=0.001, rate_limit_client_burst=1) as api:
        app = served(api.client.app, ("10.0.0.0/8",))
        # Not entered: the app's lifespan is the harness's, already running.
        via_proxy = TestClient(app, client=("10.1.2.3", 1), raise_server_exceptions=False)
        for n in range(3):  # each forwarded client has its own budget behind our proxy
            forwarded = {"X-Forwarded-For": f"192.0.2.{n + 1}"}
            created = via_proxy.post("/v1/cases", json={"items": [MD5]}, headers=forwarded)
            assert created.status_code == 201, created.text
        direct = TestClient(app, client=("203.0.113.50", 1), raise_server_exceptions=False)
        spoof = {"X-Forwarded-For": "192.0.2.99"}
        assert direct.post("/v1/cases", json={"items": [MD5]}, headers=spoof).status_code == 201
        spoof = {"X-Forwarded-For": "192.0.2.100"}  # a new lie: still the same client
        limited = direct.post("/v1/cases", json={"items": [MD5]}, headers=spoof)
        assert_problem(limited, 429, "rate_limited")
