"""hashwall.Client and hashwall.AsyncClient against a real server over HTTP (SQLite, PostgreSQL).

The use-case flows of the store issue, driven through the SDK: enrol (anonymous and partner),
check the original and a rotated copy, review/block, verdict, withdraw, allow.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import numpy as np
import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

import hashwall
from hashwall import AsyncClient, Client, ImageHashes, errors, hash_image, wire
from hashwall import client as sdk
from hashwall.api.routes import admin, cases, check, feed, health, matches
from hashwall.errors import InvalidCredentials, InvalidKey
from hashwall.service import feed_blocks
from live_server import Served, free_port, prepare_store, served_in_thread, wait_indexed

from support import BACKENDS, encode, fresh_database_url, textured_rgb


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """A server in a thread over a fresh store on each back end."""
    url = fresh_database_url(str(request.param), tmp_path, request)
    with served_in_thread(url, prepare_store(url)) as served:
        yield served


@pytest.fixture(scope="module")
def pictures() -> dict[str, bytes]:
    """A photo, a rotated, re-encoded copy of it, and an unrelated photo (JPEG bytes)."""
    pixels = textured_rgb(400, 300, seed=21)
    return {
        "original": encode(pixels, "JPEG", quality=92),
        "rotated": encode(np.ascontiguousarray(np.rot90(pixels)), "JPEG", quality=80),
        "other": encode(textured_rgb(400, 300, seed=99), "JPEG", quality=92),
    }


def snapshot_refs(body: BinaryIO) -> set[str]:
    """The item refs of a ``GET /v1/feed/snapshot`` body (its ``items`` frames)."""
    return {
        ref.decode()
        for header, arrays in feed_blocks.read_frames(body)
        if header["kind"] == "items"
        for ref in arrays["ref"]
    }


def banked(data: bytes) -> ImageHashes:
    """The hashes a reporter's device banks (reference mode)."""
    return hash_image(data)


def upload(data: bytes) -> ImageHashes:
    """The hashes a platform checks (fast mode, all 8 orientations)."""
    return hash_image(data, fast=True, orientations=True)


def test_client_is_exported_lazily() -> None:
    assert hashwall.Client is sdk.Client
    assert hashwall.AsyncClient is sdk.AsyncClient


def test_anonymous_case_reviews_then_blocks_once_vouched_and_withdrawal_allows_at_once(
    server: Served, pictures: dict[str, bytes]
) -> None:
    with (
        Client(server.url) as reporter,
        Client(server.url, key=server.keys["feed"]) as feed,
        Client(server.url, key=server.keys["intake"]) as intake,
    ):
        case = reporter.create_case([banked(pictures["original"])])
        assert case.channel == "anonymous"
        assert case.items[0].status == "accepted"
        wait_indexed(server.url, 1)

        original = feed.check(upload(pictures["original"]))
        rotated = feed.check(upload(pictures["rotated"]))
        assert (original.decision, original.reason) == ("review", "match")
        assert rotated.decision == "review"
        assert rotated.matches[0].orientation not in (None, "original")  # feed reveals it
        assert rotated.matches[0].distance is not None
        assert feed.check(upload(pictures["other"])).decision == "allow"

        with feed.feed_snapshot() as body:
            assert snapshot_refs(body) == {case.items[0].item_ref}

        vouched = intake.vouch(case.case_number, case.pin)
        assert len(vouched.vouched_items) == 1
        blocked = feed.check(upload(pictures["rotated"]))
        assert blocked.decision == "block"
        verdict = feed.verdict(blocked.matches[0].match_ref, "confirmed")
        assert verdict.recorded

        status = reporter.case_status(case.case_number, case.pin)
        assert status.items[0].trust in ("vouched", "confirmed")
        withdrawn = reporter.withdraw(case.case_number, case.pin)
        assert withdrawn.case_withdrawn
        # No waiting for the index: the store is re-read before any non-allow answer.
        assert feed.check(upload(pictures["rotated"])).decision == "allow"
        assert reporter.case_status(case.case_number, case.pin).status == "withdrawn"


