"""Matching uploads locally against a copy of the bank kept by ``hashwall feed sync``.

A platform that cannot send every upload over the network syncs the feed into
``<dir>/bank.json`` and matches here, with the service's index and the service's rules for
what the feed carries:

1. Candidates: items with an equal value of an exact type (md5, sha256), or a value of a
   distance type (PDQ) within the platform's threshold for that type (from the copy's
   ``policy``) in any of the upload's orientations. A value below its type's quality floor
   (a PDQ below 50) never matches (an upload with nothing else is ``allow``, reason
   ``low_quality``).
   A video upload (:meth:`CheckRequest.from_video`): the items holding a ``vpdq_frame`` row
   within the policy's radius of any upload frame, as it is or mirrored, each judged by the
   service's video rule (:func:`hashwall.service.video.judge`, with the policy's
   ``video_upload_percent`` and ``video_bank_percent``) against all its frames in the copy,
   and dropped unless it matches (an equal digest of the file stays an exact candidate). A
   video match carries the rule's shares and ranges (:attr:`LocalMatch.video`), no distance.
   Then the upload's keypoints (a geometric type's set, ``hash_image(..., keypoints="upload")``):
   the items whose set one placement verifies with the inliers the copy's size needs
   (:meth:`~hashwall.hashing.signals.GeometricSignalType.required_inliers` of the sets held,
   as the service's index asks of its own), searched by the service's keypoint index
   (:class:`~hashwall.service.keypoints.KeypointHolder`); such an item is a candidate unless
   another signal found it already (no distance).
2. Each candidate answers: ``review`` if quarantined; ``block`` if vouched or confirmed;
   if unvouched, ``review`` (or nothing when the policy's ``unvouched_answer`` is ``allow``).
3. ``block`` if any candidate blocks, else ``review`` if any reviews, else ``allow``.

What the feed does not carry is not applied here: the allowlist, this platform's not-NCII
exemptions and a confirmation by this platform's own organisation (the service applies them).
Nothing is written and no match ref is made: a local answer cannot take a verdict.

Usage::

    bank = LocalBank.load(Path("var/feed"))
    upload = hash_file("upload.jpg", orientations=True, keypoints="upload")
    answer = bank.match(CheckRequest.from_image(upload))
    answer.decision, answer.reason, answer.matches
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np

from hashwall.domain import PlatformPolicy
from hashwall.errors import InvalidInput
from hashwall.hashing.keypoints import RECORD_BYTES, record_arrays
from hashwall.hashing.signals import (
    SIGNAL_TYPES,
    DistanceSignalType,
    GeometricSignalType,
    SignalType,
    distance_types,
)
from hashwall.hashing.video_match import VideoMatch
from hashwall.index.mih import MihIndex
from hashwall.service.feed_copy import META_FILE, FeedCopy
from hashwall.service.feed_copy_view import JSON_FORMAT, CopyView, Packed, codes_to_text
from hashwall.service.keypoints import KeypointHolder, KeypointSets
from hashwall.service.search import search_orientations
from hashwall.service.upload import CheckRequest
from hashwall.service.video import UploadFrames, banked_video, frame_type, judge

#: The ``format`` of a copy in the JSON form (``hashwall feed export``, ``bank.json``).
BANK_FORMAT: Final = JSON_FORMAT

LocalDecision = Literal["allow", "review", "block"]


@dataclass(frozen=True, slots=True)
class LocalMatch:
    """One banked item behind a local answer (distance and orientation for a near match; for a
    video matched by its frames, the video rule's shares and ranges in place of a distance)."""

    item_ref: str
    decision: Literal["review", "block"]
    signal_type: str
    distance: int | None = None
    orientation: str | None = None
    video: VideoMatch | None = None


@dataclass(frozen=True, slots=True)
class LocalAnswer:
    """What the service would answer, for what the feed carries."""

    decision: LocalDecision
    reason: Literal["match", "no_match", "low_quality"]
    matches: tuple[LocalMatch, ...] = ()


class LocalBank:
    """The live items of a feed copy, indexed: values of distance types in the service's
    index (one per type, over the copy's code arrays as they are), keypoint sets of geometric
    types in the service's keypoint index (one per type), values of exact types in dicts."""

    def __init__(self, items: Mapping[str, Mapping[str, Any]], policy: Mapping[str, Any]) -> None:
        self._build(CopyView.from_items(items, policy))

    @classmethod
    def from_view(cls, view: CopyView) -> LocalBank:
        """From a copy's live set (:meth:`hashwall.service.feed_copy.FeedCopy.view`)."""
        bank = cls.__new__(cls)
        bank._build(view)
        return bank

    def _build(self, view: CopyView) -> None:
        policy = view.policy
        self.thresholds = {kind.name: _threshold(policy, kind) for kind in distance_types()}
        self.unvouched_answer = str(policy.get("unvouched_answer", "review"))
        # What the video rule reads of the policy (its radius for frames and the two shares).
        shares = {name: policy[name] for name in ("video_upload_percent", "video_bank_percent")
                  if isinstance(policy.get(name), int)}  # fmt: skip
        self.video_policy = PlatformPolicy(thresholds=self.thresholds, **shares)
        self._view = view
        # Per part: its frame rows in item order (a permutation, None when they are already).
        self._frame_order: dict[int, np.ndarray | None] = {}
        self._count = len(view)
        # A hit's id is its signal row plus the rows of the parts before it.
        self._digests: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self._near: dict[str, tuple[list[tuple[int, np.ndarray]], MihIndex]] = {}
        near: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        owners_of: dict[str, list[tuple[int, np.ndarray]]] = {}
        # A geometric type's index holds an item as its part's first item number plus its row.
        self._first_item = np.cumsum([0] + [int(p.refs.size) for p in view.parts], dtype=np.int64)
        sets: dict[str, list[KeypointSets]] = {}
        for number, part in enumerate(view.parts):
            for name, (held, values, quality, *_) in part.signals.items():
                kind = SIGNAL_TYPES.get(name)
                if kind is None or held.size == 0:
                    continue
                owners = np.asarray(held)
                alive = part.live[owners]
                if issubclass(kind, GeometricSignalType):
                    if isinstance(values, Packed):
                        first = int(self._first_item[number])
                        sets.setdefault(name, []).append(_sets(values, owners, alive, first))
                    continue
                if isinstance(values, Packed):  # a packed value of a type that is not geometric
                    continue
                if kind.comparison == "exact":
                    for j in np.flatnonzero(alive).tolist():
                        value = values[j].decode().lower()
                        self._digests.setdefault((name, value), []).append((number, int(owners[j])))
                    continue
                floor = kind.min_quality
                keep = np.flatnonzero(alive if floor is None else alive & (quality >= floor))
                first = sum(int(o.size) for _, o in owners_of.get(name, []))
                ids, codes = near.setdefault(name, ([], []))
                ids.append(keep.astype(np.int64) + first)
                codes.append(values if keep.size == owners.size else values[keep])
                owners_of.setdefault(name, []).append((number, owners))
        for kind in distance_types():
            ids, codes = near.get(kind.name, ([], []))
            all_ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
            all_codes = (
                codes[0] if len(codes) == 1 else np.concatenate(codes) if codes
                else np.zeros((0, 32), np.uint8)
            )  # fmt: skip
            index = MihIndex.from_arrays(all_ids, all_codes)
            self._near[kind.name] = (owners_of.get(kind.name, []), index)
        self._geometric: dict[str, KeypointHolder] = {}
        for name, parts in sets.items():
            geometric = SIGNAL_TYPES[name]
            assert issubclass(geometric, GeometricSignalType)
            holder = KeypointHolder(geometric)
            holder.build_from(parts)
            self._geometric[name] = holder

    @classmethod
    def load(cls, path: Path) -> LocalBank:
        """The copy ``hashwall feed sync`` keeps in the folder ``path``, or a copy in the JSON
        form (``hashwall feed export``, or a ``bank.json`` of an older version); otherwise
        ``invalid_input``."""
        path = Path(path)
        if not path.exists() and path.name == "bank.json" and (path.parent / META_FILE).exists():
            path = path.parent  # the old copy's file, converted into its folder by a sync
        if path.is_dir():
            return cls.from_view(FeedCopy.read_view(path)[1])
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot read the bank copy {path}: {exc}") from None
        return cls.from_document(document, str(path))

    @classmethod
    def from_document(cls, document: Any, where: str = "the bank copy") -> LocalBank:
        """From the parsed JSON of a feed copy."""
        if not isinstance(document, dict) or document.get("format") != BANK_FORMAT:
            raise InvalidInput(
                f"{where} is not a bank copy written by `hashwall feed sync` (format {BANK_FORMAT})"
            )
        items = document.get("items")
        if not isinstance(items, dict):
            raise InvalidInput(f"{where} holds no items")
        return cls(items, document.get("policy") or {})

    def _ref(self, part: int, row: int) -> str:
        return bytes(self._view.parts[part].refs[row]).decode()

    def _owner(self, name: str, hit: int) -> tuple[int, int]:
        for part, owners in self._near[name][0]:
            if hit < owners.size:
                return part, int(owners[hit])
            hit -= int(owners.size)
        raise IndexError(hit)

    def __len__(self) -> int:
        return self._count

    def match(self, request: CheckRequest) -> LocalAnswer:
        """Answer one upload as the service would for what the feed carries."""
        found: dict[str, LocalMatch] = {}
        rows: dict[str, tuple[int, int]] = {}
        for signal_type, value in request.exact():
            for part, row in self._digests.get((signal_type, value.lower()), ()):
                ref = self._ref(part, row)
                rows[ref] = (part, row)
                found.setdefault(ref, LocalMatch(ref, "review", signal_type))
        for kind, signal in request.near():
            held = self._near.get(kind.name)
            if held is None or len(held[1]) == 0:
                continue
            own = (request.variants(kind.name),) if kind.usable(signal.quality) else ()
            # The upload's own values, then each place the photo may be inside it (regions).
            for variants in (*own, *request.region_variants(kind.name)):
                codes = [kind.code(v) for v in variants]
                for hit in search_orientations(held[1], codes, self.thresholds[kind.name]):
                    part, row = self._owner(kind.name, hit.id)
                    ref = self._ref(part, row)
                    rows[ref] = (part, row)
                    best = found.get(ref)
                    if best is None or best.distance is None or hit.distance < best.distance:
                        turn = _orientation(kind, hit.orientation, len(variants))
                        found[ref] = LocalMatch(ref, "review", kind.name, hit.distance, turn)
        if request.frames is not None:
            self._add_video_candidates(request.frames, found, rows)
        self._add_geometric_candidates(request, found, rows)
        answered: list[LocalMatch] = []
        for m in sorted(found.values(), key=_order):
            decision = self._decision(*rows[m.item_ref])
            if decision is None:
                continue
            if SIGNAL_TYPES[m.signal_type].strongest_answer == "review":
                decision = "review"  # as the service: keypoints alone never block
            if SIGNAL_TYPES[m.signal_type].many_per_item:  # found by frames: the video rule
                assert request.frames is not None
                video = self._judge(request.frames, *rows[m.item_ref])
                if not video.match:
                    continue
                answered.append(LocalMatch(m.item_ref, decision, m.signal_type, video=video))
            else:
                answered.append(
                    LocalMatch(m.item_ref, decision, m.signal_type, m.distance, m.orientation)
                )
        if answered:
            overall: LocalDecision = (
                "block" if any(m.decision == "block" for m in answered) else "review"
            )
            return LocalAnswer(overall, "match", tuple(answered))
        # A video is low quality when none of its frames is usable (its other signals, such as
        # an animation's first frame, do not count), as the service's check says.
        low = (
            not len(request.frames)
            if request.frames is not None
            else any(not SIGNAL_TYPES[s.type].usable(s.quality) for s in request.signals)
        )
        return LocalAnswer("allow", "low_quality" if low and not found else "no_match")

    def _add_video_candidates(
        self,
        frames: UploadFrames,
        found: dict[str, LocalMatch],
        rows: dict[str, tuple[int, int]],
    ) -> None:
        """Items with a frame within the radius of any upload frame (as it is or mirrored),
        as the service's check finds them; an exact candidate of the same item stays."""
        kind = frame_type()
        held = self._near.get(kind.name) if kind is not None else None
        if kind is None or held is None or len(held[1]) == 0 or not len(frames):
            return
        codes = [kind.code(v) for v in frames.search_values()]
        for hit in search_orientations(held[1], codes, self.thresholds[kind.name]):
            part, row = self._owner(kind.name, hit.id)
            ref = self._ref(part, row)
            if ref not in found:  # found by another signal: its own rule (as the service)
                rows[ref] = (part, row)
                found[ref] = LocalMatch(ref, "review", kind.name, hit.distance)

    def _add_geometric_candidates(
        self,
        request: CheckRequest,
        found: dict[str, LocalMatch],
        rows: dict[str, tuple[int, int]],
    ) -> None:
        """Items whose keypoint set one placement verifies in the upload's, with the inliers
        the copy's size needs (the service's search, ``service/keypoints.py``); an item found
        by another signal keeps it, as in the service's check."""
        for kind, signal in request.geometric():
            holder = self._geometric.get(kind.name)
            if holder is None or holder.size == 0:
                continue
            for hit in holder.search(kind.decode(signal.value)):
                part = int(np.searchsorted(self._first_item, hit.item_id, side="right")) - 1
                row = hit.item_id - int(self._first_item[part])
                ref = self._ref(part, row)
                if ref not in found:
                    rows[ref] = (part, row)
                    found[ref] = LocalMatch(ref, "review", kind.name)

    def _judge(self, upload: UploadFrames, part: int, row: int) -> VideoMatch:
        """The service's video rule for the upload against all the item's frames in the copy."""
        kind = frame_type()
        assert kind is not None
        owners, values, _, number, stamp = self._view.parts[part].signals[kind.name]
        if part not in self._frame_order:
            in_order = bool(np.all(owners[1:] >= owners[:-1])) if owners.size > 1 else True
            self._frame_order[part] = None if in_order else np.argsort(owners, kind="stable")
        order = self._frame_order[part]
        by_item = owners if order is None else owners[order]
        lo, hi = np.searchsorted(by_item, [row, row + 1]).tolist()
        mine = np.arange(lo, hi) if order is None else order[lo:hi]
        mine = mine[np.argsort(np.asarray(number[mine]), kind="stable")]  # in frame order
        assert not isinstance(values, Packed)  # frames are a distance type's codes
        texts = codes_to_text(kind.name, np.asarray(values[mine]))
        stamps = [None if np.isnan(t) else float(t) for t in np.asarray(stamp[mine]).tolist()]
        return judge(upload, banked_video(list(zip(texts, stamps, strict=True))), self.video_policy)

    def _decision(self, part: int, row: int) -> Literal["review", "block"] | None:
        held = self._view.parts[part]
        state = self._view.vocab["state"][held.state[row]]
        trust = self._view.vocab["trust"][held.trust[row]]
        if state == "quarantined":
            return "review"
        if trust in ("vouched", "confirmed"):
            return "block"
        return "review" if self.unvouched_answer == "review" else None


def _sets(values: Packed, owners: np.ndarray, alive: np.ndarray, first: int) -> KeypointSets:
    """The live items' keypoint sets of a part (values that are not whole records, which the
    service never banks, are left out as the service leaves them out), item ``first + row``."""
    lengths = values.lengths
    keep = np.flatnonzero(alive & (lengths > 0) & (lengths % RECORD_BYTES == 0))
    held = values.take(keep)
    codes, geometry = record_arrays(held.data.tobytes())
    return KeypointSets(
        item_ids=owners[keep].astype(np.int64) + first,
        counts=(held.lengths // RECORD_BYTES).astype(np.int64),
        codes=codes,
        geometry=geometry,
    )


def _orientation(kind: type[DistanceSignalType], position: int, count: int) -> str | None:
    names = kind.orientations
    if not names:
        return None
    return names[position] if count == len(names) else names[0]


def _threshold(policy: Mapping[str, Any], kind: type[SignalType]) -> int:
    """The copy's radius for ``kind``: the policy's ``thresholds``, else a copy written before
    them (``<type>_threshold``), else the type's default."""
    held = policy.get("thresholds")
    value = held.get(kind.name) if isinstance(held, Mapping) else None
    if value is None:
        value = policy.get(f"{kind.name}_threshold")
    return int(value) if isinstance(value, int) else kind.default_threshold


def _order(match: LocalMatch) -> tuple[int, str]:
    return (match.distance if match.distance is not None else -1, match.item_ref)
