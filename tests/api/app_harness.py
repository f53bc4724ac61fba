"""A running hashwall API for the ``test_app_*`` tests: a migrated store, tenants, real keys.

:func:`running_api` creates a database (SQLite file, or a fresh PostgreSQL schema), two
organisations with their platforms, two intake partners and one API key per role/tenant through
the operator use cases, then serves :func:`hashwall.api.app.create_app` with its lifespan in a
Starlette ``TestClient``. PINs are hashed with cheap argon2 parameters (as in tests/service).
"""

from __future__ import annotations

import io
import secrets
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import func, select

from hashwall.api.app import create_app
from hashwall.api.state import ApiState, MediaHasher
from hashwall.domain import Actor
from hashwall.hashing.image import ImageHashes, hash_image
from hashwall.service import keys as key_service
from hashwall.service import tenants
from hashwall.service.context import ServiceContext
from hashwall.settings import Settings
from hashwall.store import migrate
from hashwall.store.engine import make_engine
from hashwall.store.repo import Store
from hashwall.store.tables import matches

from support import CHEAP_PINS, TEST_SETTINGS, encode, textured_rgb

with warnings.catch_warnings():
    # Starlette 1.x suggests httpx2 for its TestClient; httpx (pinned) works the same here.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CLIENT = ("203.0.113.7", 40000)


@dataclass
class Api:
    """A served app and what the tests need around it."""

    client: TestClient
    ctx: ServiceContext
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> ApiState:
        """The app's state (limiters, live index, metrics)."""
        state: ApiState = self.client.app.state.hashwall  # type: ignore[attr-defined]
        return state

    def auth(self, name: str | None) -> dict[str, str]:
        """The Authorization header of key ``name`` (none for None)."""
        return {} if name is None else {"Authorization": f"Bearer {self.keys[name]}"}

    def catch_up(self) -> None:
        """Bring the live index up to the event log now (it follows within 200 ms anyway)."""
        live = self.ctx.live
        assert live is not None
        live.catch_up()

    def post(self, path: str, key: str | None = None, **kwargs: Any) -> Any:
        """POST with key ``name``."""
        headers = {**self.auth(key), **kwargs.pop("headers", {})}
        return self.client.post(path, headers=headers, **kwargs)

    def get(self, path: str, key: str | None = None, **kwargs: Any) -> Any:
        """GET with key ``name``."""
        headers = {**self.auth(key), **kwargs.pop("headers", {})}
        return self.client.get(path, headers=headers, **kwargs)

    def match_rows(self) -> int:
        """How many match records the store holds."""
        with self.ctx.store.read() as repo:
            return int(repo.conn.execute(select(func.count()).select_from(matches)).scalar_one())


def make_world(ctx: ServiceContext) -> dict[str, str]:
    """Two organisations, three platforms, two partners, and a key per role and tenant."""
    op = Actor.operator()
    tenants.add_organisation(ctx, op, "Social Co")
    tenants.add_organisation(ctx, op, "Other Co")
    reveal = tenants.PolicyUpdate(reveal_distance=True, reveal_orientation=True)
    tenants.add_platform(ctx, op, organisation="Social Co", name="feed", policy=reveal)
    tenants.add_platform(ctx, op, organisation="Social Co", name="chat")
    tenants.add_platform(ctx, op, organisation="Other Co", name="photos")
    tenants.add_partner(ctx, op, "Helpline A")
    tenants.add_partner(ctx, op, "Helpline B")

    def key(**kwargs: Any) -> str:
        return key_service.create_api_key(ctx, op, **kwargs).key

    keys = {
        "admin": key(role="admin"),
        "feed": key(role="platform", platform="feed"),
        "chat": key(role="platform", platform="chat"),
        "photos": key(role="platform", platform="photos"),
        "feed_check_only": key(role="platform", platform="feed", scopes=["check"]),
        "feed_feed_only": key(role="platform", platform="feed", scopes=["feed"]),
        "intake_a": key(role="intake", partner="Helpline A"),
        "intake_b": key(role="intake", partner="Helpline B"),
        "revoked": key(role="platform", platform="feed"),
        "revoked_admin": key(role="admin"),
        "revoked_intake": key(role="intake", partner="Helpline A"),
    }
    for name in ("revoked", "revoked_admin", "revoked_intake"):
        key_service.revoke_api_key(ctx, op, keys[name])
    return keys


@contextmanager
def running_api(
    database_url: str,
    *,
    decode_pool: MediaHasher | None = None,
    client: tuple[str, int] = CLIENT,
    migrated: bool = True,
    **overrides: Any,
) -> Iterator[Api]:
    """Serve the app over a new store with the world of :func:`make_world`."""
    engine = make_engine(database_url)
    if migrated:
        migrate.upgrade(engine)
    settings = Settings(database_url=database_url, **{**TEST_SETTINGS, **overrides})
    ctx = ServiceContext(Store(engine), settings, pins=CHEAP_PINS)
    keys = make_world(ctx) if migrated else {}
    app = create_app(ctx=ctx, decode_pool=decode_pool)
    try:
        with TestClient(app, client=client, raise_server_exceptions=False) as http:
            yield Api(http, ctx, keys)
    finally:
        engine.dispose()


# --- images -----------------------------------------------------------------------------------


def photo(seed: int = 11, width: int = 320, height: int = 240) -> np.ndarray:
    """A generated photo-like image."""
    return textured_rgb(width, height, seed=seed)


def jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of ``pixels``."""
    return encode(np.ascontiguousarray(pixels), "JPEG", quality=quality)


def hashes_of(data: bytes) -> ImageHashes:
    """The image's hashes with its 8 orientations (as a platform's SDK computes them)."""
    return hash_image(data, fast=True, orientations=True)


def item_json(hashes: ImageHashes) -> dict[str, Any]:
    """The intake form of an image: pdq, md5, sha256."""
    return {
        "signals": [
            {"type": "pdq", "value": hashes.pdq.hex, "quality": hashes.quality},
            {"type": "md5", "value": hashes.md5},
            {"type": "sha256", "value": hashes.sha256},
        ]
    }


def check_json(hashes: ImageHashes, *, orientations: bool = True) -> dict[str, Any]:
    """The check form of an upload (PDQ, digests and, if asked, its 8 orientations)."""
    body: dict[str, Any] = {
        "signals": [
            {"type": "pdq", "value": hashes.pdq.hex, "quality": hashes.quality},
            {"type": "sha256", "value": hashes.sha256},
        ]
    }
    if orientations and hashes.orientations is not None:
        body["pdq_orientations"] = [h.hex for h in hashes.orientations]
    return body


def media_with_sentinel(sentinel: bytes, size: int = 5 * 1024 * 1024, seed: int = 3) -> bytes:
    """A valid JPEG of at least ``size`` bytes whose APP15 segments carry ``sentinel``."""
    base = jpeg(photo(seed, 640, 480))
    segments = []
    total = len(base)
    while total < size:
        payload = secrets.token_bytes(30_000) + sentinel + secrets.token_bytes(30_000)
        segments.append(b"\xff\xef" + struct.pack(">H", len(payload) + 2) + payload)
        total += len(segments[-1])
    return base[:2] + b"".join(segments) + base[2:]


def png(pixels: np.ndarray) -> bytes:
    """PNG bytes of ``pixels``."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is an ``application/problem+json`` of ``status`` and ``code``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert set(body) >= {"type", "title", "status", "code", "detail"}
    assert "Traceback" not in response.text
    return body