def test_async_client_partner_case_blocks_batches_feeds_and_withdraws_one_item(
    server: Served, pictures: dict[str, bytes]
) -> None:
    async def flow() -> None:
        async with (
            AsyncClient(server.url, key=server.keys["intake"]) as intake,
            AsyncClient(server.url, key=server.keys["chat"]) as chat,
        ):
            case = await intake.create_case(
                [banked(pictures["original"]), banked(pictures["other"])]
            )
            assert case.channel == "partner"
            refs = [item.item_ref for item in case.items]
            assert all(refs)
            await asyncio.to_thread(wait_indexed, server.url, 2)

            answer = await chat.check(upload(pictures["rotated"]), idempotency_key="k-1")
            assert answer.decision == "block"
            assert answer.matches[0].distance is None  # chat's policy reveals nothing
            again = await chat.check(upload(pictures["rotated"]), idempotency_key="k-1")
            assert again.check_id == answer.check_id

            batch = await chat.check_batch(
                [upload(pictures["original"]), [{"type": "pdq", "value": "zz"}]]
            )
            assert batch[0].result is not None and batch[0].result.decision == "block"
            assert batch[1].error is not None and batch[1].error.code == "invalid_hash"

            pages = [page async for page in chat.iter_feed(limit=1)]
            assert {item.item for page in pages for item in page.items} == set(refs)
            async with chat.feed_snapshot(block=1) as chunks:
                body = io.BytesIO(b"".join([chunk async for chunk in chunks]))
            assert snapshot_refs(body) == set(refs)
            assert not pages[-1].more

            other_ref = refs[1]
            result = await intake.withdraw(case.case_number, item_ref=other_ref)  # no PIN
            assert result.withdrawn_items == [other_ref]
            assert not result.case_withdrawn
            assert (await chat.check(upload(pictures["other"]))).decision == "allow"
            assert (await chat.check(upload(pictures["original"]))).decision == "block"

            page = await chat.feed(pages[-1].cursor)
            assert [e.type for e in page.events] == ["item_withdrawn"]

    asyncio.run(flow())


def test_media_check_uploads_the_file_and_problems_raise_typed_errors(
    server: Served, pictures: dict[str, bytes]
) -> None:
    with (
        Client(server.url, key=server.keys["intake"]) as intake,
        Client(server.url, key=server.keys["feed"]) as feed,
        Client(server.url) as anonymous,
    ):
        case = intake.create_case(media=pictures["original"])
        assert case.items[0].status == "accepted"
        wait_indexed(server.url, 1)
        answer = feed.check(media=pictures["rotated"])
        assert answer.decision == "block"

        with pytest.raises(sdk.ApiError) as wrong_pin:
            anonymous.case_status(case.case_number, "00000000")
        assert wrong_pin.value.code == "invalid_credentials"
        assert wrong_pin.value.status == 401
        assert isinstance(wrong_pin.value, InvalidCredentials)
        assert isinstance(wrong_pin.value, hashwall.HashwallError)

        with pytest.raises(InvalidKey):
            anonymous.check(upload(pictures["original"]))
        with pytest.raises(sdk.ApiError) as media_refused:
            anonymous.create_case(media=pictures["original"])
        assert media_refused.value.code == "unsupported_content_type"  # a form needs a key
        with pytest.raises(sdk.ApiError) as invalid:
            feed.check([{"type": "pdq", "value": "0" * 64, "quality": 100}])
        assert invalid.value.code == "invalid_hash"
        assert invalid.value.detail

        assert feed.health().status == "ok"
        ready = feed.ready()
        assert ready.ready and ready.index_size >= 1


def test_admin_methods_manage_tenants_keys_allowlist_and_audit(
    server: Served, pictures: dict[str, bytes]
) -> None:
    with Client(server.url, key=server.keys["admin"]) as admin:
        assert admin.add_organisation("Photo Co").name == "Photo Co"
        assert "Photo Co" in [o.name for o in admin.list_organisations()]
        platform = admin.add_platform("Photo Co", "album", policy={"pdq_threshold": 20})
        assert platform.policy.pdq_threshold == 20
        changed = admin.set_policy("album", reveal_distance=True)
        assert changed.policy.reveal_distance and changed.policy.pdq_threshold == 20
        assert [p.name for p in admin.list_platforms("Photo Co")] == ["album"]
        assert admin.add_partner("Hotline").name == "Hotline"
        assert "Hotline" in [p.name for p in admin.list_partners()]

        created = admin.create_key("platform", platform="album", scopes=["check"], label="t")
        assert created.key.startswith(created.id)
        with Client(server.url, key=created.key) as album:
            assert album.check(upload(pictures["other"])).decision == "allow"
            assert admin.revoke_key(created.id).revoked
            with pytest.raises(InvalidKey):
                album.check(upload(pictures["other"]))
        assert created.id in [k.id for k in admin.list_keys()]
        assert created.id not in [k.id for k in admin.list_keys(include_revoked=False)]

        hashes = banked(pictures["other"])
        entries = admin.add_to_allowlist(hashes.signals(), note="a stock photo")
        assert {e.type for e in entries} == {s.type for s in hashes.signals()}
        listed = admin.list_allowlist(signal_type="pdq")
        assert [e.value for e in listed] == [hashes.pdq.hex]
        admin.remove_from_allowlist(listed[0].id)
        assert admin.list_allowlist(signal_type="pdq") == []

        assert admin.list_quarantine() == []
        with pytest.raises(sdk.ApiError) as missing:
            admin.reinstate_item("itm_nothing")
        assert missing.value.status == 404
        actions = {r.action for r in admin.list_audit(limit=50)}
        assert {"api_key_revoked", "platform_added"} <= actions or len(actions) > 3
        assert admin.run_retention().deleted == 0


