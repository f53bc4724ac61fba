"""Intake: open a case, add items to it, look at it, re-issue its PIN, vouch for it.

Channels (DESIGN.md, trust and abuse):

- ``Actor.reporter()``: the anonymous channel. Items are ``unvouched``: they answer ``review``
  until a partner vouches for the case or a platform confirms a match.
- An ``intake`` key: the partner channel. The case names the partner; items are ``vouched``.

Each item carries its signals (``{"type", "value", "quality"}``, validated with
:meth:`Signal.parse`). An item is refused, on its own, with a typed :class:`ItemRefused`
(``invalid_hash``, ``invalid_input``, ``low_quality`` or ``allowlisted``); the other items still
bank. Refusals only ever speak of the submitter's own image: whether somebody else banked the same
image is never said (the answer is the same either way). If every item is refused, nothing is
written and :class:`~hashwall.errors.NoItemsAccepted` is raised.

A video item (``kind: "video"``) may carry its frames (``{"frame", "pdq", "quality",
"timestamp"}`` each, in order; ``service/video.py`` validates them): the frames of quality >= 50
are banked as the item's ``vpdq_frame`` signals, one signal row per frame with its frame number
and timestamp, and go into the live index with the item's other signals. Its ``signals`` (the
file's digests) may then be empty.

The PIN (``K7QM-4XRT-9HWP``: 12 symbols, 60 random bits) is returned once
(:class:`CaseReceipt`) and stored as an argon2 hash. Each banked item
writes an ``item_added`` event with its signals, appended last in the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from hashwall.domain import Actor, Case, CaseStatus, Channel, Item, ItemKind, ItemState, Trust
from hashwall.errors import (
    Allowlisted,
    CaseWithdrawn,
    HashwallError,
    InvalidHash,
    InvalidInput,
    LowQuality,
    NoItemsAccepted,
)
from hashwall.hashing.image import ImageHashes
from hashwall.hashing.signals import SIGNAL_TYPES, Signal, SignalType, oriented_type
from hashwall.hashing.vpdq import VideoHashes
from hashwall.service.access import authorise_case, filed_by
from hashwall.service.allowlist import AllowlistMatcher
from hashwall.service.context import ServiceContext
from hashwall.service.signal_policy import allowlist_radii, min_quality, usable
from hashwall.service.video import FRAME_TYPE, file_digests, frame_records, frame_type, parse_frames
from hashwall.store.credentials import new_pin, pin_key
from hashwall.store.events import ITEM_ADDED, TRUST_CHANGED
from hashwall.store.repo import Repository
from hashwall.store.repositories.signals import SignalRecord

MAX_ITEMS_PER_REQUEST = 100


# --- inputs and outputs ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemSubmission:
    """One photo or video to bank: its signals (validated ``Signal`` or raw wire mappings), and
    the orientations of the oriented signal type (PDQ's 8 dihedral hashes) when the client
    computed them (``pdq_orientations``, the wire's name: only compared with the allowlist, so
    that a rotated or mirrored copy of an allowlisted image is refused too; never stored)."""

    signals: tuple[Signal | Mapping[str, Any], ...]
    kind: ItemKind = "image"
    pdq_orientations: tuple[str, ...] | None = None
    #: A video's frames (``{"frame", "pdq", "quality", "timestamp"}`` each, in order, or
    #: records of a video hashed here); None for an image or a video banked by digests only.
    frames: Sequence[Mapping[str, Any] | SignalRecord] | None = None

    @classmethod
    def from_image(cls, hashes: ImageHashes) -> ItemSubmission:
        """The signals of a locally hashed image, PDQ included even when its quality is low,
        with its orientations if they were computed."""
        turned = next(iter(hashes.orientation_values().values()), None)
        return cls(tuple(hashes.all_signals()), pdq_orientations=turned)

    @classmethod
    def from_video(cls, hashes: VideoHashes) -> ItemSubmission:
        """The frames and file digests of a locally hashed video (and an animation's first
        frame as an image's PDQ signal, so that the animation banked as an image matches)."""
        first = hashes.first_frame_signal()
        signals = (*file_digests(hashes), *(() if first is None else (first,)))
        return cls(signals, kind="video", frames=frame_records(hashes))


@dataclass(frozen=True, slots=True)
class ItemAccepted:
    """Item ``index`` of the request was banked as ``item_ref``."""

    index: int
    item_ref: str


@dataclass(frozen=True, slots=True)
class ItemRefused:
    """Item ``index`` of the request was not banked, for the reason ``code``."""

    index: int
    code: str
    message: str


ItemOutcome = ItemAccepted | ItemRefused


@dataclass(frozen=True, slots=True)
class CaseReceipt:
    """A new case: its number, its PIN (shown once, never stored in clear), item outcomes."""

    case_number: str
    pin: str = field(repr=False)
    channel: Channel
    items: tuple[ItemOutcome, ...]

    @property
    def accepted(self) -> tuple[ItemAccepted, ...]:
        """The banked items."""
        return tuple(i for i in self.items if isinstance(i, ItemAccepted))

    @property
    def refused(self) -> tuple[ItemRefused, ...]:
        """The refused items."""
        return tuple(i for i in self.items if isinstance(i, ItemRefused))


@dataclass(frozen=True, slots=True)
class ItemsAdded:
    """Items added to an existing case."""

    case_number: str
    items: tuple[ItemOutcome, ...]

    @property
    def accepted(self) -> tuple[ItemAccepted, ...]:
        """The banked items."""
        return tuple(i for i in self.items if isinstance(i, ItemAccepted))

    @property
    def refused(self) -> tuple[ItemRefused, ...]:
        """The refused items."""
        return tuple(i for i in self.items if isinstance(i, ItemRefused))


@dataclass(frozen=True, slots=True)
class ItemView:
    """What the case holder sees of an item: never its hash values, nor any flag."""

    item_ref: str
    kind: ItemKind
    trust: Trust
    state: ItemState
    created_at: datetime
    #: Uploads answered ``block`` for this item whose match records platforms still keep.
    blocked_uploads: int = 0


@dataclass(frozen=True, slots=True)
class CaseView:
    """A case's status as its holder sees it."""

    case_number: str
    channel: Channel
    status: CaseStatus | Literal["removed"]  # removed: the operator erased it on request
    created_at: datetime
    withdrawn_at: datetime | None
    items: tuple[ItemView, ...]
    removed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PinReissue:
    """A fresh PIN for a case (the old one no longer works); shown once."""

    case_number: str
    pin: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Vouched:
    """Items whose trust a partner raised from ``unvouched`` to ``vouched``."""

    case_number: str
    item_refs: tuple[str, ...]


class AllItemsRefused(NoItemsAccepted):
    """Every item was refused (code ``no_items_accepted``); ``refusals`` says why, per item."""

    def __init__(self, message: str, refusals: tuple[ItemRefused, ...]) -> None:
        super().__init__(message)
        self.refusals = refusals


# --- use cases -------------------------------------------------------------------------------


def create_case(ctx: ServiceContext, actor: Actor, items: Sequence[ItemSubmission]) -> CaseReceipt:
    """Open a case with its items (reporter: anonymous channel; intake key: partner channel).

    Returns the case number, the PIN (once) and one outcome per item, in request order.
    Raises ``Forbidden`` for other actors, ``NoItemsAccepted`` when every item is refused.
    """
    actor.require("reporter", "intake")
    channel: Channel = "partner" if actor.kind == "intake" else "anonymous"
    if channel == "partner" and actor.partner_id is None:
        raise InvalidInput("an intake key must belong to a partner")
    prepared = _prepare(ctx, items)
    pin, pin_hash = _new_pin(ctx)
    with ctx.store.write() as repo:
        case = repo.create_case(
            pin_hash=pin_hash,
            channel=channel,
            partner_id=actor.partner_id if channel == "partner" else None,
        )
        outcomes = _bank(repo, case, prepared, _trust_for(case))
        repo.add_audit(
            "case_created",
            actor_key_id=actor.key_id,
            actor_role=actor.kind,  # "reporter" on the anonymous channel (no key)
            target=case.case_number,
            details={"channel": channel, **_counts(outcomes)},
        )
        _append_added(repo, outcomes)
    return CaseReceipt(case.case_number, pin, channel, _public(outcomes))


def add_items(
    ctx: ServiceContext,
    actor: Actor,
    case_number: str,
    items: Sequence[ItemSubmission],
    *,
    pin: str | None = None,
) -> ItemsAdded:
    """Add items to an existing, active case (case number + PIN, or the filing partner)."""
    case = authorise_case(ctx, actor, case_number, pin)
    prepared = _prepare(ctx, items)
    with ctx.store.write() as repo:
        current = repo.get_case_by_id(case.id)
        if current is None or current.status != "active":
            raise CaseWithdrawn("this case was withdrawn; open a new case for new images")
        outcomes = _bank(repo, current, prepared, _trust_for(current))
        repo.add_audit(
            "case_items_added",
            actor_key_id=actor.key_id,
            actor_role=actor.kind,  # "reporter" on the anonymous channel (no key)
            target=current.case_number,
            details=_counts(outcomes),
        )
        _append_added(repo, outcomes)
    return ItemsAdded(case.case_number, _public(outcomes))


def case_status(
    ctx: ServiceContext, actor: Actor, case_number: str, *, pin: str | None = None
) -> CaseView:
    """The case and each item's kind, trust, state and blocked uploads (case number + PIN, or
    the filing partner)."""
    case = authorise_case(ctx, actor, case_number, pin)
    with ctx.store.read() as repo:
        current = repo.get_case_by_id(case.id) or case
        item_rows = repo.list_items(case.id)
        blocked = repo.count_matches([i.id for i in item_rows], decision="block")
    return CaseView(
        case_number=current.case_number,
        channel=current.channel,
        status="removed" if current.removed_at is not None else current.status,
        removed_at=current.removed_at,
        created_at=current.created_at,
        withdrawn_at=current.withdrawn_at,
        items=tuple(
            ItemView(i.item_ref, i.kind, i.trust, i.state, i.created_at, blocked.get(i.id, 0))
            for i in item_rows
            if i.state != "deleted"
        ),
    )


def reissue_pin(ctx: ServiceContext, actor: Actor, case_number: str) -> PinReissue:
    """A partner gives a person a new PIN for a case the partner filed (the old one stops)."""
    case = filed_by(ctx, actor, case_number)
    pin, pin_hash = _new_pin(ctx)
    with ctx.store.write() as repo:
        repo.set_case_pin(case.id, pin_hash)
        repo.add_audit("case_pin_reissued", actor_key_id=actor.key_id, target=case.case_number)
    return PinReissue(case.case_number, pin)


def vouch_case(ctx: ServiceContext, actor: Actor, case_number: str, *, pin: str) -> Vouched:
    """An intake partner vouches for an anonymous case the person showed them (number + PIN).

    Every ``unvouched`` item becomes ``vouched`` (it may then ``block``); ``trust_changed``
    events tell the indexes and feeds.
    """
    actor.require("intake")
    case = authorise_case(ctx, actor, case_number, pin)
    changed: list[Item] = []
    with ctx.store.write() as repo:
        for item in repo.list_items(case.id):
            if item.trust == "unvouched" and item.live:
                changed.append(repo.set_item_trust(item.id, "vouched"))
        repo.add_audit(
            "case_vouched",
            actor_key_id=actor.key_id,
            target=case.case_number,
            details={"items": len(changed)},
        )
        for item in changed:
            repo.append_event(TRUST_CHANGED, {"item": item.item_ref, "trust": "vouched"}, item=item)
    return Vouched(case.case_number, tuple(i.item_ref for i in changed))


# --- the rules -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Prepared:
    """An item after validation: its kind and signals, or why it was refused."""

    index: int
    kind: ItemKind
    signals: tuple[Signal, ...] = ()
    refusal: ItemRefused | None = None
    orientations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    frames: tuple[SignalRecord, ...] = ()


def _new_pin(ctx: ServiceContext) -> tuple[str, str]:
    """A fresh PIN as shown to the person, and its hash as stored."""
    pin = new_pin()
    key = pin_key(pin)
    assert key is not None  # a fresh PIN always reads as one
    return pin, ctx.pins.hash(key)


def _trust_for(case: Case) -> Trust:
    return "vouched" if case.channel == "partner" else "unvouched"


def _prepare(ctx: ServiceContext, items: Sequence[ItemSubmission]) -> list[_Prepared]:
    """Validate every item, then refuse those on the allowlist; raise if none is left."""
    if not items:
        raise InvalidInput("send at least one item (the signals of one photo or video)")
    if len(items) > MAX_ITEMS_PER_REQUEST:
        raise InvalidInput(f"send at most {MAX_ITEMS_PER_REQUEST} items per request")
    prepared = [_validate(ctx, index, item) for index, item in enumerate(items)]
    if any(p.refusal is None for p in prepared):
        with ctx.store.read() as repo:
            allow = AllowlistMatcher.load(repo, allowlist_radii(ctx.settings))
        if not allow.empty:
            prepared = [
                _refuse(p.index, p.kind, Allowlisted(_ALLOWLISTED))
                if p.refusal is None and allow.matches(p.signals, p.orientations)
                else p
                for p in prepared
            ]
    if all(p.refusal is not None for p in prepared):
        codes = ", ".join(f"item {p.index}: {p.refusal.code}" for p in prepared if p.refusal)
        raise AllItemsRefused(
            f"no item could be banked ({codes})", tuple(p.refusal for p in prepared if p.refusal)
        )
    return prepared


_ALLOWLISTED = (
    "this image is on the allowlist of public images known not to be intimate images "
    "(a famous photo, a stock image, a meme); it was not banked"
)


def _validate(ctx: ServiceContext, index: int, item: ItemSubmission) -> _Prepared:
    kind = item.kind
    if kind not in ("image", "video"):
        return _refuse(index, "image", InvalidInput(f"unknown item kind {kind!r}"))
    raw = [s.to_dict() if isinstance(s, Signal) else s for s in item.signals]
    kept: list[Mapping[str, Any]] = []
    for r in raw:
        quality, name = r.get("quality"), r.get("type")
        signal_type = SIGNAL_TYPES.get(name) if isinstance(name, str) else None
        if (
            signal_type is not None
            and isinstance(quality, int)
            and quality >= 0
            and not usable(ctx.settings, signal_type, quality)
        ):
            if kind == "video" and item.frames is not None:
                continue  # an animation's featureless first frame: its frames are banked
            # Featureless images give degenerate hashes: say why, not that the hash is odd.
            return _refuse(index, kind, LowQuality(_low_quality(ctx, signal_type, quality)))
        kept.append(r)
    raw = kept
    try:
        signals = tuple(Signal.parse(r) for r in raw)
        frames = _frames(ctx, item)
    except HashwallError as exc:
        return _refuse(index, kind, exc)
    if not signals and frames is None:
        return _refuse(index, kind, InvalidInput("an item needs at least one signal"))
    if any(SIGNAL_TYPES[s.type].many_per_item for s in signals):
        return _refuse(
            index, kind, InvalidHash("a video's frame hashes go in its frames, not in signals")
        )
    if frames is not None and not frames:
        floor = min_quality(ctx.settings, FRAME_TYPE)
        return _refuse(
            index,
            kind,
            LowQuality(
                f"every frame of the video has quality below {floor}: it is too featureless "
                "to be matched; it was not banked"
            ),
        )
    types = [s.type for s in signals]
    if len(set(types)) != len(types):
        return _refuse(index, kind, InvalidInput("an item carries at most one signal of each type"))
    for signal in signals:
        signal_type = SIGNAL_TYPES[signal.type]
        if signal_type.quality_required and signal.quality is None:
            return _refuse(
                index,
                kind,
                InvalidInput(f"a {signal.type} signal needs its quality (0-100) to be banked"),
            )
        if not usable(ctx.settings, signal_type, signal.quality):
            quality = signal.quality or 0
            return _refuse(index, kind, LowQuality(_low_quality(ctx, signal_type, quality)))
    orientations: dict[str, tuple[str, ...]] = {}
    if item.pdq_orientations is not None:
        oriented = oriented_type()
        if (
            oriented is None
            or len(item.pdq_orientations) != len(oriented.orientations)
            or oriented.name not in types
        ):
            name = oriented.name if oriented is not None else "oriented"
            count = len(oriented.orientations) if oriented is not None else 0
            return _refuse(
                index,
                kind,
                InvalidHash(f"send all {count} orientation hashes with the {name} signal"),
            )
        try:
            turned = tuple(oriented.canonical_degenerate(h) for h in item.pdq_orientations)
        except HashwallError as exc:
            return _refuse(index, kind, exc)
        orientations[oriented.name] = turned
    return _Prepared(index, kind, signals, orientations=orientations, frames=frames or ())


def _frames(ctx: ServiceContext, item: ItemSubmission) -> tuple[SignalRecord, ...] | None:
    """An item's usable frames (a video's), validated; None when it has no frame list."""
    if item.frames is None:
        return None
    if item.kind != "video":
        raise InvalidInput('frames come with a video item ("kind": "video")')
    if frame_type() is None:
        raise InvalidInput("this service does not bank video frames")
    if not item.frames:
        if isinstance(item.frames, tuple):
            return ()  # a video hashed here with no usable frame: refused as low quality
        raise InvalidHash("frames is empty: send the video's frame hashes, or leave it out")
    if all(isinstance(f, SignalRecord) for f in item.frames):
        return tuple(f for f in item.frames if isinstance(f, SignalRecord))  # hashed here
    return parse_frames(ctx.settings, [f for f in item.frames if not isinstance(f, SignalRecord)])


def _low_quality(ctx: ServiceContext, signal_type: type[SignalType], quality: int) -> str:
    minimum = min_quality(ctx.settings, signal_type)
    return (
        f"{signal_type.name.upper()} quality {quality} is below {minimum}: the image is too "
        "featureless to be matched; it was not banked"
    )


def _refuse(index: int, kind: ItemKind, error: HashwallError) -> _Prepared:
    return _Prepared(index, kind, refusal=ItemRefused(index, error.code, error.message))


def _bank(
    repo: Repository, case: Case, prepared: list[_Prepared], trust: Trust
) -> list[tuple[_Prepared, Item | None]]:
    """Insert the accepted items and their signals (events are appended later, last)."""
    out: list[tuple[_Prepared, Item | None]] = []
    for p in prepared:
        if p.refusal is not None:
            out.append((p, None))
            continue
        item = repo.add_item(case.id, kind=p.kind, trust=trust)
        repo.add_signals_bulk([(item.id, (*p.signals, *p.frames))])  # no rows returned
        out.append((p, item))
    return out


def _append_added(repo: Repository, outcomes: list[tuple[_Prepared, Item | None]]) -> None:
    for p, item in outcomes:
        if item is None:
            continue
        repo.append_event(
            ITEM_ADDED,
            {
                "item": item.item_ref,
                "kind": item.kind,
                "trust": item.trust,
                "signals": [SignalRecord.of(s).to_dict() for s in p.signals]
                + [f.to_dict() for f in p.frames],
            },
            item=item,
        )


def _public(outcomes: list[tuple[_Prepared, Item | None]]) -> tuple[ItemOutcome, ...]:
    result: list[ItemOutcome] = []
    for p, item in outcomes:
        if item is not None:
            result.append(ItemAccepted(p.index, item.item_ref))
        elif p.refusal is not None:
            result.append(p.refusal)
    return tuple(result)


def _counts(outcomes: list[tuple[_Prepared, Item | None]]) -> dict[str, int]:
    banked = sum(1 for _, item in outcomes if item is not None)
    return {"items_banked": banked, "items_refused": len(outcomes) - banked}
