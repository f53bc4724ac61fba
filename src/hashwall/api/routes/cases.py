"""Reporter and intake routes: open a case, look at it, add to it, withdraw it; partner tools.

The case number and PIN travel in JSON bodies only, never in a URL. Every route that takes a
PIN goes through the PIN backoff (per case and client address, per address, and per case from
all addresses) and the fair cap on concurrent argon2 checks; only a PIN that was verified counts
(:func:`~hashwall.api.routes.common.call_with_pin`).

A new case's PIN is hashed in the argon2 slots PIN checks use (``pin_check_concurrency``, fair
by client address), so intake cannot take the cores the checks need; the anonymous channel as
a whole opens at most ``anonymous_cases_per_second`` cases (``anonymous_cases_burst`` at once)
per process, beyond each address's own limit (``429 rate_limited``).

Creating a case, adding items, withdrawing and vouching honour ``Idempotency-Key``
(:func:`~hashwall.api.defences.idempotency.answer_once`): a retry with the same key and body
gets the first answer (``Idempotent-Replay: true``) for 10 minutes, and never creates a second case.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Request, status
from fastapi.responses import Response
from pydantic import BaseModel

from hashwall.api import mapping
from hashwall.api.auth import CallerDep, IntakeCaller
from hashwall.api.defences.idempotency import (
    CASE_TTL_SECONDS,
    HEADER,
    MIN_ANONYMOUS_KEY_LENGTH,
    StoredAnswer,
    answer_once,
    valid_case_key,
)
from hashwall.api.defences.rate import ANONYMOUS_INTAKE, anonymous_intake_rate
from hashwall.api.routes.common import (
    ERRORS,
    MEDIA_FIELD,
    StateDep,
    call_with_pin,
    hash_video_upload,
    is_video,
    json_body,
    media_form,
    media_request_body,
    media_type,
)
from hashwall.api.state import ApiState
from hashwall.domain import Actor
from hashwall.errors import Forbidden
from hashwall.service import intake, withdraw
from hashwall.wire import (
    CaseAccess,
    CaseCreate,
    CaseCreated,
    CaseItemsAdd,
    CaseItemsAdded,
    CaseStatus,
    CaseVouch,
    CaseVouched,
    CaseWithdraw,
    CaseWithdrawal,
    PinReissue,
    PinReissued,
)

router = APIRouter(prefix="/v1/cases", tags=["cases"], responses=ERRORS)

IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        max_length=255,
        description=f"A random value (a UUID; at least {MIN_ANONYMOUS_KEY_LENGTH} characters "
        "without an API key): a retry with the same key and body within "
        f"{CASE_TTL_SECONDS // 60} minutes gets the first answer, and does nothing twice.",
    ),
]


async def _once(
    state: ApiState,
    actor: Actor,
    route: str,
    header: str | None,
    fingerprint: bytes,
    run: Callable[[], Awaitable[BaseModel]],
    status_code: int = status.HTTP_200_OK,
) -> Response:
    """``run()`` answered once per idempotency key (see the module docstring)."""
    key = valid_case_key(header, anonymous=actor.key_id is None)

    async def answer() -> StoredAnswer:
        return StoredAnswer(status_code, (await run()).model_dump_json().encode())

    slot = (actor.key_id or "anonymous", f"cases.{route}")
    return await answer_once(state.idempotency, slot, key, fingerprint, answer)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseCreated,
    openapi_extra=media_request_body(
        CaseCreate,
        'JSON `{"items": [{"kind", "signals"}]}` (anyone; no key = the anonymous channel), '
        f"or (intake key only) a multipart form whose `{MEDIA_FIELD}` is one image or video, "
        "hashed in memory and discarded (a video: every frame, up to `vpdq_max_frames`).",
    ),
)
async def create_case(
    request: Request,
    who: CallerDep,
    state: StateDep,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Open a case. Without a key: the anonymous channel (items answer ``review`` until vouched).

    With an ``intake`` key: the partner channel (items are ``vouched`` and ``block``). The PIN
    in the answer is shown this once (and to a retry with the same ``Idempotency-Key``).
    """
    anonymous = who.actor.key_id is None
    valid_case_key(idempotency_key, anonymous=anonymous)  # before any work
    if anonymous:  # all anonymous intake together, beyond each address's own limit
        rate = anonymous_intake_rate(state.settings)
        budget = await state.limiter.hit(ANONYMOUS_INTAKE, rate)
        budget.raise_if_denied("new cases on the anonymous channel")
    if media_type(request) == "form":
        if who.actor.kind != "intake":
            raise Forbidden(
                "only an intake key may send media; the reporter channel sends signals "
                "(hashed on the person's own device)"
            )
        form = await media_form(request, state)
        data = form.file(MEDIA_FIELD).data
        del form
        if is_video(data):
            video = await hash_video_upload(state, data, banked=True)
            items = [intake.ItemSubmission.from_video(video)]
            fingerprint = b"media\x00" + video.sha256.encode()
        else:
            pool = await state.decoder()
            hashes = await pool.hash_media(data, fast=True, orientations=False, keypoints="bank")
            items = [intake.ItemSubmission.from_image(hashes)]
            fingerprint = b"media\x00" + hashes.sha256.encode()
        del data
    else:
        body, raw = await json_body(request, CaseCreate, state, video=True)
        items = [mapping.submission(item) for item in body.items]
        fingerprint = b"json\x00" + raw

    async def run() -> CaseCreated:
        # The new PIN's argon2 hash shares the argon2 slots with PIN checks (fair by address):
        # an intake flood waits there, or is refused, and never takes the checks' cores.
        receipt = await state.pin_cap.run_fair(
            who.client, intake.create_case, state.ctx, who.actor, items
        )
        return mapping.case_created(receipt)

    return await _once(
        state, who.actor, "create", idempotency_key, fingerprint, run, status.HTTP_201_CREATED
    )