def test_unreachable_server_is_a_connection_failed_error() -> None:
    with (
        Client(f"http://127.0.0.1:{free_port()}", timeout=2) as client,
        pytest.raises(sdk.ConnectionFailed) as failed,
    ):
        client.health()
    assert failed.value.code == "connection_failed"
    assert "127.0.0.1" in failed.value.message


def _models_in(annotation: Any) -> set[type]:
    """The classes an annotation names (``list[X]``, ``Iterator[X]``, ``X | None``, ``X``)."""
    if isinstance(annotation, type):
        return {annotation}
    return {cls for arg in typing.get_args(annotation) for cls in _models_in(arg)}


def _answers(cls: type) -> dict[str, set[type]]:
    methods = {n: f for n, f in vars(cls).items() if callable(f) and not n.startswith("_")}
    namespace = vars(sys.modules[cls.__module__])
    return {n: _models_in(eval(f.__annotations__["return"], namespace)) for n, f in methods.items()}


def _and_nested(models: set[type]) -> set[type]:
    found = set(models)
    for model in models:
        if issubclass(model, BaseModel):
            inner = {c for f in model.model_fields.values() for c in _models_in(f.annotation)}
            found |= _and_nested(inner - found)
    return found


@pytest.mark.parametrize("twin", [Client, AsyncClient], ids=lambda c: c.__name__)
def test_every_answer_of_the_sdk_is_a_wire_model_the_server_declares(twin: type) -> None:
    # The SDK has no models of its own: what a method returns is the server's class itself.
    declared = _and_nested(
        {
            cls
            for group in (admin, cases, check, feed, health, matches)
            for route in group.router.routes
            if isinstance(route, APIRoute) and route.response_model is not None
            for cls in _models_in(route.response_model)
        }
    )
    for name, answers in _answers(twin).items():
        models = {m for m in answers if issubclass(m, BaseModel)}
        assert models <= declared, (name, models - declared)
        assert all(m.__module__.startswith("hashwall.wire.") for m in models), name


def test_the_sdk_names_are_the_wire_classes() -> None:
    exported = [getattr(sdk, n) for n in sdk.__all__]
    models = [m for m in exported if isinstance(m, type) and issubclass(m, BaseModel)]
    assert len(models) >= 37
    for model in models:
        assert getattr(wire, model.__name__) is model
    assert sdk.CheckResult is wire.CheckOut
    assert sdk.FeedPage is wire.FeedPageOut


def test_an_answer_with_fields_from_a_newer_server_keeps_them() -> None:
    answer = {
        "check_id": "chk_1",
        "decision": "review",
        "reason": "match",
        "matches": [{"match_ref": "m_1", "decision": "review", "signal_type": "pdq", "x": 1}],
        "added_later": "kept",
    }

    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer)

    with Client("http://hashwall.test", transport=httpx.MockTransport(server)) as client:
        result = client.check([{"type": "sha256", "value": "a" * 64}])
    assert result.model_extra == {"added_later": "kept"}
    assert result.matches[0].model_extra == {"x": 1}
    with pytest.raises(ValidationError):  # the server itself never answers an undeclared field
        wire.CheckOut.model_validate(answer)


def test_the_old_name_of_the_withdrawal_answer_still_works_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="CaseWithdrawal"):
        assert sdk.CaseWithdrawn is wire.CaseWithdrawal
    assert not issubclass(errors.CaseWithdrawn, BaseModel)  # the error keeps its name


def test_the_sdk_imports_no_server_code() -> None:
    code = (
        "import sys, hashwall, hashwall.client; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'fastapi', 'starlette', 'sqlalchemy', 'psycopg', 'redis', 'numpy', 'numba', 'PIL'} "
        "or m.startswith(('hashwall.api', 'hashwall.service', 'hashwall.store', "
        "'hashwall.hashing', 'hashwall.index', 'hashwall.media'))); "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_client_methods_have_async_twins() -> None:
    sync = {n for n in vars(Client) if not n.startswith("_")}
    twin = {n for n in vars(AsyncClient) if not n.startswith("_")}
    assert sync - {"close", "__enter__", "__exit__"} == twin - {"aclose"}
    for name in sync - {"close", "__enter__", "__exit__"}:
        mine = inspect.signature(getattr(Client, name)).parameters
        theirs = inspect.signature(getattr(AsyncClient, name)).parameters
        assert list(mine) == list(theirs), name


def test_an_image_hashed_with_its_orientations_is_sent_with_them_for_the_allowlist() -> None:
    data = encode(textured_rgb(seed=21), "JPEG")
    turned = sdk.item_body(hash_image(data, orientations=True))
    assert len(turned["pdq_orientations"]) == 8
    assert turned["pdq_orientations"][0] == turned["signals"][0]["value"]
    assert "pdq_orientations" not in sdk.item_body(hash_image(data))  # none computed, none sent
