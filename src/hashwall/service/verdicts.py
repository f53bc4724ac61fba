"""Verdicts: a platform's reviewer judges a match its platform received.

Only the platform that owns the match may judge it (``Forbidden`` for any other platform, even
one of the same organisation). A verdict is about **the upload the match was made on**: the
match row keeps that upload's PDQ and sha256, and the verdict records those, never values the
reviewer makes up. A request may send the upload's PDQ and/or sha256 (a check that the reviewer
judges the right upload): a sha256 must equal the match's, a PDQ be within the platform's
threshold of it, else ``upload_mismatch`` (422) and nothing is recorded. A match made before
matches kept their upload (an older store) takes the request's values for the exemption of that
platform only; such a verdict counts towards no rule across organisations.

- ``confirmed``: the item blocks at once on the platforms of the confirming organisation (the
  check reads ``confirmed`` verdicts by organisation). It becomes ``confirmed`` for everyone
  (a ``trust_changed`` event tells the indexes and feeds) only when confirmed verdicts come from
  at least ``settings.confirm_min_orgs`` different organisations on pairwise distinct uploads
  (PDQ more than ``settings.distinct_upload_bits`` apart), or when the operator confirms it
  (:func:`confirm_item`), or an intake partner vouches for its case. So one organisation alone
  cannot bank an image anonymously and get it blocked everywhere.
- ``not_ncii``: exempts that upload (same sha256, or PDQ within
  ``settings.distinct_upload_bits``) from that item on that platform. The item is
  **quarantined** (``item_quarantined`` event; it then answers ``review`` and waits for the
  operator) when not_ncii verdicts come from at least ``settings.quarantine_min_orgs`` different
  organisations on pairwise distinct uploads. An upload without a PDQ never counts as distinct
  (a digest match is the banked file itself). So one organisation alone, whatever its number of
  platforms or verdicts, never quarantines, and repeated verdicts on one upload count once. Only
  verdicts after the operator's last reinstatement count: the operator's decision is not undone
  by the verdicts it overruled.
- ``csam``: flags the item for the operator's legal duties; it keeps blocking.

Every verdict is a ``verdicts`` row and an audit row (with the acting key). Verdicts on an item
that left the bank (withdrawn, deleted) are not recorded: nothing about it is kept any more.
The item row is locked for the transaction, so concurrent verdicts are counted one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hashwall.domain import Actor, Item, MatchRecord, Platform, Verdict, VerdictKind
from hashwall.errors import Forbidden, InvalidInput, InvalidState, NotFound, UploadMismatch
from hashwall.hashing.pdq import PdqHash
from hashwall.hashing.signals import PdqSignal, Sha256Signal
from hashwall.service.context import ServiceContext
from hashwall.service.signal_policy import policy_threshold
from hashwall.store.events import ITEM_QUARANTINED, TRUST_CHANGED
from hashwall.store.repo import Repository

VERDICT_KINDS: tuple[VerdictKind, ...] = ("confirmed", "not_ncii", "csam")


@dataclass(frozen=True, slots=True)
class VerdictRequest:
    """A reviewer's verdict on one match, with the upload's hashes (PDQ and/or sha256)."""

    match_ref: str
    verdict: VerdictKind
    upload_pdq: str | None = None
    upload_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class VerdictResult:
    """Whether the verdict was recorded (False: the item is no longer in the bank)."""

    match_ref: str
    verdict: VerdictKind
    recorded: bool


def submit_verdict(ctx: ServiceContext, actor: Actor, request: VerdictRequest) -> VerdictResult:
    """Record a verdict by the platform that owns the match, and apply its consequences."""
    actor.require("platform", scope="verdict")
    if request.verdict not in VERDICT_KINDS:
        raise InvalidInput(f"verdict must be one of {', '.join(VERDICT_KINDS)}")
    sent_pdq = PdqSignal.canonical(request.upload_pdq) if request.upload_pdq else None
    sent_sha = Sha256Signal.canonical(request.upload_sha256) if request.upload_sha256 else None

    with ctx.store.write() as repo:
        match = repo.get_match(request.match_ref)
        if match is None:
            raise NotFound("no match with that reference (it may have expired)")
        if match.platform_id != actor.platform_id:
            raise Forbidden("only the platform that received a match may judge it")
        platform = repo.get_platform_by_id(match.platform_id)
        item = repo.get_item_by_id(match.item_id, for_update=True)
        if platform is None or item is None or not item.live:
            return VerdictResult(request.match_ref, request.verdict, recorded=False)
        upload = _the_upload(match, platform, sent_pdq, sent_sha)
        if request.verdict == "not_ncii" and upload.pdq is None and upload.sha256 is None:
            raise InvalidInput("a not_ncii verdict names the upload: send its pdq and/or sha256")
        verdict = repo.add_verdict(
            item_id=item.id,
            platform_id=platform.id,
            organisation_id=platform.organisation_id,
            verdict=request.verdict,
            match_id=match.id,
            upload_pdq=upload.pdq if upload.recorded else None,
            upload_sha256=upload.sha256 if upload.recorded else None,
        )
        repo.add_audit(
            f"verdict_{request.verdict}",
            actor_key_id=actor.key_id,
            target=request.match_ref,
            details={"item": item.item_ref},
        )
        if request.verdict == "confirmed":
            _maybe_confirm(repo, ctx, actor, item)
        elif request.verdict == "csam":
            repo.set_item_csam(item.id, True)
        else:
            _exempt_and_maybe_quarantine(repo, ctx, actor, item, verdict, upload)
    return VerdictResult(request.match_ref, request.verdict, recorded=True)


@dataclass(frozen=True, slots=True)
class _Upload:
    """The upload a verdict is about; ``recorded``: its values are the match's own."""

    pdq: str | None
    sha256: str | None
    recorded: bool


