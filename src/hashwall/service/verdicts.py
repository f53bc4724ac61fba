"""Verdicts: a platform's reviewer judges a match its platform received.

Only the platform that owns the match may judge it (``Forbidden`` for any other platform, even
one of the same organisation). The request carries the upload's PDQ and/or sha256 (the match row
does not keep them).

- ``confirmed``: an ``unvouched`` item becomes ``confirmed`` (it now blocks everywhere); a
  ``trust_changed`` event tells the feeds.
- ``not_ncii``: exempts that upload (same sha256, or PDQ within
  ``settings.distinct_upload_bits``) from that item on that platform. The item is
  **quarantined** (``item_quarantined`` event; it then answers ``review`` and waits for the
  operator) when not_ncii verdicts come from at least ``settings.quarantine_min_orgs`` different
  organisations on pairwise distinct uploads: PDQ more than ``distinct_upload_bits`` apart. An
  upload without a PDQ never counts as distinct (a digest match is the banked file itself). So
  one organisation alone, whatever its number of platforms or verdicts, never quarantines, and
  repeated verdicts on one upload count once. Only verdicts after the operator's last
  reinstatement count: the operator's decision is not undone by the verdicts it overruled.
- ``csam``: flags the item for the operator's legal duties; it keeps blocking.

Every verdict is a ``verdicts`` row and an audit row (with the acting key). Verdicts on an item
that left the bank (withdrawn, deleted) are not recorded: nothing about it is kept any more.
The item row is locked for the transaction, so concurrent verdicts are counted one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hashwall.errors import Forbidden, InvalidInput, NotFound
from hashwall.hashing.pdq import PdqHash
from hashwall.hashing.signals import PdqSignal, Sha256Signal
from hashwall.service.context import Actor, ServiceContext
from hashwall.store.events import ITEM_QUARANTINED, TRUST_CHANGED
from hashwall.store.repo import Item, Repository, Verdict, VerdictKind

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
    upload_pdq = PdqSignal.canonical(request.upload_pdq) if request.upload_pdq else None
    upload_sha = Sha256Signal.canonical(request.upload_sha256) if request.upload_sha256 else None
    if request.verdict == "not_ncii" and upload_pdq is None and upload_sha is None:
        raise InvalidInput("a not_ncii verdict names the upload: send its pdq and/or sha256")

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
        verdict = repo.add_verdict(
            item_id=item.id,
            platform_id=platform.id,
            organisation_id=platform.organisation_id,
            verdict=request.verdict,
            match_id=match.id,
            upload_pdq=upload_pdq,
            upload_sha256=upload_sha,
        )
        repo.add_audit(
            f"verdict_{request.verdict}",
            actor_key_id=actor.key_id,
            target=request.match_ref,
            details={"item": item.item_ref},
        )
        if request.verdict == "confirmed":
            _confirm(repo, actor, item)
        elif request.verdict == "csam":
            repo.set_item_csam(item.id, True)
        else:
            _exempt_and_maybe_quarantine(repo, ctx, actor, item, verdict)
    return VerdictResult(request.match_ref, request.verdict, recorded=True)


def _confirm(repo: Repository, actor: Actor, item: Item) -> None:
    if item.trust != "unvouched":
        return
    confirmed = repo.set_item_trust(item.id, "confirmed")
    repo.add_audit("item_confirmed", actor_key_id=actor.key_id, target=item.item_ref)
    repo.append_event(TRUST_CHANGED, {"item": item.item_ref, "trust": "confirmed"}, item=confirmed)


def _exempt_and_maybe_quarantine(
    repo: Repository, ctx: ServiceContext, actor: Actor, item: Item, verdict: Verdict
) -> None:
    bits = ctx.settings.distinct_upload_bits
    already = any(
        _same_upload(e.upload_pdq, e.upload_sha256, verdict.upload_pdq, verdict.upload_sha256, bits)
        for e in repo.list_exemptions(verdict.platform_id, [item.id])
    )
    if not already:
        repo.add_exemption(
            platform_id=verdict.platform_id,
            item_id=item.id,
            upload_pdq=verdict.upload_pdq,
            upload_sha256=verdict.upload_sha256,
            verdict_id=verdict.id,
        )
    if item.state != "active":
        return
    counted = [
        v
        for v in repo.list_verdicts(item.id, verdict="not_ncii")
        if item.state_changed_at is None or v.created_at > item.state_changed_at
    ]
    if quarantine_due(counted, ctx.settings.quarantine_min_orgs, bits):
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


def quarantine_due(not_ncii: Sequence[Verdict], min_orgs: int, bits: int) -> bool:
    """Whether ``min_orgs`` organisations gave not_ncii verdicts on pairwise distinct uploads.

    Looks for one verdict per organisation, from ``min_orgs`` organisations, whose upload PDQs
    are pairwise more than ``bits`` apart (a small backtracking search: verdicts are few).
    Verdicts without an upload PDQ never count.
    """
    by_org: dict[int, list[PdqHash]] = {}
    for v in not_ncii:
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
