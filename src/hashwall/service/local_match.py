"""Matching uploads locally against a copy of the bank kept by ``hashwall feed sync``.

A platform that cannot send every upload over the network syncs the feed into
``<dir>/bank.json`` and matches here, with the service's index and the service's rules for
what the feed carries:

1. Candidates: items with an equal value of an exact type (md5, sha256), or a value of a
   distance type (PDQ) within the platform's threshold for that type (from the copy's
   ``policy``) in any of the upload's orientations. A value below its type's quality floor
   (a PDQ below 50) never matches (an upload with nothing else is ``allow``, reason
   ``low_quality``).
2. Each candidate answers: ``review`` if quarantined; ``block`` if vouched or confirmed;
   if unvouched, ``review`` (or nothing when the policy's ``unvouched_answer`` is ``allow``).
3. ``block`` if any candidate blocks, else ``review`` if any reviews, else ``allow``.

What the feed does not carry is not applied here: the allowlist, this platform's not-NCII
exemptions and a confirmation by this platform's own organisation (the service applies them).
Nothing is written and no match ref is made: a local answer cannot take a verdict.

Usage::

    bank = LocalBank.load(Path("bank/bank.json"))
    answer = bank.match(CheckRequest.from_image(hash_file("upload.jpg", orientations=True)))
    answer.decision, answer.reason, answer.matches
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np

from hashwall.errors import InvalidInput
from hashwall.hashing.signals import SIGNAL_TYPES, DistanceSignalType, SignalType, distance_types
from hashwall.index.mih import MihIndex
from hashwall.service.search import search_orientations
from hashwall.service.upload import CheckRequest

#: The ``format`` of the files ``hashwall feed sync`` writes.
BANK_FORMAT: Final = "hashwall-feed-mirror/1"

LocalDecision = Literal["allow", "review", "block"]


@dataclass(frozen=True, slots=True)
class LocalMatch:
    """One banked item behind a local answer (distance and orientation for a near match)."""

    item_ref: str
    decision: Literal["review", "block"]
    signal_type: str
    distance: int | None = None
    orientation: str | None = None


@dataclass(frozen=True, slots=True)
class LocalAnswer:
    """What the service would answer, for what the feed carries."""

    decision: LocalDecision
    reason: Literal["match", "no_match", "low_quality"]
    matches: tuple[LocalMatch, ...] = ()


class LocalBank:
    """The live items of a feed copy, indexed: values of distance types in the service's
    index (one per type), values of exact types in dicts."""

    def __init__(self, items: Mapping[str, Mapping[str, Any]], policy: Mapping[str, Any]) -> None:
        self.thresholds = {kind.name: _threshold(policy, kind) for kind in distance_types()}
        self.unvouched_answer = str(policy.get("unvouched_answer", "review"))
        self.items: dict[str, tuple[str, str]] = {}  # ref -> (state, trust)
        self._digests: dict[tuple[str, str], list[str]] = {}
        near: dict[str, tuple[list[str], list[str]]] = {}  # type -> (refs, values)
        for ref, item in items.items():
            if item.get("state") not in ("active", "quarantined"):
                continue
            self.items[ref] = (str(item["state"]), str(item["trust"]))
            for signal in item.get("signals") or ():
                name, value = signal.get("type"), signal.get("value")
                kind = SIGNAL_TYPES.get(name) if isinstance(name, str) else None
                if kind is None or not isinstance(value, str):
                    continue
                if kind.comparison == "exact":
                    self._digests.setdefault((kind.name, value.lower()), []).append(ref)
                elif kind.usable(signal.get("quality")):
                    refs, values = near.setdefault(kind.name, ([], []))
                    refs.append(ref)
                    values.append(value.lower())
        # One index row per signal (an item may hold several); rows map back to items.
        self._near: dict[str, tuple[list[str], MihIndex]] = {}
        for kind in distance_types():
            refs, values = near.get(kind.name, ([], []))
            index = MihIndex.from_arrays(np.arange(len(values), dtype=np.int64), kind.codes(values))
            self._near[kind.name] = (refs, index)

    @classmethod
    def load(cls, path: Path) -> LocalBank:
        """The copy ``hashwall feed sync`` saved (``invalid_input`` if it is not one)."""
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
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

    def __len__(self) -> int:
        return len(self.items)

    def match(self, request: CheckRequest) -> LocalAnswer:
        """Answer one upload as the service would for what the feed carries."""
        found: dict[str, LocalMatch] = {}
        for signal_type, value in request.exact():
            for ref in self._digests.get((signal_type, value.lower()), ()):
                found.setdefault(ref, LocalMatch(ref, "review", signal_type))
        for kind, signal in request.near():
            refs, index = self._near.get(kind.name, ([], None))
            if index is None or not refs or not kind.usable(signal.quality):
                continue
            variants = request.variants(kind.name)
            codes = [kind.code(v) for v in variants]
            for hit in search_orientations(index, codes, self.thresholds[kind.name]):
                ref = refs[hit.id]
                best = found.get(ref)
                if best is None or best.distance is None or hit.distance < best.distance:
                    orientation = _orientation(kind, hit.orientation, len(variants))
                    found[ref] = LocalMatch(ref, "review", kind.name, hit.distance, orientation)
        answered = [
            LocalMatch(m.item_ref, decision, m.signal_type, m.distance, m.orientation)
            for m in sorted(found.values(), key=_order)
            if (decision := self._decision(m.item_ref)) is not None
        ]
        if answered:
            overall: LocalDecision = (
                "block" if any(m.decision == "block" for m in answered) else "review"
            )
            return LocalAnswer(overall, "match", tuple(answered))
        low = any(not SIGNAL_TYPES[s.type].usable(s.quality) for s in request.signals)
        return LocalAnswer("allow", "low_quality" if low and not found else "no_match")

    def _decision(self, ref: str) -> Literal["review", "block"] | None:
        state, trust = self.items[ref]
        if state == "quarantined":
            return "review"
        if trust in ("vouched", "confirmed"):
            return "block"
        return "review" if self.unvouched_answer == "review" else None


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
