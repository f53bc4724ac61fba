"""Cases: open one, look at it, add items, withdraw, and the intake partner's PIN and vouching.

Secrets appear in two of these answers, once each: the PIN of a new case (:class:`CaseCreated`)
and a re-issued PIN (:class:`PinReissued`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from hashwall.wire.base import (
    MAX_ITEMS,
    MAX_SIGNALS,
    ApiModel,
    CaseNumber,
    Orientations,
    Pin,
    ResponseModel,
)
from hashwall.wire.signals import Frames, SignalIn


class ItemIn(ApiModel):
    """One photo or video to bank: its signals (computed on the reporter's device), and the 8
    dihedral PDQ hashes of the image if computed (compared with the allowlist only, so that a
    rotated copy of an allowlisted image is refused too; never stored).

    A video (``kind: "video"``) may carry its ``frames`` (each hashed frame, in order); its
    ``signals`` (the file's md5/sha256, and an animated GIF/PNG/WebP's first frame as a
    ``pdq``) may then be empty."""

    kind: Literal["image", "video"] = "image"
    signals: Annotated[list[SignalIn], Field(max_length=MAX_SIGNALS)]
    pdq_orientations: Orientations | None = None
    frames: Frames | None = None

    @model_validator(mode="after")
    def _something_to_bank(self) -> Self:
        if not self.signals and self.frames is None:
            raise ValueError("an item needs at least one signal (or a video's frames)")
        return self


class CaseCreate(ApiModel):
    """``POST /v1/cases`` (JSON): open a case with 1 to 100 items."""

    items: Annotated[list[ItemIn], Field(min_length=1, max_length=MAX_ITEMS)]


class ItemOutcome(ResponseModel):
    """What became of item ``index`` of the request: banked as ``item_ref``, or refused."""

    index: int
    status: Literal["accepted", "refused"]
    item_ref: str | None = None
    code: str | None = None
    message: str | None = None


class CaseCreated(ResponseModel):
    """A new case: its number and PIN (shown this once; keep both) and each item's outcome."""

    case_number: str
    pin: str
    channel: Literal["anonymous", "partner"]
    items: list[ItemOutcome]


class CaseAccess(ApiModel):
    """A case number and its PIN (the PIN may be left out by the partner that filed the case).

    Always in a request body, never in a URL, so they stay out of access logs and history.
    """

    case_number: CaseNumber
    pin: Pin | None = None


class ItemStatus(ResponseModel):
    """An item as its case holder sees it (never its hash values)."""

    item_ref: str
    kind: str
    trust: Literal["unvouched", "vouched", "confirmed"]
    state: Literal["active", "quarantined", "withdrawn", "deleted"]
    created_at: datetime
    blocked_uploads: int = Field(
        0, description="Uploads blocked because they matched this item (records kept by platforms)."
    )


class CaseStatus(ResponseModel):
    """``POST /v1/cases/status``: the case and its items.

    ``status`` ``removed``: the service erased the case at the person's request (``removed_at``);
    its items are ``deleted`` and no longer listed.
    """

    case_number: str
    channel: Literal["anonymous", "partner"]
    status: Literal["active", "withdrawn", "removed"]
    created_at: datetime
    withdrawn_at: datetime | None
    items: list[ItemStatus]
    removed_at: datetime | None = None


class CaseItemsAdd(CaseAccess):
    """``POST /v1/cases/items``: more items for an active case."""

    items: Annotated[list[ItemIn], Field(min_length=1, max_length=MAX_ITEMS)]


class CaseItemsAdded(ResponseModel):
    """Each new item's outcome."""

    case_number: str
    items: list[ItemOutcome]


class CaseWithdraw(CaseAccess):
    """``POST /v1/cases/withdraw``: the whole case, or one item of it (``item_ref``)."""

    item_ref: Annotated[str, Field(min_length=1, max_length=64)] | None = None


# Named apart from the error ``hashwall.errors.CaseWithdrawn`` (a case already withdrawn).
class CaseWithdrawal(ResponseModel):
    """What the withdrawal changed; it is in force everywhere when this answer arrives."""

    case_number: str
    case_withdrawn: bool
    withdrawn_items: list[str]


class PinReissue(ApiModel):
    """``POST /v1/cases/reissue-pin`` (intake key): a new PIN for a case the partner filed."""

    case_number: CaseNumber


class PinReissued(ResponseModel):
    """The new PIN (shown this once; the old one no longer works)."""

    case_number: str
    pin: str


class CaseVouch(ApiModel):
    """``POST /v1/cases/vouch`` (intake key): vouch for an anonymous case the person showed."""

    case_number: CaseNumber
    pin: Pin


class CaseVouched(ResponseModel):
    """Items whose trust became ``vouched`` (they may now ``block``)."""

    case_number: str
    vouched_items: list[str]
