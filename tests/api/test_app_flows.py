"""The use-case flows over HTTP, on SQLite and on PostgreSQL: enrol, check, judge, withdraw."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hashwall.store import migrate

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


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """The API over a fresh store on each back end."""
    url = fresh_database_url(str(request.param), tmp_path, request)
    with running_api(url) as served:
        yield served


@pytest.fixture(scope="module")
def pictures() -> dict[str, bytes]:
    """A photo, a rotated and a re-encoded copy of it, and an unrelated photo."""
    pixels = photo(11)
    return {
        "original": jpeg(pixels, 92),
        "rotated": jpeg(np.rot90(pixels), 85),
        "reencoded": jpeg(pixels, 60),
        "other": jpeg(photo(99), 92),
    }


def enrol(api: Api, image: bytes, key: str | None = None) -> dict[str, object]:
    response = api.post("/v1/cases", key, json={"items": [item_json(hashes_of(image))]})
    assert response.status_code == 201, response.text
    api.catch_up()
    body: dict[str, object] = response.json()
    return body


def check(api: Api, image: bytes, key: str = "feed", **kwargs: object) -> dict[str, object]:
    response = api.post("/v1/check", key, json=check_json(hashes_of(image)), **kwargs)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_anonymous_case_reviews_copies_until_vouched_then_blocks(
    api: Api, pictures: dict[str, bytes]
) -> None:
    case = enrol(api, pictures["original"])
    assert case["channel"] == "anonymous"
    assert str(case["case_number"]).startswith("HW-")

    for name in ("original", "rotated", "reencoded"):
        answer = check(api, pictures[name])
        assert answer["decision"] == "review", name
        assert answer["reason"] == "match"
    rotated = check(api, pictures["rotated"])
    match = rotated["matches"][0]  # type: ignore[index]
    assert match["orientation"] != "original"  # the feed platform's policy reveals it
    assert "distance" in match
    assert check(api, pictures["other"])["decision"] == "allow"

    vouched = api.post(
        "/v1/cases/vouch",
        "intake_a",
        json={"case_number": case["case_number"], "pin": case["pin"]},
    )
    assert vouched.status_code == 200, vouched.text
    assert len(vouched.json()["vouched_items"]) == 1
    assert check(api, pictures["rotated"])["decision"] == "block"


def test_partner_case_blocks_and_withdrawal_allows_at_once(
    api: Api, pictures: dict[str, bytes]
) -> None:
    case = enrol(api, pictures["original"], key="intake_a")
    assert case["channel"] == "partner"
    assert check(api, pictures["reencoded"])["decision"] == "block"

    status = api.post(
        "/v1/cases/status", json={"case_number": case["case_number"], "pin": case["pin"]}
    )
    assert status.status_code == 200
    assert status.json()["items"][0]["trust"] == "vouched"

    withdrawn = api.post(
        "/v1/cases/withdraw", json={"case_number": case["case_number"], "pin": case["pin"]}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["case_withdrawn"] is True
    # No catch_up: the store is re-read before any non-allow answer.
    assert check(api, pictures["original"])["decision"] == "allow"


def test_partner_acts_on_its_own_case_without_the_pin(api: Api, pictures: dict[str, bytes]) -> None:
    case = enrol(api, pictures["original"], key="intake_a")
    number = case["case_number"]
    assert api.post("/v1/cases/status", "intake_a", json={"case_number": number}).status_code == 200
    reissued = api.post("/v1/cases/reissue-pin", "intake_a", json={"case_number": number})
    assert reissued.status_code == 200
    new_pin = reissued.json()["pin"]
    assert new_pin != case["pin"]
    assert_problem(
        api.post("/v1/cases/status", json={"case_number": number, "pin": case["pin"]}),
        401,
        "invalid_credentials",
    )
    added = api.post(
        "/v1/cases/items",
        json={
            "case_number": number,
            "pin": new_pin,
            "items": [item_json(hashes_of(pictures["other"]))],
        },
    )
    assert added.status_code == 200, added.text
    item_ref = added.json()["items"][0]["item_ref"]
    one = api.post(
        "/v1/cases/withdraw", "intake_a", json={"case_number": number, "item_ref": item_ref}
    )
    assert one.status_code == 200
    assert one.json() == {
        "case_number": number,
        "case_withdrawn": False,
        "withdrawn_items": [item_ref],
    }


def test_verdicts_confirm_and_exempt(api: Api, pictures: dict[str, bytes]) -> None:
    enrol(api, pictures["original"])
    answer = check(api, pictures["reencoded"])
    match_ref = answer["matches"][0]["match_ref"]  # type: ignore[index]
    confirmed = api.post(f"/v1/matches/{match_ref}/verdict", "feed", json={"verdict": "confirmed"})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["recorded"] is True
    # Confirmed by Social Co: it blocks on Social Co's platforms; Other Co still reviews it.
    assert check(api, pictures["original"], key="chat")["decision"] == "block"
    reviewed = check(api, pictures["original"], key="photos")
    assert reviewed["decision"] == "review"

    # A verdict names the upload its match was made on, or none: another upload is refused.
    other = hashes_of(pictures["other"])
    wrong = api.post(
        f"/v1/matches/{reviewed['matches'][0]['match_ref']}/verdict",  # type: ignore[index]
        "photos",
        json={"verdict": "not_ncii", "upload_pdq": other.pdq.hex},
    )
    assert_problem(wrong, 422, "upload_mismatch")
    hashes = hashes_of(pictures["original"])
    exempt = api.post(
        f"/v1/matches/{reviewed['matches'][0]['match_ref']}/verdict",  # type: ignore[index]
        "photos",
        json={"verdict": "not_ncii", "upload_pdq": hashes.pdq.hex, "upload_sha256": hashes.sha256},
    )
    assert exempt.status_code == 200
    assert check(api, pictures["original"], key="photos")["decision"] == "allow"
    assert check(api, pictures["original"], key="feed")["decision"] == "block"


def test_idempotency_key_replays_the_first_answer_and_writes_one_match(
    api: Api, pictures: dict[str, bytes]
) -> None:
    enrol(api, pictures["original"], key="intake_a")
    before = api.match_rows()
    headers = {"Idempotency-Key": "upload-42"}
    first = check(api, pictures["original"], headers=headers)
    second = check(api, pictures["original"], headers=headers)
    assert first == second
    assert first["decision"] == "block"
    assert api.match_rows() == before + 1
    # Another key id (platform) with the same idempotency key is another slot.
    third = check(api, pictures["original"], key="chat", headers=headers)
    assert third["check_id"] != first["check_id"]
    # The same idempotency key with another request is a client bug.
    reused = api.post(
        "/v1/check", "feed", json=check_json(hashes_of(pictures["other"])), headers=headers
    )
    assert_problem(reused, 400, "invalid_input")


def test_a_replayed_block_is_rechecked_after_a_withdrawal(
    api: Api, pictures: dict[str, bytes]
) -> None:
    case = enrol(api, pictures["original"], key="intake_a")
    headers = {"Idempotency-Key": "upload-43"}
    first = api.post("/v1/check", "feed", json=check_json(hashes_of(pictures["original"])),
                     headers=headers)  # fmt: skip
    assert first.json()["decision"] == "block"
    again = api.post("/v1/check", "feed", json=check_json(hashes_of(pictures["original"])),
                     headers=headers)  # fmt: skip
    assert again.content == first.content  # byte for byte while nothing changed
    batch = {"uploads": [check_json(hashes_of(pictures["original"]))]}
    batch_key = {"Idempotency-Key": "batch-43"}
    first_batch = api.post("/v1/check/batch", "feed", json=batch, headers=batch_key).json()
    assert first_batch["results"][0]["result"]["decision"] == "block"
    withdrawn = api.post(
        "/v1/cases/withdraw", "intake_a", json={"case_number": case["case_number"]}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    replayed = api.post("/v1/check", "feed", json=check_json(hashes_of(pictures["original"])),
                        headers=headers)  # fmt: skip
    assert replayed.headers["idempotent-replay"] == "true"
    body = replayed.json()
    assert (body["check_id"], body["decision"], body["matches"]) == (
        first.json()["check_id"],
        "allow",
        [],
    )
    replayed_batch = api.post("/v1/check/batch", "feed", json=batch, headers=batch_key).json()
    assert replayed_batch["results"][0]["result"]["decision"] == "allow"


def test_batch_checks_each_upload_and_is_idempotent(api: Api, pictures: dict[str, bytes]) -> None:
    enrol(api, pictures["original"], key="intake_a")
    uploads = [check_json(hashes_of(pictures[n])) for n in ("original", "other")]
    uploads.append({"signals": [{"type": "pdq", "value": "zz", "quality": 90}]})
    headers = {"Idempotency-Key": "batch-1"}
    first = api.post("/v1/check/batch", "feed", json={"uploads": uploads}, headers=headers)
    assert first.status_code == 200, first.text
    results = first.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2]
    assert results[0]["result"]["decision"] == "block"
    assert results[1]["result"]["decision"] == "allow"
    assert results[2]["error"]["code"] == "invalid_hash"
    rows = api.match_rows()
    again = api.post("/v1/check/batch", "feed", json={"uploads": uploads}, headers=headers)
    assert again.json() == first.json()
    assert api.match_rows() == rows


def test_feed_pages_the_bank_for_its_platform(api: Api, pictures: dict[str, bytes]) -> None:
    case = enrol(api, pictures["original"], key="intake_a")
    page = api.get("/v1/feed", "feed", params={"limit": 10})
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["platform"] == "feed"
    assert [i["item"] for i in body["items"]] == [case["items"][0]["item_ref"]]  # type: ignore[index]
    nxt = api.get("/v1/feed", "feed", params={"cursor": body["cursor"]})
    assert nxt.status_code == 200
    assert_problem(
        api.get("/v1/feed", "feed", params={"cursor": "hwf1.nope"}), 400, "invalid_cursor"
    )
    admin = api.get("/v1/feed", "admin", params={"platform": "photos"})
    assert admin.json()["platform"] == "photos"


def test_readyz_is_ready_once_the_index_follows_the_log(api: Api) -> None:
    ready = api.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["ready"] is True
    assert api.client.get("/healthz").json() == {"status": "ok"}


def test_schema_behind_head_is_not_ready_and_refuses_requests(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url("sqlite", tmp_path, request)
    with running_api(url, migrated=False) as api:
        ready = api.client.get("/readyz")
        assert ready.status_code == 503
        assert "hashwall db upgrade" in ready.json()["detail"]
        assert_problem(
            api.post(
                "/v1/cases", json={"items": [{"signals": [{"type": "md5", "value": "0" * 32}]}]}
            ),
            503,
            "store_unavailable",
        )
        migrate.upgrade(api.ctx.store.engine)
        assert api.client.get("/readyz").status_code == 200


def test_admin_runs_the_operator_commands(api: Api) -> None:
    made = api.post("/v1/admin/organisations", "admin", json={"name": "New Co"})
    assert made.status_code == 201
    platform = api.post(
        "/v1/admin/platforms",
        "admin",
        json={"organisation": "New Co", "name": "clips", "policy": {"pdq_threshold": 20}},
    )
    assert platform.status_code == 201, platform.text
    assert platform.json()["policy"]["pdq_threshold"] == 20
    policy = api.post(
        "/v1/admin/platforms/policy",
        "admin",
        json={"platform": "clips", "changes": {"reveal_distance": True}},
    )
    assert policy.json()["policy"]["reveal_distance"] is True
    key = api.post(
        "/v1/admin/keys",
        "admin",
        json={"role": "platform", "platform": "clips", "scopes": ["check"]},
    )
    assert key.status_code == 201
    created = key.json()
    assert created["key"].startswith(created["id"] + ".")
    listed = api.get("/v1/admin/keys", "admin").json()
    assert created["id"] in [k["id"] for k in listed]
    assert all("key" not in k for k in listed)
    assert (
        api.post(
            "/v1/check",
            json={"signals": [{"type": "md5", "value": "0" * 32}]},
            headers={"Authorization": f"Bearer {created['key']}"},
        ).status_code
        == 200
    )
    revoked = api.post(f"/v1/admin/keys/{created['id']}/revoke", "admin")
    assert revoked.json()["revoked"] is True
    again = api.post(
        "/v1/check",
        json={"signals": [{"type": "md5", "value": "0" * 32}]},
        headers={"Authorization": f"Bearer {created['key']}"},
    )
    assert_problem(again, 401, "invalid_key")
    assert_problem(
        api.post("/v1/admin/organisations", "admin", json={"name": "New Co"}), 409, "already_exists"
    )
    assert api.get("/v1/admin/partners", "admin").status_code == 200
    assert api.get("/v1/admin/audit", "admin", params={"limit": 5}).status_code == 200
    allow = api.post(
        "/v1/admin/allowlist", "admin", json={"signals": [{"type": "md5", "value": "a" * 32}]}
    )
    assert allow.status_code == 200
    entry = allow.json()[0]["id"]
    assert (
        api.client.delete(f"/v1/admin/allowlist/{entry}", headers=api.auth("admin")).status_code
        == 204
    )
    assert api.get("/v1/admin/quarantine", "admin").json() == []
    assert api.post("/v1/admin/retention/run", "admin").status_code == 200
