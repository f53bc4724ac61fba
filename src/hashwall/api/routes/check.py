"""Platform checks: one upload (signals, or the media file) or a batch of up to 100 uploads.

Both honour ``Idempotency-Key`` (:mod:`hashwall.api.defences.idempotency`): a retry returns
the first answer, and never writes a second match record. A replayed ``review``/``block`` is
re-checked first (:func:`replay_answer`): the matches whose item was
withdrawn or deleted since are dropped, so a replay never blocks what left the bank.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hashwall.api import mapping
from hashwall.api.auth import CheckCaller
from hashwall.api.defences.idempotency import HEADER, StoredAnswer, valid_key
from hashwall.api.routes.common import (
    ERRORS,
    MEDIA_FIELD,
    StateDep,
    hash_video_upload,
    is_video,
    json_body,
    media_form,
    media_request_body,
    media_type,
)
from hashwall.api.state import ApiState
from hashwall.domain import Actor, Platform
from hashwall.errors import HashwallError
from hashwall.service.check import (
    CheckRequest,
    CheckResult,
    StoreStep,
    check,
    check_in_memory,
    standing_match_refs,
)
from hashwall.service.context import ServiceContext
from hashwall.wire import (
    BatchCheckIn,
    BatchCheckOut,
    BatchCheckResult,
    BatchError,
    CheckIn,
    CheckOut,
)

router = APIRouter(prefix="/v1", tags=["check"], responses=ERRORS)

IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        max_length=255,
        description="Any unique string (a UUID): a retry with the same key gets the same answer.",
    ),
]
_JSON: Final = "application/json"


def replay_answer(ctx: ServiceContext, answer: Mapping[str, Any]) -> dict[str, Any]:
    """A stored answer (wire form) replayed for a retried request: the matches whose item left
    the bank since (withdrawn, deleted) are dropped and the decision follows what is left, so a
    replay never answers ``block`` or ``review`` for a withdrawn item. An ``allow`` is replayed
    as it was. One statement when the answer has matches."""
    matches = answer.get("matches") or []
    if answer.get("decision") == "allow" or not matches:
        return dict(answer)
    standing = standing_match_refs(ctx, [m["match_ref"] for m in matches])
    kept = [m for m in matches if m["match_ref"] in standing]
    if len(kept) == len(matches):
        return dict(answer)
    if not kept:
        return {**answer, "decision": "allow", "reason": "no_match", "matches": []}
    decision = "block" if any(m["decision"] == "block" for m in kept) else "review"
    return {**answer, "decision": decision, "matches": kept}


def _wire(model: CheckIn, settings: object) -> CheckRequest:
    return CheckRequest.parse(
        [s.wire() for s in model.signals],
        model.pdq_orientations,
        regions=model.pdq_regions,
        frames=None if model.frames is None else [f.wire() for f in model.frames],
        mirror_frames=None
        if model.mirror_frames is None
        else [f.wire() for f in model.mirror_frames],
        settings=settings,
        box_frames=None if model.box_frames is None else [f.wire() for f in model.box_frames],
        box_mirror_frames=None
        if model.box_mirror_frames is None
        else [f.wire() for f in model.box_mirror_frames],
    )


def _platform_name(state: ApiState, actor: Actor) -> str:
    """The metric label of the actor's platform (reads the store once per platform: blocking)."""
    platform_id = actor.platform_id
    if platform_id is None:
        return "unknown"
    name = state.platform_names.get(platform_id)
    if name is None:
        with state.ctx.store.read() as repo:
            platform = repo.get_platform_by_id(platform_id)
        name = platform.name if platform is not None else "unknown"
        state.platform_names[platform_id] = name
    return name


async def _check_one(
    state: ApiState, actor: Actor, upload: CheckRequest, platform: Platform | None
) -> tuple[CheckResult, str]:
    """The check and its platform's metric label, with no thread-pool hop unless the store is
    needed: an ``allow`` found in memory (key cache, live index) is answered right here."""
    first = check_in_memory(state.ctx, actor, upload, platform=platform)
    if platform is not None and platform.id == actor.platform_id:
        state.platform_names.setdefault(platform.id, platform.name)
    name = state.platform_names.get(actor.platform_id or 0)
    if isinstance(first, CheckResult) and name is not None:
        return first, name
    return await run_in_threadpool(_finish, state, actor, first)


def _finish(
    state: ApiState, actor: Actor, first: CheckResult | StoreStep
) -> tuple[CheckResult, str]:
    result = first if isinstance(first, CheckResult) else first.run()
    return result, _platform_name(state, actor)


