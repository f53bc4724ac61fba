"""What several route modules share: bodies that may be JSON or media, PIN-taking calls."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Annotated, Any, Final, ParamSpec, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from hashwall.api.auth import Caller
from hashwall.api.body import BodyKind, MultipartForm, read_body, read_multipart
from hashwall.api.state import ApiState, api_state
from hashwall.errors import HashwallError, MalformedBody
from hashwall.hashing.vpdq import VideoHashes
from hashwall.media.video import is_animation
from hashwall.media.video_containers import ANIMATIONS, HEAD_BYTES, sniff_container
from hashwall.service.access import PinCheck, recording_pin_check
from hashwall.store.ids import normalise_case_number

P = ParamSpec("P")
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

StateDep = Annotated[ApiState, Depends(api_state)]

#: The form field that carries the media file.
MEDIA_FIELD: Final = "file"

_PROBLEM: Final = {
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
}
#: OpenAPI ``responses`` for the errors every ``/v1`` route may answer.
ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    status: {"description": description, **_PROBLEM}
    for status, description in (
        (400, "Bad input (`invalid_input`, `invalid_hash`, `malformed_body`, ...)"),
        (401, "No valid API key (`invalid_key`) or wrong case number/PIN"),
        (403, "Wrong role, scope or tenant (`forbidden`)"),
        (404, "No such row (`not_found`)"),
        (409, "State conflict (`already_exists`, `invalid_state`, `case_withdrawn`)"),
        (413, "Body over its limit (`payload_too_large`, `media_too_large`, `too_many_pixels`)"),
        (415, "Media that is not a supported image (`unsupported_media`)"),
        (
            422,
            "Schema mismatch (`invalid_request`) or media that cannot be hashed "
            "(`corrupt_media`, `decode_failed`, `decode_timeout`, `no_items_accepted`, ...)",
        ),
        (429, "Rate limit or PIN backoff (`rate_limited`, with Retry-After)"),
        (500, "Unexpected failure (`internal_error`); it is logged"),
        (503, "Overloaded or store unavailable (`overloaded`, `store_unavailable`)"),
    )
}


def media_type(request: Request) -> str:
    """``json`` or ``form`` from the Content-Type; anything else is ``malformed_body``."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        return "form"
    if content_type.split(";")[0].strip() in ("application/json", ""):
        return "json"
    raise MalformedBody("send Content-Type: application/json, or multipart/form-data with a file")


def parse_model(model: type[M], body: bytes) -> M:
    """Validate a JSON body against ``model``; a mismatch is the usual 422 ``invalid_request``."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_input=False)) from None


async def json_body(
    request: Request, model: type[M], state: ApiState, *, video: bool = False
) -> tuple[M, bytes]:
    """Read a JSON body within ``max_json_bytes`` (``video``: a body that may carry a video's
    frame hashes, within ``video_max_json_bytes``) and validate it."""
    settings = state.settings
    body = await read_body(
        request.receive,
        limit=max(settings.max_json_bytes, settings.video_max_json_bytes)
        if video
        else settings.max_json_bytes,
        content_length=request.headers.get("content-length"),
        kind=BodyKind.JSON,
    )
    return parse_model(model, body), body


async def media_form(request: Request, state: ApiState) -> MultipartForm:
    """Read a ``multipart/form-data`` body with one media file, in memory, within limits."""
    return await read_multipart(
        request.receive,
        content_type=request.headers.get("content-type", ""),
        settings=state.settings,
        content_length=request.headers.get("content-length"),
        max_files=1,
    )


def is_video(data: bytes) -> bool:
    """Whether media bytes are hashed as a video, by its frames: a video file (MP4/MOV,
    WebM/MKV, AVI), or an animated GIF, PNG or WebP of more than one frame (its first frame's
    PDQ rides along, so that the animation banked as an image before still matches). Anything
    else (a still GIF, PNG or WebP included) goes the image path."""
    try:
        container = sniff_container(data[:HEAD_BYTES])
    except HashwallError:
        return False
    return container not in ANIMATIONS or is_animation(data)


async def hash_video_upload(state: ApiState, data: bytes, *, banked: bool) -> VideoHashes:
    """A video's hashes from the decoder sandbox: a check's at one frame per second
    (``vpdq_seconds_per_hash``) with the mirrored frames and the box frames; a banked video's
    every frame, up to ``vpdq_max_frames`` (evenly spaced past that)."""
    settings = state.settings
    pool = await state.decoder()
    return await pool.hash_video(
        data,
        seconds_per_hash=0.0 if banked else settings.vpdq_seconds_per_hash,
        mirror=not banked,
        box=not banked,
        max_frames=settings.vpdq_max_frames,
    )


def media_request_body(json_model: type[BaseModel], description: str) -> dict[str, Any]:
    """``openapi_extra`` for a route that takes JSON, or a form with one media ``file``.

    ``json_model`` must be among the app's ``DOCUMENTED_MODELS`` (added to the components).
    """
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{json_model.__name__}"}
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [MEDIA_FIELD],
                        "properties": {MEDIA_FIELD: {"type": "string", "format": "binary"}},
                    }
                },
            },
        }
    }


def case_subject(case_number: str) -> str:
    """The case number as the PIN backoff counts it (typed variants count as one case)."""
    return normalise_case_number(case_number) or case_number.strip().upper()


async def call_with_pin(
    state: ApiState,
    who: Caller,
    case_number: str,
    pin: str | None,
    fn: Callable[P, T],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Run a use case that may check a PIN: backoff first, argon2 under the fair cap.

    Only a PIN that was verified counts as an attempt: a right one is given back (and forgets
    this address's misses on the case), and one that was never verified (the cap overloaded,
    the request gone before its turn, text that is not a PIN, a failure before argon2) is
    refunded. A request that goes away while its check waits for a slot leaves the queue; once
    the check has started, it finishes and is counted like any other.
    Without a PIN (the partner that filed the case) it just runs in a worker thread.
    """
    if pin is None:
        return await run_in_threadpool(fn, *args, **kwargs)
    subject = case_subject(case_number)
    decision = await state.pin_backoff.attempt(subject, who.client)
    decision.raise_if_denied("PIN attempts for this case")
    check = PinCheck()
    started = threading.Event()

    def checked() -> T:
        started.set()
        with recording_pin_check(check):
            return fn(*args, **kwargs)

    async def settled() -> T:
        try:
            return await state.pin_cap.run_fair(who.client, checked)
        finally:
            if not check.verified:
                await state.pin_backoff.refund(subject, who.client)
            elif check.right:
                await state.pin_backoff.succeeded(subject, who.client)

    job = asyncio.ensure_future(settled())
    _SETTLING.add(job)
    job.add_done_callback(_settled)
    try:
        # Shielded: a client that hangs up cannot stop a check (nor its count) half-way.
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        if not started.is_set():
            job.cancel()  # still waiting for its turn: leave the queue (and be refunded)
        raise


#: PIN checks still running, kept from the garbage collector until they are settled.
_SETTLING: set[asyncio.Future[Any]] = set()


def _settled(job: asyncio.Future[Any]) -> None:
    _SETTLING.discard(job)
    if not job.cancelled():
        job.exception()  # retrieved: the request that awaited it may be gone
