"""Authorisation matrix: every route x {no key, wrong role, wrong scope, revoked key, another
tenant's key, right key}, table-driven; plus tenant isolation of matches and cases."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app_harness import (
    Api,
    assert_problem,
    check_json,
    hashes_of,
    item_json,
    jpeg,
    photo,
    running_api,
)
from support import fresh_database_url

_seeds = itertools.count(1000)


class Scene:
    """Fresh cases and matches on demand, in one served app."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def image(self) -> bytes:
        return jpeg(photo(next(_seeds)))

    def case(self, key: str | None = None) -> dict[str, Any]:
        """A new case (anonymous, or filed by the intake key ``key``)."""
        response = self.api.post(
            "/v1/cases", key, json={"items": [item_json(hashes_of(self.image()))]}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def match(self, platform: str = "feed") -> str:
        """A new match ref received by ``platform``."""
        image = self.image()
        response = self.api.post(
            "/v1/cases", "intake_a", json={"items": [item_json(hashes_of(image))]}
        )
        assert response.status_code == 201
        self.api.catch_up()  # digests and PDQ are both matched from the live index
        answer = self.api.post("/v1/check", platform, json=check_json(hashes_of(image)))
        assert answer.json()["decision"] == "block", answer.text
        ref: str = answer.json()["matches"][0]["match_ref"]
        return ref


Request = tuple[str, str, dict[str, Any]]  # method, path, httpx kwargs


@dataclass(frozen=True)
class Row:
    """One route and who may call it. ``None`` in a column: the column does not apply."""

    route: str
    build: Callable[[Scene], Request]
    right: tuple[str | None, ...]
    right_status: int
    wrong_role: tuple[str, ...]
    wrong_scope: str | None = None
    other_tenant: Callable[[Scene], tuple[str, Request]] | None = None
    revoked: str = "revoked"
    no_key_allowed: bool = False
    no_key_code: str = "invalid_key"


def _case_body(scene: Scene, *, pin: bool = True, owner: str | None = None) -> dict[str, Any]:
    case = scene.case(owner)
    body = {"case_number": case["case_number"]}
    if pin:
        body["pin"] = case["pin"]
    return body


def _item_ref(scene: Scene) -> str:
    ref: str = scene.case()["items"][0]["item_ref"]
    return ref


def _unique() -> str:
    return f"n-{secrets.token_hex(4)}"


MD5 = {"signals": [{"type": "md5", "value": "0" * 32}]}


def _post(path: str, body: Any = None) -> Callable[[Scene], Request]:
    def build(scene: Scene) -> Request:
        return ("POST", path, {} if body is None else {"json": body() if callable(body) else body})

    return build


def _get(path: str, **params: Any) -> Callable[[Scene], Request]:
    return lambda scene: ("GET", path, {"params": params})


ADMIN_WRONG = ("feed", "intake_a")

ROWS: list[Row] = [
    Row(
        "POST /v1/cases",
        _post("/v1/cases", {"items": [MD5]}),
        right=(None, "intake_a"),
        right_status=201,
        wrong_role=("feed", "admin"),
        revoked="revoked_intake",
        no_key_allowed=True,
    ),
    Row(
        "POST /v1/cases/status",
        lambda s: ("POST", "/v1/cases/status", {"json": _case_body(s)}),
        right=(None,),
        right_status=200,
        wrong_role=("feed", "admin"),
        other_tenant=lambda s: (
            "intake_b",
            ("POST", "/v1/cases/status", {"json": _case_body(s, pin=False, owner="intake_a")}),
        ),
        revoked="revoked_intake",
        no_key_allowed=True,
    ),
    Row(
        "POST /v1/cases/status (partner, no PIN)",
        lambda s: (
            "POST",
            "/v1/cases/status",
            {"json": _case_body(s, pin=False, owner="intake_a")},
        ),
        right=("intake_a",),
        right_status=200,
        wrong_role=("feed",),
        other_tenant=lambda s: (
            "intake_b",
            ("POST", "/v1/cases/status", {"json": _case_body(s, pin=False, owner="intake_a")}),
        ),
        revoked="revoked_intake",
        no_key_code="invalid_credentials",
    ),
    Row(
        "POST /v1/cases/items",
        lambda s: ("POST", "/v1/cases/items", {"json": {**_case_body(s), "items": [MD5]}}),
        right=(None,),
        right_status=200,
        wrong_role=("feed", "admin"),
        other_tenant=lambda s: (
            "intake_b",
            (
                "POST",
                "/v1/cases/items",
                {"json": {**_case_body(s, pin=False, owner="intake_a"), "items": [MD5]}},
            ),
        ),
        revoked="revoked_intake",
        no_key_allowed=True,
    ),
    Row(
        "POST /v1/cases/withdraw",
        lambda s: ("POST", "/v1/cases/withdraw", {"json": _case_body(s)}),
        right=(None,),
        right_status=200,
        wrong_role=("feed", "admin"),
        other_tenant=lambda s: (
            "intake_b",
            ("POST", "/v1/cases/withdraw", {"json": _case_body(s, pin=False, owner="intake_a")}),
        ),
        revoked="revoked_intake",
        no_key_allowed=True,
    ),
    Row(
        "POST /v1/cases/reissue-pin",
        lambda s: (
            "POST",
            "/v1/cases/reissue-pin",
            {"json": _case_body(s, pin=False, owner="intake_a")},
        ),
        right=("intake_a",),
        right_status=200,
        wrong_role=("feed", "admin"),
        other_tenant=lambda s: (
            "intake_b",
            ("POST", "/v1/cases/reissue-pin", {"json": _case_body(s, pin=False, owner="intake_a")}),
        ),
        revoked="revoked_intake",
    ),
    Row(
        "POST /v1/cases/vouch",
        lambda s: ("POST", "/v1/cases/vouch", {"json": _case_body(s)}),
        right=("intake_b",),
        right_status=200,
        wrong_role=("feed", "admin"),
        revoked="revoked_intake",
    ),
    Row(
        "POST /v1/check",
        _post("/v1/check", MD5),
        right=("feed", "feed_check_only"),
        right_status=200,
        wrong_role=("intake_a", "admin"),
        wrong_scope="feed_feed_only",
    ),
    Row(
        "POST /v1/check/batch",
        _post("/v1/check/batch", {"uploads": [MD5]}),
        right=("feed",),
        right_status=200,
        wrong_role=("intake_a", "admin"),
        wrong_scope="feed_feed_only",
    ),
    Row(
        "POST /v1/matches/{match_ref}/verdict",
        lambda s: (
            "POST",
            f"/v1/matches/{s.match()}/verdict",
            {"json": {"verdict": "csam"}},
        ),
        right=("feed",),
        right_status=200,
        wrong_role=("intake_a", "admin"),
        wrong_scope="feed_check_only",
        other_tenant=lambda s: (
            "chat",  # same organisation, another platform: still not its match
            ("POST", f"/v1/matches/{s.match()}/verdict", {"json": {"verdict": "confirmed"}}),
        ),
    ),
    Row(
        "GET /v1/feed",
        _get("/v1/feed", limit=5),
        right=("feed", "feed_feed_only"),
        right_status=200,
        wrong_role=("intake_a",),
        wrong_scope="feed_check_only",
        other_tenant=lambda s: ("feed", ("GET", "/v1/feed", {"params": {"platform": "photos"}})),
    ),
    Row(
        "GET /v1/feed (admin names the platform)",
        _get("/v1/feed", limit=5, platform="photos"),
        right=("admin",),
        right_status=200,
        wrong_role=("intake_a",),
        revoked="revoked_admin",
    ),
    Row(
        "GET /v1/feed/snapshot",
        _get("/v1/feed/snapshot", block=5),
        right=("feed", "feed_feed_only"),
        right_status=200,
        wrong_role=("intake_a",),
        wrong_scope="feed_check_only",
        other_tenant=lambda s: (
            "feed",
            ("GET", "/v1/feed/snapshot", {"params": {"platform": "photos"}}),
        ),
    ),
    Row(
        "GET /v1/feed/snapshot (admin names the platform)",
        _get("/v1/feed/snapshot", block=5, platform="photos"),
        right=("admin",),
        right_status=200,
        wrong_role=("intake_a",),
        revoked="revoked_admin",
    ),
    Row(
        "POST /v1/admin/organisations",
        _post("/v1/admin/organisations", lambda: {"name": _unique()}),
        right=("admin",),
        right_status=201,
        wrong_role=ADMIN_WRONG,
        revoked="revoked_admin",
    ),
    Row(
        "POST /v1/admin/platforms",
        _post("/v1/admin/platforms", lambda: {"organisation": "Other Co", "name": _unique()}),
        right=("admin",),
        right_status=201,
        wrong_role=ADMIN_WRONG,
        revoked="revoked_admin",
    ),
    Row(
        "POST /v1/admin/platforms/policy",
        _post("/v1/admin/platforms/policy", {"platform": "chat", "changes": {"pdq_threshold": 30}}),
        right=("admin",),
        right_status=200,
        wrong_role=ADMIN_WRONG,
        revoked="revoked_admin",
    ),
    Row(
        "POST /v1/admin/partners",
        _post("/v1/admin/partners", lambda: {"name": _unique()}),
        right=("admin",),
        right_status=201,
        wrong_role=ADMIN_WRONG,
        revoked="revoked_admin",
    ),
    Row(
        "POST /v1/admin/keys",
        _post("/v1/admin/keys", {"role": "platform", "platform": "photos", "scopes": ["feed"]}),
        right=("admin",),
        right_status=201,
        wrong_role=ADMIN_WRONG,
        revoked="revoked_admin",
    ),
    Row(
        "POST /v1/admin/keys/{key_id}/revoke",
        lambda s: (
            "POST",
            "/v1/admin/keys/{}/revoke".format(
                s.api.post("/v1/admin/keys", "admin", json={"role": "admin"}).json()["id"]
            ),
            {},
        ),
        right=("admin",),
        right_status=200,
        wrong_role=ADMIN_WRONG,
        revoked="revoked_admin",
    ),
    Row(
        "POST /v1/admin/allowlist",
        _post("/v1/admin/allowlist", {"signals": [{"type": "md5", "value": "b" * 32}]}),
        right=("admin",),
        right_status=200,
        wrong_role=ADMIN_WRONG,
        revoked="revoked_admin",
    ),
    Row(
        "POST /v1/admin/retention/run",
        _post("/v1/admin/retention/run"),
        right=("admin",),
        right_status=200,
        wrong_role=ADMIN_WRONG,
        revoked="revoked_admin",
    ),
    Row(
        "GET /v1/matches",
        _get("/v1/matches", state="pending"),
        right=("feed",),
        right_status=200,
        wrong_role=("intake_a", "admin"),
        wrong_scope="feed_check_only",
    ),
    Row(
        "POST /v1/admin/cases/show",
        lambda s: ("POST", "/v1/admin/cases/show", {"json": _case_body(s, pin=False)}),
        right=("admin",),
        right_status=200,
        wrong_role=ADMIN_WRONG,
        revoked="revoked_admin",
    ),
    Row(
        "POST /v1/admin/cases/erase",
        lambda s: (
            "POST",
            "/v1/admin/cases/erase",
            {"json": {**_case_body(s, pin=False), "reason": "the person asked"}},
        ),
        right=("admin",),
        right_status=200,
        wrong_role=ADMIN_WRONG,
        revoked="revoked_admin",
    ),
    Row(
        "POST /v1/admin/items/{item_ref}/delete",
        lambda s: (
            "POST",
            f"/v1/admin/items/{_item_ref(s)}/delete",
            {"json": {"reason": "a court order"}},
        ),
        right=("admin",),
        right_status=200,
        wrong_role=ADMIN_WRONG,
        revoked="revoked_admin",
    ),
    Row(
        "POST /v1/admin/items/{item_ref}/confirm",
        lambda s: ("POST", f"/v1/admin/items/{_item_ref(s)}/confirm", {}),
        right=("admin",),
        right_status=200,
        wrong_role=ADMIN_WRONG,
        revoked="revoked_admin",
    ),
    *[
        Row(
            f"GET {path}",
            _get(path),
            right=("admin",),
            right_status=200,
            wrong_role=ADMIN_WRONG,
            revoked="revoked_admin",
        )
        for path in (
            "/v1/admin/organisations",
            "/v1/admin/platforms",
            "/v1/admin/partners",
            "/v1/admin/keys",
            "/v1/admin/quarantine",
            "/v1/admin/allowlist",
            "/v1/admin/audit",
            "/v1/admin/csam",
        )
    ],
    Row(  # its labels name every platform and count its decisions
        "GET /metrics",
        _get("/metrics"),
        right=("admin",),
        right_status=200,
        wrong_role=("feed", "intake_a", "feed_check_only"),
        revoked="revoked_admin",
    ),
]


@pytest.fixture(scope="module")
def scene(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Scene]:
    """One served app for the whole matrix (each row makes its own cases and matches)."""
    url = fresh_database_url("sqlite", tmp_path_factory.mktemp("authz"), request)
    with running_api(url) as api:
        yield Scene(api)


def _send(scene: Scene, key: str | None, request: Request) -> Any:
    method, path, kwargs = request
    scene.api.catch_up()
    return scene.api.client.request(method, path, headers=scene.api.auth(key), **kwargs)


@pytest.mark.parametrize("row", ROWS, ids=[r.route for r in ROWS])
def test_route_answers_each_kind_of_caller(scene: Scene, row: Row) -> None:
    # No key.
    response = _send(scene, None, row.build(scene))
    if row.no_key_allowed:
        assert response.status_code == row.right_status, response.text
    else:
        assert_problem(response, 401, row.no_key_code)
    # Wrong role.
    for key in row.wrong_role:
        assert_problem(_send(scene, key, row.build(scene)), 403, "forbidden")
    # Wrong scope.
    if row.wrong_scope is not None:
        assert_problem(_send(scene, row.wrong_scope, row.build(scene)), 403, "forbidden")
    # Revoked key: never the anonymous channel, always 401.
    assert_problem(_send(scene, row.revoked, row.build(scene)), 401, "invalid_key")
    # Another tenant's key.
    if row.other_tenant is not None:
        key, request = row.other_tenant(scene)
        assert_problem(_send(scene, key, request), 403, "forbidden")
    # The right keys.
    for key in row.right:
        response = _send(scene, key, row.build(scene))
        assert response.status_code == row.right_status, (key, response.text)


def test_every_v1_route_is_in_the_matrix(scene: Scene) -> None:
    # From the OpenAPI document: FastAPI's route list nests included routers, which a walk
    # over app.routes does not see (it then checked nothing).
    paths = scene.api.client.get("/openapi.json").json()["paths"]
    routes = {
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        if path.startswith("/v1")
        for method in operations
    }
    assert len(routes) > 25  # every route of the API, not an empty set
    covered = {r.route.split(" (")[0] for r in ROWS} | {"DELETE /v1/admin/allowlist/{entry_id}"}
    covered |= {
        "POST /v1/admin/quarantine/{item_ref}/reinstate",
        "POST /v1/admin/quarantine/{item_ref}/delete",
    }
    assert routes <= covered, routes - covered
    assert "/metrics" in paths and "GET /metrics" in covered


@pytest.mark.parametrize(
    "path",
    [
        "/v1/admin/quarantine/itm_x/reinstate",
        "/v1/admin/quarantine/itm_x/delete",
    ],
)
def test_item_admin_routes_need_an_admin_key(scene: Scene, path: str) -> None:
    assert_problem(scene.api.post(path), 401, "invalid_key")
    assert_problem(scene.api.post(path, "feed"), 403, "forbidden")
    assert_problem(scene.api.post(path, "revoked_admin"), 401, "invalid_key")
    assert_problem(scene.api.post(path, "admin"), 404, "not_found")
    delete = scene.api.client.delete("/v1/admin/allowlist/999999", headers=scene.api.auth("feed"))
    assert_problem(delete, 403, "forbidden")


def test_a_malformed_authorization_header_is_invalid_key(scene: Scene) -> None:
    for header in ("Basic abc", "Bearer", "Bearer nodot", "Bearer " + "x" * 300):
        response = scene.api.client.post("/v1/check", json=MD5, headers={"Authorization": header})
        assert_problem(response, 401, "invalid_key")


def test_platform_sees_and_judges_only_its_own_matches(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url("sqlite", tmp_path, request)
    with running_api(url) as api:
        scene = Scene(api)
        ref = scene.match("photos")
        for other in ("feed", "chat"):
            judged = api.post(f"/v1/matches/{ref}/verdict", other, json={"verdict": "confirmed"})
            assert_problem(judged, 403, "forbidden")
        unknown = api.post("/v1/matches/mch_nope/verdict", "feed", json={"verdict": "confirmed"})
        assert_problem(unknown, 404, "not_found")
        own = api.post(f"/v1/matches/{ref}/verdict", "photos", json={"verdict": "confirmed"})
        assert own.status_code == 200


def test_partner_reaches_only_its_own_cases_without_a_pin(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url("sqlite", tmp_path, request)
    with running_api(url) as api:
        scene = Scene(api)
        mine = scene.case("intake_a")
        number = {"case_number": mine["case_number"]}
        for path in ("/v1/cases/status", "/v1/cases/withdraw", "/v1/cases/reissue-pin"):
            assert_problem(api.post(path, "intake_b", json=number), 403, "forbidden")
        # An unknown case number answers exactly as another partner's case does (no oracle).
        unknown = api.post(
            "/v1/cases/status", "intake_b", json={"case_number": "HW-0000-0000-0000"}
        )
        assert_problem(unknown, 403, "forbidden")
        assert api.post("/v1/cases/status", "intake_a", json=number).status_code == 200