def _the_upload(
    match: MatchRecord, platform: Platform, sent_pdq: str | None, sent_sha: str | None
) -> _Upload:
    """The match's upload, after checking that what the reviewer sent (if anything) is it."""
    if match.upload_pdq is None and match.upload_sha256 is None:
        return _Upload(sent_pdq, sent_sha, recorded=False)  # a match from before uploads were kept
    if sent_sha is not None and match.upload_sha256 is not None and sent_sha != match.upload_sha256:
        raise UploadMismatch("the upload's sha256 is not that of the upload this match was made on")
    if sent_pdq is not None:
        threshold = policy_threshold(platform.policy, PdqSignal)
        if match.upload_pdq is None or (
            PdqHash.from_hex(sent_pdq).distance(PdqHash.from_hex(match.upload_pdq)) > threshold
        ):
            raise UploadMismatch(
                "the upload's PDQ is not within the platform's threshold of the upload this "
                "match was made on"
            )
    return _Upload(match.upload_pdq, match.upload_sha256, recorded=True)


def _maybe_confirm(repo: Repository, ctx: ServiceContext, actor: Actor, item: Item) -> None:
    """Confirmed for everyone once enough organisations confirmed it on distinct uploads."""
    if item.trust != "unvouched":
        return
    confirmed = repo.list_verdicts(item.id, verdict="confirmed")
    if due_across_organisations(
        confirmed, ctx.settings.confirm_min_orgs, ctx.settings.distinct_upload_bits
    ):
        _set_confirmed(repo, actor, item, "confirmed verdicts from several organisations")


def _set_confirmed(repo: Repository, actor: Actor, item: Item, reason: str) -> None:
    updated = repo.set_item_trust(item.id, "confirmed")
    repo.add_audit(
        "item_confirmed",
        actor_key_id=actor.key_id,
        target=item.item_ref,
        details={"reason": reason},
    )
    repo.append_event(TRUST_CHANGED, {"item": item.item_ref, "trust": "confirmed"}, item=updated)


