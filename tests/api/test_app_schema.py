"""Schemathesis against /openapi.json: generated requests to every operation, never a 5xx.

Requests carry the key a route expects (admin, platform, intake, or none), so generation reaches
past authentication into the use cases. Bounded: a few examples per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from hashwall.api.app import create_app
from hashwall.api.state import ApiState
from hashwall.sandbox.pool import DecodePool
from hashwall.service.context import ServiceContext
from hashwall.settings import Settings
from hashwall.store import migrate
from hashwall.store.engine import make_engine
from hashwall.store.repo import Store

from app_harness import CHEAP_PINS, TEST_SETTINGS, make_world

KEYS: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The served app's schema, with a migrated store, tenants and a decoder worker."""
    url = f"sqlite:///{tmp_path_factory.mktemp('schema') / 'hashwall.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    base = Settings(database_url=url, **TEST_SETTINGS)
    ctx = ServiceContext(Store(engine), base, pins=CHEAP_PINS)
    KEYS.update(make_world(ctx))
    with DecodePool(base, workers=1) as pool:
        app = create_app(ctx=ctx, decode_pool=pool)
        state: ApiState = app.state.hashwall
        state.open_store()  # the lifespan's start (schemathesis's client does not run it)
        try:
            yield schemathesis.openapi.from_asgi("/openapi.json", app)
        finally:
            if ctx.live is not None:
                ctx.live.stop()
            state.pin_cap.close()
            engine.dispose()


def _key_for(path: str) -> str | None:
    if path.startswith("/v1/admin"):
        return KEYS["admin"]
    if path.startswith(("/v1/check", "/v1/matches", "/v1/feed")):
        return KEYS["feed"]
    if path in ("/v1/cases/reissue-pin", "/v1/cases/vouch"):
        return KEYS["intake_a"]
    return None


def _call(case: Any) -> None:
    key = _key_for(case.path)
    if key is not None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
    case.call_and_validate(
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )


def test_no_generated_request_gets_a_server_error(api_schema: Any) -> None:
    # Driven by hand rather than by schemathesis's pytest plugin (which pytest 9 breaks).
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 25
    for operation in operations:
        run = settings(
            max_examples=5,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(given(case=operation.as_strategy())(_call))
        run()


def test_the_schema_documents_every_route(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    document = app.openapi()
    paths = set(document["paths"])
    assert {"/v1/cases", "/v1/check", "/v1/check/batch", "/v1/feed", "/readyz"} <= paths
    check = document["paths"]["/v1/check"]["post"]
    assert set(check["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert check["responses"]["429"]["content"]["application/problem+json"]
    assert "Problem" in document["components"]["schemas"]


def test_the_wire_limits_are_the_services() -> None:
    # hashwall.wire imports nothing of the service, so the two spell these limits each.
    import importlib
    import pkgutil

    from hashwall import service, wire

    modules = [
        importlib.import_module(m.name)
        for m in pkgutil.iter_modules(service.__path__, "hashwall.service.")
    ]
    for wire_limit, service_limit in [
        (wire.MAX_ITEMS, "MAX_ITEMS_PER_REQUEST"),
        (wire.MAX_REASON_LENGTH, "MAX_REASON_LENGTH"),
    ]:
        found = {getattr(m, service_limit) for m in modules if hasattr(m, service_limit)}
        assert found == {wire_limit}, service_limit


def test_every_model_of_the_document_is_a_wire_model(tmp_path: Path) -> None:
    from hashwall import wire

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    names = set(app.openapi()["components"]["schemas"])
    assert len(names) >= 50
    assert {n for n in names if not isinstance(getattr(wire, n, None), type)} == set()
