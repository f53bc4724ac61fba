"""Check: one upload's signals -> ``allow``, ``review`` or ``block`` for one platform.

Which signal types exist, how each compares (exact or distance), its quality floor, its
radius on a platform and its orientations is the type's to say (``hashing/signals``, tuned by
``service/signal_policy.py``); this module names no type. DESIGN.md's matching rules, in order:

1. Signals are validated (``invalid_hash``). A signal below its type's quality floor (a PDQ
   below ``settings.pdq_min_quality``) is never matched; an upload with only such a signal and
   no exact digest match is ``allow`` with reason ``low_quality``.
2. Candidates: items whose value of a distance type (PDQ) is within the platform's threshold
   for that type of any of the upload's orientations (the 8 dihedral hashes when given, else
   the one hash), from the live index of its family (``ctx.live``; without one, a scan of the
   store), plus items holding an equal value of an exact type (``md5``, ``sha256``), from the
   live digests (``ctx.live.digests``; without a live index, the store).
   Items whose keypoint set (a geometric type: ``keypoints``) one placement verifies in the
   upload's are candidates too (``service/keypoints.py``; milliseconds of CPU, so this search
   runs in the store step's thread, never on the event loop); an item found by another signal
   keeps it.
   A live index that is not current (behind the log past ``index_max_lag``: its follower
   stopped) is never used: a small bank is scanned in the store, a large one refused (503).
3. In one store transaction, **the candidates are re-read** (the index may lag; the store does
   not: a withdrawal is final the moment its call returns), and dropped when not ``active`` or
   ``quarantined``, when the upload or the item is allowlisted, or when the platform exempted
   this upload for the item (a ``not_ncii`` verdict: equal sha256, or PDQ within
   ``settings.distinct_upload_bits`` in any orientation). The same transaction re-reads the
   actor's key (revoked: ``invalid_key``, nothing written) and its platform's policy (the
   caller may have both from the key cache, which lags by up to the poll interval).
4. Per item: ``quarantined`` -> review; ``active`` and ``vouched``/``confirmed`` -> block
   (review when only a type whose ``strongest_answer`` is ``review`` found it: keypoints);
   ``active`` and ``unvouched`` -> block if a platform of this platform's organisation confirmed
   it (a ``confirmed`` verdict: it blocks for that organisation at once, for everyone only
   once several organisations did, see ``service/verdicts.py``), else the policy's
   ``unvouched_answer`` (review, or allow = drop).
   The answer is ``block`` if any item blocks, else ``review`` if any item remains, else
   ``allow``. Every remaining item gets a ``matches`` row (its own decision) and a match ref;
   distance and orientation are returned only if the platform's policy reveals them. The match
   rows keep the upload (its PDQ as sent and its sha256): a verdict is about that upload.

**Videos.** An upload may be a video: its frame hashes (``request.frames``, and the mirrored
frames when sent) beside its file's digests. Candidates in step 2 are the items holding a
``vpdq_frame`` hash within the platform's radius of any upload frame, as it is or mirrored (an
equal digest of the file keeps its exact candidate). In step 3 each live candidate found by
frames is judged by the video rule (``service/video.py``, ``hashing/video_match.py``) against
all its banked frames with the platform's ``video_upload_percent`` and ``video_bank_percent``,
and dropped unless it matches; each banked video on its own, so a compilation of two banked
clips matches both. The answer of a video match carries the two shares and the matched time
ranges only where the policy reveals distances (``reveal_distance``), in place of a distance.

An ``allow`` says nothing about why (no oracle): withdrawn, exempted, allowlisted and
never-banked look the same (reason ``no_match``).

**No timing oracle.** On a platform whose policy answers ``allow`` for unvouched items, a hit on
such an item answers ``allow`` like a miss. So that response time cannot tell them apart either,
every check of such a platform takes the same path, hit or miss: the store step's statements
(the key, the candidates; the candidates statement runs for a miss too), never the in-memory
``allow``. Each such hidden hit is recorded for the operator (an audit row,
``check_hit_allowed``), written after the answer by the process's hit log
(``service/hitlog.py``), or in the check's own transaction without one. Platforms that answer
``review`` for unvouched items (the default) answer a miss from memory: a hit there says so
itself, and leaves a match row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from hashwall.domain import Actor, Decision, Platform
from hashwall.errors import Forbidden, IndexNotReady, InvalidKey, StoreUnavailable
from hashwall.hashing.signals import (
    SIGNAL_TYPES,
    UPLOAD_EXACT,
    UPLOAD_NEAR,
    DistanceSignalType,
    distance_types,
)
from hashwall.hashing.video_match import VideoMatch
from hashwall.index.base import DihedralMatch
from hashwall.service.allowlist import AllowlistMatcher
from hashwall.service.auth import INVALID_KEY_MESSAGE
from hashwall.service.context import ServiceContext
from hashwall.service.hitlog import HiddenHit, write_hidden_hits
from hashwall.service.indexes import LiveIndexes
from hashwall.service.keypoints import scan_store_keypoints
from hashwall.service.reveal import REVEAL_BAND, NearMatch, coarse_distance, revealed_distances
from hashwall.service.search import scan_store
from hashwall.service.signal_policy import allowlist_radii, policy_threshold, usable
from hashwall.service.upload import CheckRequest
from hashwall.service.video import banked_video, frame_type, judge
from hashwall.store.ids import new_check_id
from hashwall.store.repo import Repository
from hashwall.store.repositories.checks import CheckCandidate, NewMatch

__all__ = [
    "REVEAL_BAND",
    "CheckMatch",
    "CheckRequest",
    "CheckResult",
    "StoreStep",
    "check",
    "check_in_memory",
    "coarse_distance",
    "standing_match_refs",
]

#: Banked keypoint sets a check scans in the store at most, while the live index is not current.
STALE_KEYPOINT_SCAN_MAX = 1_000

CheckDecision = Literal["allow", "review", "block"]
CheckReason = Literal["match", "no_match", "low_quality"]


@dataclass(frozen=True, slots=True)
class CheckMatch:
    """One banked item behind a non-allow answer: the match ref (for verdicts) and the item ref.

    The item ref lets a platform see that several uploads hit the same banked item; it says
    nothing about the item's case, its reporter or its hash values.
    """

    match_ref: str
    item_ref: str
    decision: Decision
    signal_type: str
    distance: int | None = None
    orientation: str | None = None
    #: A video matched by the video rule: its shares and ranges, where the policy reveals
    #: distances (None otherwise, and for images).
    video: VideoMatch | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The answer for one upload on one platform."""

    check_id: str
    decision: CheckDecision
    reason: CheckReason
    matches: tuple[CheckMatch, ...] = ()


