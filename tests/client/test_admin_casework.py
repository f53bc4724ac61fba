"""The operator's casework over the API with an admin key, through hashwall.Client: find a
case, erase it at the person's request, delete an active item with a reason, the csam queue,
and an audit log that names each actor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from hashwall import Client, hash_image
from hashwall.client import ApiError
from live_server import Served, prepare_store, served_in_thread, wait_indexed

from support import encode, fresh_database_url, textured_rgb


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    """A server (cheap PINs) over a fresh SQLite store."""
    url = fresh_database_url("sqlite", tmp_path, request)
    with served_in_thread(url, prepare_store(url)) as served:
        yield served


def _photo(seed: int) -> bytes:
    return encode(textured_rgb(400, 300, seed=seed), "JPEG", quality=92)


def test_admin_finds_flags_and_erases_a_case_and_the_person_sees_removed(server: Served) -> None:
    photos = [_photo(31), _photo(32)]
    with Client(server.url) as reporter:
        case = reporter.create_case([hash_image(p) for p in photos])
    wait_indexed(server.url, 2)
    with Client(server.url, key=server.keys["feed"]) as feed:
        rotated = np.ascontiguousarray(np.rot90(textured_rgb(400, 300, seed=31)))
        upload = hash_image(encode(rotated, "JPEG", quality=85), fast=True, orientations=True)
        checked = feed.check(upload)
        assert checked.decision == "review"
        feed.verdict(checked.matches[0].match_ref, "csam")

    with Client(server.url, key=server.keys["admin"]) as admin:
        record = admin.show_case(case.case_number)
        assert record.status == "active" and record.channel == "anonymous"
        assert [(i.matches, i.csam) for i in record.items] == [(1, True), (0, False)]
        [flagged] = admin.list_csam()
        assert (flagged.case_number, flagged.platforms) == (case.case_number, ["feed"])

        second = record.items[1].item
        with pytest.raises(ApiError) as refused:
            admin.delete_item(second)  # the quarantine's delete: quarantined items only
        assert refused.value.code == "invalid_state"
        deleted = admin.delete_active_item(second, reason="court order 3")
        assert deleted.state == "deleted"

        erased = admin.erase_case(case.case_number, reason="erasure request, ticket 77")
        assert erased.deleted_items == [record.items[0].item] and not erased.already_removed
        assert admin.erase_case(case.case_number, reason="again").already_removed

        actors = {(e.action, e.actor) for e in admin.list_audit()}
        admin_id = server.keys["admin"].partition(".")[0]
        assert ("case_created", "reporter") in actors
        assert ("verdict_csam", "platform:feed") in actors
        assert ("case_erased", f"admin:{admin_id}") in actors

    with Client(server.url) as reporter:
        status = reporter.case_status(case.case_number, case.pin)
    assert status.status == "removed" and status.removed_at is not None and status.items == []


def test_erasure_needs_a_reason_and_an_admin_key(server: Served) -> None:
    with Client(server.url) as reporter:
        case = reporter.create_case([hash_image(_photo(40))])
    url = f"{server.url}/v1/admin/cases/erase"
    admin = {"Authorization": f"Bearer {server.keys['admin']}"}
    no_reason = httpx.post(url, headers=admin, json={"case_number": case.case_number})
    assert no_reason.status_code == 422
    platform = {"Authorization": f"Bearer {server.keys['feed']}"}
    body = {"case_number": case.case_number, "reason": "x"}
    assert httpx.post(url, headers=platform, json=body).status_code == 403
    with Client(server.url) as reporter:
        assert reporter.case_status(case.case_number, case.pin).status == "active"