@dataclass(frozen=True, slots=True)
class Confirmed:
    """The operator's confirmation: ``changed`` False when the item already blocked everywhere."""

    item_ref: str
    trust: str
    changed: bool


def confirm_item(ctx: ServiceContext, actor: Actor, item_ref: str) -> Confirmed:
    """The operator confirms an item: it blocks on every platform (``trust_changed``)."""
    actor.require("operator", "admin")
    with ctx.store.write() as repo:
        item = repo.get_item(item_ref, for_update=True)
        if item is None:
            raise NotFound("no item with that reference")
        if not item.live:
            raise InvalidState(f"the item is {item.state}: only a banked item can be confirmed")
        if item.trust != "unvouched":
            return Confirmed(item.item_ref, item.trust, changed=False)
        _set_confirmed(repo, actor, item, "confirmed by the operator")
    return Confirmed(item.item_ref, "confirmed", changed=True)


def _exempt_and_maybe_quarantine(
    repo: Repository,
    ctx: ServiceContext,
    actor: Actor,
    item: Item,
    verdict: Verdict,
    upload: _Upload,
) -> None:
    bits = ctx.settings.distinct_upload_bits
    already = any(
        _same_upload(e.upload_pdq, e.upload_sha256, upload.pdq, upload.sha256, bits)
        for e in repo.list_exemptions(verdict.platform_id, [item.id])
    )
    if not already:
        repo.add_exemption(
            platform_id=verdict.platform_id,
            item_id=item.id,
            upload_pdq=upload.pdq,
            upload_sha256=upload.sha256,
            verdict_id=verdict.id,
        )
    if item.state != "active":
        return
    counted = [
        v
        for v in repo.list_verdicts(item.id, verdict="not_ncii")
        if item.state_changed_at is None or v.created_at > item.state_changed_at
    ]
    if due_across_organisations(counted, ctx.settings.quarantine_min_orgs, bits):
        quarantined = repo.set_item_state(item.id, "quarantined")
        repo.add_audit(
            "item_quarantined",
            actor_key_id=actor.key_id,
            target=item.item_ref,
            details={"reason": "not_ncii verdicts from several organisations"},
        )
        repo.append_event(ITEM_QUARANTINED, {"item": item.item_ref}, item=quarantined)


def _same_upload(
    pdq_a: str | None, sha_a: str | None, pdq_b: str | None, sha_b: str | None, bits: int
) -> bool:
    if sha_a is not None and sha_a == sha_b:
        return True
    if pdq_a is None or pdq_b is None:
        return False
    return PdqHash.from_hex(pdq_a).distance(PdqHash.from_hex(pdq_b)) <= bits


def due_across_organisations(verdicts: Sequence[Verdict], min_orgs: int, bits: int) -> bool:
    """Whether ``min_orgs`` organisations gave these verdicts on pairwise distinct uploads.

    Looks for one verdict per organisation, from ``min_orgs`` organisations, whose upload PDQs
    are pairwise more than ``bits`` apart (a small backtracking search: verdicts are few).
    Verdicts without an upload PDQ never count.
    """
    by_org: dict[int, list[PdqHash]] = {}
    for v in verdicts:
        if v.upload_pdq is None:
            continue
        code = PdqHash.from_hex(v.upload_pdq)
        uploads = by_org.setdefault(v.organisation_id, [])
        if all(code.distance(u) > bits for u in uploads):
            uploads.append(code)
    orgs = list(by_org.values())
    if len(orgs) < min_orgs:
        return False

    def extend(start: int, chosen: list[PdqHash]) -> bool:
        if len(chosen) == min_orgs:
            return True
        for index in range(start, len(orgs)):
            for code in orgs[index]:
                if all(code.distance(c) > bits for c in chosen) and extend(
                    index + 1, [*chosen, code]
                ):
                    return True
        return False

    return extend(0, [])