@dataclass(frozen=True, slots=True)
class _Candidate:
    item_id: int
    signal_type: str
    distance: int | None
    orientation: int | None


def check(
    ctx: ServiceContext,
    actor: Actor,
    request: CheckRequest,
    *,
    platform: Platform | None = None,
) -> CheckResult:
    """Answer one upload for the acting platform (a ``platform`` key with scope ``check``).

    ``platform``: the actor's platform row if the caller already read it (the API reads it with
    the key, or has it from the key cache). With a live index, an upload then needs no store
    read before the search (digests and PDQ are both in memory); one that finds no candidate
    answers ``allow`` without any. Candidates are always re-read in the write transaction of
    step 3, whatever was passed here.
    """
    first = check_in_memory(ctx, actor, request, platform=platform)
    return first if isinstance(first, CheckResult) else first.run()


def check_in_memory(
    ctx: ServiceContext,
    actor: Actor,
    request: CheckRequest,
    *,
    platform: Platform | None = None,
) -> CheckResult | StoreStep:
    """The part of :func:`check` that needs no store: the answer when that is enough, else the
    :class:`StoreStep` that finishes it (blocking: run it where blocking is fine).

    The answer comes from memory only when there is a live index, ``platform`` is the actor's,
    nothing matched (``allow``), and the platform answers ``review`` for unvouched items (see
    "No timing oracle" above). Everything else goes through the store.
    """
    actor.require("platform", scope="check")
    if actor.platform_id is None:
        raise Forbidden("a platform key must belong to a platform")
    check_id = new_check_id()
    if platform is not None and platform.id != actor.platform_id:
        platform = None  # not this actor's platform: read it in the store step
    live = ctx.live
    if live is not None and not live.current:
        ctx, live = _without_stale_index(ctx, live, request), None
    if live is None or platform is None:
        return StoreStep(ctx, actor, request, check_id, platform, None)
    candidates: dict[int, _Candidate] = {}
    _add_exact_candidates(live, request.exact(), candidates)
    _add_near_candidates(ctx, request, platform, candidates)
    if request.geometric():  # milliseconds of CPU: not here, in the store step's thread
        return StoreStep(ctx, actor, request, check_id, platform, candidates, geometric=True)
    if not candidates and not _hides_hits(platform):
        return _allow(ctx, request, check_id)
    return StoreStep(ctx, actor, request, check_id, platform, candidates)