async def _idempotent(
    state: ApiState,
    actor: Actor,
    route: str,
    key: str | None,
    fingerprint: bytes,
    run: Callable[[], Awaitable[bytes]],
    replay: Callable[[bytes], bytes],
) -> Response:
    """Answer with ``run()``'s JSON once per (key, route, idempotency key); replay after,
    through ``replay`` (blocking: it may read the store)."""
    if key is None or actor.key_id is None:
        return Response(await run(), media_type=_JSON)
    store = state.idempotency
    slot = store.slot(actor.key_id, route, key)
    print_ = store.fingerprint(fingerprint)
    stored = await store.begin(slot, print_)
    if stored is not None:
        return Response(
            await run_in_threadpool(replay, stored.body),
            status_code=stored.status,
            media_type=_JSON,
            headers={"Idempotent-Replay": "true"},
        )
    try:
        body = await run()
    except BaseException:
        await store.release(slot)
        raise
    await store.finish(slot, print_, StoredAnswer(200, body))
    return Response(body, media_type=_JSON)


@router.post(
    "/check",
    response_model=CheckOut,
    response_model_exclude_none=True,
    openapi_extra=media_request_body(
        CheckIn,
        "JSON signals of the upload (hashed by the platform; a video's frames), or a multipart "
        f"form whose `{MEDIA_FIELD}` is the upload itself, an image or a video (hashed in "
        "memory and discarded).",
    ),
)
async def check_upload(
    request: Request,
    who: CheckCaller,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Check one upload before it is published: ``allow``, ``review`` or ``block``."""
    state: ApiState = request.app.state.hashwall  # not a dependency: one fewer to solve
    key = valid_key(idempotency_key)
    if media_type(request) == "form":
        form = await media_form(request, state)
        data = form.file(MEDIA_FIELD).data
        del form
        if is_video(data):
            video = await hash_video_upload(state, data, banked=False)
            upload = CheckRequest.from_video(video)
            fingerprint = b"media\x00" + video.sha256.encode()
        else:
            pool = await state.decoder()
            hashes = await pool.hash_media(
                data, fast=True, orientations=True, regions=True, keypoints="upload"
            )
            upload = CheckRequest.from_image(hashes)
            fingerprint = b"media\x00" + hashes.sha256.encode()
        del data
    else:
        body, raw = await json_body(request, CheckIn, state, video=True)
        upload = _wire(body, state.settings)
        fingerprint = b"json\x00" + raw

    async def run() -> bytes:
        result, platform = await _check_one(state, who.actor, upload, who.platform)
        state.metrics.observe_decision(platform, result.decision)
        return mapping.check_answer(result).model_dump_json(exclude_none=True).encode()

    def replay(body: bytes) -> bytes:
        stored = json.loads(body)
        now = replay_answer(state.ctx, stored)
        return body if now == stored else json.dumps(now, separators=(",", ":")).encode()

    return await _idempotent(state, who.actor, "check", key, fingerprint, run, replay)


def _check_batch(
    state: ApiState, ctx: ServiceContext, actor: Actor, uploads: list[CheckIn]
) -> tuple[list[BatchCheckResult], str]:
    results: list[BatchCheckResult] = []
    for index, upload in enumerate(uploads):
        try:
            result = check(ctx, actor, _wire(upload, ctx.settings))
        except HashwallError as exc:
            error = BatchError(code=exc.code, status=exc.status, detail=exc.message)
            results.append(BatchCheckResult(index=index, error=error))
        else:
            results.append(BatchCheckResult(index=index, result=mapping.check_answer(result)))
    return results, _platform_name(state, actor)


@router.post("/check/batch", response_model=BatchCheckOut, response_model_exclude_none=True)
async def check_batch(
    body: BatchCheckIn,
    who: CheckCaller,
    state: StateDep,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Check up to 100 uploads (signals) at once; each gets its own answer or error."""
    key = valid_key(idempotency_key)
    fingerprint = b"batch\x00" + json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()

    async def run() -> bytes:
        results, platform = await run_in_threadpool(
            _check_batch, state, state.ctx, who.actor, body.uploads
        )
        for entry in results:
            if entry.result is not None:
                state.metrics.observe_decision(platform, entry.result.decision)
        return BatchCheckOut(results=results).model_dump_json(exclude_none=True).encode()

    def replay(body: bytes) -> bytes:
        stored = json.loads(body)
        now = {
            **stored,
            "results": [
                {**entry, "result": replay_answer(state.ctx, entry["result"])}
                if entry.get("result") is not None
                else entry
                for entry in stored.get("results", [])
            ],
        }
        return body if now == stored else json.dumps(now, separators=(",", ":")).encode()

    return await _idempotent(state, who.actor, "check_batch", key, fingerprint, run, replay)