@router.post("/status", response_model=CaseStatus)
async def case_status(body: CaseAccess, who: CallerDep, state: StateDep) -> CaseStatus:
    """The case and its items' trust and state (case number + PIN, or the filing partner)."""
    view = await call_with_pin(
        state,
        who,
        body.case_number,
        body.pin,
        intake.case_status,
        state.ctx,
        who.actor,
        body.case_number,
        pin=body.pin,
    )
    return mapping.case_status(view)


@router.post("/items", response_model=CaseItemsAdded)
async def add_items(
    body: CaseItemsAdd,
    who: CallerDep,
    state: StateDep,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Add items to an active case (case number + PIN, or the filing partner)."""

    async def run() -> CaseItemsAdded:
        added = await call_with_pin(
            state,
            who,
            body.case_number,
            body.pin,
            intake.add_items,
            state.ctx,
            who.actor,
            body.case_number,
            [mapping.submission(item) for item in body.items],
            pin=body.pin,
        )
        return mapping.items_added(added)

    fingerprint = body.model_dump_json().encode()
    return await _once(state, who.actor, "items", idempotency_key, fingerprint, run)


@router.post("/withdraw", response_model=CaseWithdrawal)
async def withdraw_case(
    body: CaseWithdraw,
    who: CallerDep,
    state: StateDep,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Withdraw the case, or one item (``item_ref``): final everywhere when this returns."""
    fingerprint = body.model_dump_json().encode()
    return await _once(
        state,
        who.actor,
        "withdraw",
        idempotency_key,
        fingerprint,
        lambda: _withdraw(body, who, state),
    )


async def _withdraw(body: CaseWithdraw, who: CallerDep, state: StateDep) -> CaseWithdrawal:
    if body.item_ref is None:
        result = await call_with_pin(
            state,
            who,
            body.case_number,
            body.pin,
            withdraw.withdraw_case,
            state.ctx,
            who.actor,
            body.case_number,
            pin=body.pin,
        )
    else:
        result = await call_with_pin(
            state,
            who,
            body.case_number,
            body.pin,
            withdraw.withdraw_item,
            state.ctx,
            who.actor,
            body.case_number,
            body.item_ref,
            pin=body.pin,
        )
    return mapping.withdrawal(result)


@router.post("/reissue-pin", response_model=PinReissued)
async def reissue_pin(body: PinReissue, who: IntakeCaller, state: StateDep) -> PinReissued:
    """A new PIN for a case this partner filed (the old PIN stops working)."""
    result = await state.pin_cap.run_fair(  # a new PIN's argon2 hash, as at creation
        who.client, intake.reissue_pin, state.ctx, who.actor, body.case_number
    )
    return PinReissued(case_number=result.case_number, pin=result.pin)


@router.post("/vouch", response_model=CaseVouched)
async def vouch_case(
    body: CaseVouch,
    who: IntakeCaller,
    state: StateDep,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Vouch for an anonymous case the person showed (number + PIN): its items may block."""

    async def run() -> CaseVouched:
        result = await call_with_pin(
            state,
            who,
            body.case_number,
            body.pin,
            intake.vouch_case,
            state.ctx,
            who.actor,
            body.case_number,
            pin=body.pin,
        )
        return CaseVouched(case_number=result.case_number, vouched_items=list(result.item_refs))

    fingerprint = body.model_dump_json().encode()
    return await _once(state, who.actor, "vouch", idempotency_key, fingerprint, run)