def _without_stale_index(
    ctx: ServiceContext, live: LiveIndexes, request: CheckRequest
) -> ServiceContext:
    """The context to check with while the live index is not current (its follower stopped or
    lags past ``index_max_lag``): never an ``allow`` from it. A bank of at most
    ``index_stale_scan_max`` hashes is scanned in the store (O(bank), cheap there); a larger one
    is refused (``503 store_unavailable``, ``Retry-After``): a scan per check there would load
    the store every replica shares, and the load balancer already routes to ready replicas.
    An upload's keypoints are verified against every banked set in a scan (~1 ms and ~1.4 kB
    read each), so with them the limit is :data:`STALE_KEYPOINT_SCAN_MAX` sets."""
    if not live.built:
        raise IndexNotReady("the index is still being built; retry in a few seconds")
    sets = sum(live.geometric[kind.name].size for kind, _ in request.geometric())
    if live.size > ctx.settings.index_stale_scan_max or sets > STALE_KEYPOINT_SCAN_MAX:
        live.count_stale_check("refused")
        raise StoreUnavailable(
            "this server's index is behind the bank; retry in a moment", retry_after=1
        )
    live.count_stale_check("store_scan")
    return replace(ctx, live=None)


@dataclass(frozen=True, slots=True)
class StoreStep:
    """What is left of a check that needs the store: reading the platform and the candidates
    (without a live index or a platform row), then steps 3 and 4 in one write transaction."""

    ctx: ServiceContext
    actor: Actor
    request: CheckRequest
    check_id: str
    platform: Platform | None
    candidates: dict[int, _Candidate] | None
    #: The geometric signals (keypoints) are still to search, after ``candidates``.
    geometric: bool = False

    def run(self) -> CheckResult:
        """Finish the check (store transactions: blocking)."""
        ctx, actor, request = self.ctx, self.actor, self.request
        platform, candidates = self.platform, self.candidates
        if candidates is not None and self.geometric:
            candidates = dict(candidates)
            _add_geometric_candidates(ctx, request, candidates)
        if candidates is None:
            candidates = {}
            exact = request.exact()
            from_store = exact if ctx.live is None else []
            if from_store or platform is None:
                with ctx.store.read() as repo:
                    platform = repo.get_platform_by_id(actor.platform_id or 0)
                    if platform is None:
                        raise Forbidden("the platform of this key no longer exists")
                    for signal_type, value in from_store:
                        for item in repo.find_items_by_signal(signal_type, [value]):
                            candidates.setdefault(
                                item.id, _Candidate(item.id, signal_type, None, None)
                            )
            if ctx.live is not None:
                _add_exact_candidates(ctx.live, exact, candidates)
            _add_near_candidates(ctx, request, platform, candidates)
            _add_geometric_candidates(ctx, request, candidates)
        if platform is None:  # never: candidates come with the platform they were searched for
            raise Forbidden("the platform of this key no longer exists")
        if not candidates and not _hides_hits(platform):
            return _allow(ctx, request, self.check_id)
        decoy = None
        if not candidates and ctx.live is not None:  # a miss of a platform that hides hits
            decoy = ctx.live.sample_id(_decoy_type(request).name)
        with ctx.store.write() as repo:
            result, hidden = _decide(
                repo, ctx, actor, platform, request, self.check_id, candidates, decoy
            )
            if hidden and ctx.hit_log is None:
                write_hidden_hits(repo, hidden)
        if hidden and ctx.hit_log is not None:
            ctx.hit_log.record(hidden)  # written after the answer: a hit costs what a miss does
        return result


def standing_match_refs(ctx: ServiceContext, refs: Sequence[str]) -> set[str]:
    """Which of these match refs still stand: their item is still in the bank (not withdrawn
    or deleted since). A replayed answer keeps only those (``api/routes/check.py``). One
    statement."""
    if not refs:
        return set()
    with ctx.store.read() as repo:
        return repo.standing_match_refs(refs)


def _hides_hits(platform: Platform) -> bool:
    """Whether a hit can answer ``allow`` on this platform (its checks all take one path)."""
    return platform.policy.unvouched_answer == "allow"


def _add_exact_candidates(
    live: LiveIndexes, exact: list[tuple[str, str]], candidates: dict[int, _Candidate]
) -> None:
    for signal_type, value in exact:
        for item_id in live.find_digest(signal_type, value):
            candidates.setdefault(item_id, _Candidate(item_id, signal_type, None, None))


def _add_near_candidates(
    ctx: ServiceContext,
    request: CheckRequest,
    platform: Platform,
    candidates: dict[int, _Candidate],
) -> None:
    """Items within the platform's radius of a usable distance signal of the upload (in any
    of its orientations) or of one of its regions (hashed usable by the client, whatever the
    whole upload's quality); a near match replaces an exact one of the same item (it says
    more), the nearest of two near ones stays."""
    for kind, signal in request.near():
        own = [request.variants(kind.name)] if usable(ctx.settings, kind, signal.quality) else []
        radius = policy_threshold(platform.policy, kind)
        # The upload's own values, then each place the photo may be inside it (its regions).
        for values in (*own, *request.region_variants(kind.name)):
            for hit in _search(ctx, kind, values, radius):
                held = candidates.get(hit.id)
                if held is None or held.distance is None or hit.distance < held.distance:
                    candidates[hit.id] = _Candidate(
                        hit.id, kind.name, hit.distance, hit.orientation
                    )
    frames, frame_kind = request.frames, frame_type()
    if frames is None or frame_kind is None or not len(frames):
        return
    # Any upload frame, as it is or mirrored, near a banked frame: that video is a candidate,
    # judged by the video rule in the store step. An item already found by another signal
    # (an equal digest of the file, an animation's first-frame pdq) stays found by it: its
    # own rule matches it, and a few frame hits must not turn it into a video to judge.
    radius = policy_threshold(platform.policy, frame_kind)
    for hit in _search(ctx, frame_kind, frames.search_values(), radius):
        if hit.id not in candidates:
            candidates[hit.id] = _Candidate(hit.id, frame_kind.name, hit.distance, None)


def _add_geometric_candidates(
    ctx: ServiceContext, request: CheckRequest, candidates: dict[int, _Candidate]
) -> None:
    """Items whose keypoint set one placement verifies in the upload's (with the bank's
    required inliers: ``service/keypoints.py``); an item found by another signal keeps it
    (a PDQ distance says more, an equal digest says all)."""
    for kind, signal in request.geometric():
        query = kind.decode(signal.value)
        if ctx.live is not None:
            hits = ctx.live.search_keypoints(kind.name, query)
        else:
            hits = scan_store_keypoints(ctx.store, kind, query)
        for hit in hits:
            candidates.setdefault(hit.item_id, _Candidate(hit.item_id, kind.name, None, None))


def _low_quality(ctx: ServiceContext, request: CheckRequest) -> bool:
    """Whether a signal of the upload is below its type's quality floor (or every frame of a
    video is: a video's other signals, such as an animation's first frame, do not count)."""
    if request.frames is not None:
        return not len(request.frames)
    return any(
        not usable(ctx.settings, SIGNAL_TYPES[s.type], s.quality)
        for s in request.signals
        if SIGNAL_TYPES[s.type].min_quality is not None
    )


def _allow(ctx: ServiceContext, request: CheckRequest, check_id: str) -> CheckResult:
    return CheckResult(
        check_id, "allow", "low_quality" if _low_quality(ctx, request) else "no_match"
    )


def _search(
    ctx: ServiceContext, kind: type[DistanceSignalType], values: Sequence[str], radius: int
) -> list[DihedralMatch]:
    if not values:
        return []
    codes = [kind.code(v) for v in values]
    if ctx.live is not None:
        return ctx.live.search(kind.name, codes, radius)
    return scan_store(ctx.store, codes, radius, kind.name)


def _decide(
    repo: Repository,
    ctx: ServiceContext,
    actor: Actor,
    platform: Platform,
    request: CheckRequest,
    check_id: str,
    candidates: dict[int, _Candidate],
    decoy: int | None = None,
) -> tuple[CheckResult, list[HiddenHit]]:
    """Steps 3 and 4, inside one transaction: re-read, drop, decide, record.

    The key and the platform are re-read here too: the caller may have verified the key from
    memory (``service/keys.py``), which can lag a revocation or a policy change by up to the
    poll interval; the store does not. A revoked key never creates a match or sees a match ref,
    and the answer follows the policy as it is now.

    Returns the answer and the hidden hits (items dropped because the policy answers ``allow``
    for unvouched items), which the caller records. ``decoy``: for a miss of a platform that
    hides hits, a live item read and judged as if it were a candidate, then dropped, so that
    the miss does the work of a hit (the same rows read, the same rules run).

    Three statements when the allowlist holds no entry of a distance type (the key with the
    platform; the live candidates with their exact-allowlist flags and this platform's
    exemptions; the match rows), four otherwise (those entries with the candidates' values of
    distance types, for the distances).
    """
    usable, current = repo.read_check_caller(actor.key_id, platform.id)
    if not usable:
        raise InvalidKey(INVALID_KEY_MESSAGE)
    if current is None:
        raise Forbidden("the platform of this key no longer exists")
    platform = current
    candidates = {
        item_id: c
        for item_id, c in candidates.items()
        if c.distance is None
        or c.distance <= policy_threshold(platform.policy, SIGNAL_TYPES[c.signal_type])
    }
    upload_exact = request.exact()
    # A miss of a platform that hides hits runs the statement too, for the decoy (or for no
    # row id: they start at 1), so that it costs what a hit does.
    if not candidates and decoy is not None:
        candidates = {decoy: _Candidate(decoy, _decoy_type(request).name, 0, 0)}
    else:
        decoy = None
    # A video's frames are judged by the video rule, not one by one against the allowlist.
    near_types = [kind.name for kind in distance_types() if not kind.many_per_item]
    found = repo.read_check_candidates(
        platform.id,
        list(candidates) or [0],
        upload_exact,
        organisation_id=platform.organisation_id,
        near_types=near_types,
    )
    if not candidates:
        return _allow(ctx, request, check_id), []
    if found.upload_allowlisted:
        return CheckResult(check_id, "allow", "no_match"), []
    items = {item_id: item for item_id, item in found.items.items() if not item.allowlisted}
    if items and found.near_allowlist:
        entries, held = repo.read_near_allowlist(list(items), near_types)
        allow = AllowlistMatcher.of_near(entries, allowlist_radii(ctx.settings))
        if allow.matches(request.signals, request.orientations):
            return CheckResult(check_id, "allow", "no_match"), []
        items = {
            item_id: item
            for item_id, item in items.items()
            if not any(allow.matches_near(t, (v,)) for t, v in held.get(item_id, ()))
        }
    bits = ctx.settings.distinct_upload_bits
    items = {
        item_id: item
        for item_id, item in items.items()
        if not any(_exempts(pdq, sha, request, bits) for pdq, sha in item.exemptions)
    }

    videos = _judge_videos(repo, platform, request, candidates, items)
    items = {
        item_id: item
        for item_id, item in items.items()
        if not _by_frames(candidates[item_id]) or videos[item_id].match
    }

    rows: list[NewMatch] = []
    hidden: list[HiddenHit] = []
    for item_id in sorted(items, key=lambda i: _order(candidates[i])):
        candidate = candidates[item_id]
        decision = _item_decision(items[item_id], platform)
        if decision is None:
            hidden.append(HiddenHit(check_id, actor.key_id, items[item_id].item_ref))
            continue
        if SIGNAL_TYPES[candidate.signal_type].strongest_answer == "review":
            decision = "review"  # found by a signal that may not block alone (keypoints)
        orientation = _orientation_name(candidate)
        # A video's match keeps no distance: one frame's exact distance says nothing of the
        # video, and would tell a platform's pending matches about a banked frame.
        distance = None if item_id in videos else candidate.distance
        rows.append(NewMatch(item_id, decision, candidate.signal_type, distance, orientation))
    if decoy is not None:  # judged like a hit; it was none
        return _allow(ctx, request, check_id), []
    if not rows:
        return CheckResult(check_id, "allow", "no_match"), hidden
    refs = repo.add_matches(
        check_id=check_id,
        platform_id=platform.id,
        rows=rows,
        upload_pdq=request.value(UPLOAD_NEAR.name),
        upload_sha256=request.value(UPLOAD_EXACT.name),
    )
    policy = platform.policy
    revealed = (
        revealed_distances(
            repo,
            request,
            [_near(candidates[row.item_id]) for row in rows if row.item_id not in videos],
        )
        if policy.reveal_distance
        else {}
    )
    matched = tuple(
        CheckMatch(
            match_ref=ref,
            item_ref=items[row.item_id].item_ref,
            decision=row.decision,
            signal_type=candidates[row.item_id].signal_type,
            distance=revealed.get(row.item_id),
            orientation=row.orientation if policy.reveal_orientation else None,
            video=videos.get(row.item_id) if policy.reveal_distance else None,
        )
        for ref, row in zip(refs, rows, strict=True)
    )
    overall: CheckDecision = "block" if any(m.decision == "block" for m in matched) else "review"
    return CheckResult(check_id, overall, "match", matched), hidden


def _decoy_type(request: CheckRequest) -> type[DistanceSignalType]:
    """The type a miss's decoy is judged by: a video check's decoy is a video (its frames read
    and the video rule run, as for a hit), an image's an image."""
    frame_kind = frame_type()
    if request.frames is not None and frame_kind is not None:
        return frame_kind
    return UPLOAD_NEAR


def _by_frames(candidate: _Candidate) -> bool:
    """Whether a candidate was found by video frames (the video rule judges it)."""
    return SIGNAL_TYPES[candidate.signal_type].many_per_item


def _judge_videos(
    repo: Repository,
    platform: Platform,
    request: CheckRequest,
    candidates: dict[int, _Candidate],
    items: dict[int, CheckCandidate],
) -> dict[int, VideoMatch]:
    """The video rule for each live candidate found by frames, against all its banked frames
    (one statement: their frames)."""
    found = [i for i in items if _by_frames(candidates[i])]
    if not found or request.frames is None:
        return {}
    kind = SIGNAL_TYPES[candidates[found[0]].signal_type]
    banked = repo.read_item_frames(found, kind.name)
    return {
        item_id: judge(request.frames, banked_video(banked.get(item_id, [])), platform.policy)
        for item_id in found
    }


def _near(candidate: _Candidate) -> NearMatch:
    return NearMatch(
        candidate.item_id, candidate.signal_type, candidate.distance, candidate.orientation
    )


def _orientation_name(candidate: _Candidate) -> str | None:
    """The name of the upload's orientation that matched (for a type that has them)."""
    names = SIGNAL_TYPES[candidate.signal_type].orientations
    if candidate.orientation is None or not names:
        return None
    return names[candidate.orientation] if candidate.orientation < len(names) else names[0]


def _order(candidate: _Candidate) -> tuple[int, int]:
    return (candidate.distance if candidate.distance is not None else -1, candidate.item_id)


def _item_decision(item: CheckCandidate, platform: Platform) -> Decision | None:
    """What one live item answers on this platform (None: nothing, i.e. allow)."""
    if item.state == "quarantined":
        return "review"
    if item.trust in ("vouched", "confirmed") or item.confirmed_here:
        return "block"
    return "review" if platform.policy.unvouched_answer == "review" else None


def _exempts(
    upload_near: str | None, upload_exact: str | None, request: CheckRequest, bits: int
) -> bool:
    """Whether an exemption covers this upload: an equal exact value, or a near one within
    ``bits`` (the exemption keeps what a match row keeps of its upload)."""
    exact = request.value(UPLOAD_EXACT.name)
    if upload_exact is not None and exact is not None and upload_exact == exact:
        return True
    if upload_near is None:
        return False
    return any(
        UPLOAD_NEAR.distance(v, upload_near) <= bits for v in request.variants(UPLOAD_NEAR.name)
    )
