"""Matching uploads locally against a copy of the bank kept by ``hashwall feed sync``.

A platform that cannot send every upload over the network syncs the feed into
``<dir>/bank.json`` and matches here, with the service's index and the service's rules for
what the feed carries:

1. Candidates: items with an equal md5 or sha256, or a PDQ within the platform's threshold
   (from the copy's ``policy``) in any of the upload's 8 orientations. A PDQ of quality below
   50 never matches (an upload with nothing else is ``allow``, reason ``low_quality``).
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
from hashwall.hashing.pdq import MIN_QUALITY, ORIENTATIONS
from hashwall.index.mih import MihIndex
from hashwall.service.check import EXACT_TYPES, CheckRequest
from hashwall.service.live import hex_codes, search_orientations

#: The ``format`` of the files ``hashwall feed sync`` writes.
BANK_FORMAT: Final = "hashwall-feed-mirror/1"
DEFAULT_THRESHOLD: Final = 31

LocalDecision = Literal["allow", "review", "block"]


@dataclass(frozen=True, slots=True)
class LocalMatch:
    """One banked item behind a local answer (distance and orientation for a PDQ match)."""

    item_ref: str
    decision: Literal["review", "block"]
    signal_type: str
    distance: int | None = None
    orientation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``distance``/``orientation`` only for a PDQ match)."""
        body: dict[str, Any] = {
            "item_ref": self.item_ref,
            "decision": self.decision,
            "signal_type": self.signal_type,
        }
        if self.distance is not None:
            body["distance"] = self.distance
            body["orientation"] = self.orientation
        return body


@dataclass(frozen=True, slots=True)
class LocalAnswer:
    """What the service would answer, for what the feed carries."""

    decision: LocalDecision
    reason: Literal["match", "no_match", "low_quality"]
    matches: tuple[LocalMatch, ...] = ()


class LocalBank:
    """The live items of a feed copy, indexed: PDQ in the service's index, digests in dicts."""

    def __init__(self, items: Mapping[str, Mapping[str, Any]], policy: Mapping[str, Any]) -> None:
        self.threshold = int(policy.get("pdq_threshold", DEFAULT_THRESHOLD))
        self.unvouched_answer = str(policy.get("unvouched_answer", "review"))
        self.items: dict[str, tuple[str, str]] = {}  # ref -> (state, trust)
        self._digests: dict[tuple[str, str], list[str]] = {}
        pdq_refs: list[str] = []
        pdq_values: list[str] = []
        for ref, item in items.items():
            if item.get("state") not in ("active", "quarantined"):
                continue
            self.items[ref] = (str(item["state"]), str(item["trust"]))
            for signal in item.get("signals") or ():
                kind, value = signal.get("type"), signal.get("value")
                if not isinstance(value, str):
                    continue
                if kind in EXACT_TYPES:
                    self._digests.setdefault((kind, value.lower()), []).append(ref)
                elif kind == "pdq" and (signal.get("quality") or 0) >= MIN_QUALITY:
                    pdq_refs.append(ref)
                    pdq_values.append(value.lower())
        # One index row per PDQ signal (an item may hold several); rows map back to items.
        self._pdq_rows = pdq_refs
        self._pdq = MihIndex.from_arrays(
            np.arange(len(pdq_values), dtype=np.int64), hex_codes(pdq_values)
        )

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
        for signal in request.signals:
            if signal.type in EXACT_TYPES:
                for ref in self._digests.get((signal.type, signal.value.lower()), ()):
                    found.setdefault(ref, LocalMatch(ref, "review", signal.type))
        pdq = request.pdq
        usable = pdq is not None and (pdq.quality or 0) >= MIN_QUALITY
        if usable and len(self._pdq_rows):
            for hit in search_orientations(self._pdq, request.pdq_hashes(), self.threshold):
                ref = self._pdq_rows[hit.id]
                best = found.get(ref)
                if best is None or (best.distance is not None and hit.distance < best.distance):
                    orientation = _orientation(hit.orientation, len(request.pdq_hashes()))
                    found[ref] = LocalMatch(ref, "review", "pdq", hit.distance, orientation)
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
        low = pdq is not None and not usable
        return LocalAnswer("allow", "low_quality" if low and not found else "no_match")

    def _decision(self, ref: str) -> Literal["review", "block"] | None:
        state, trust = self.items[ref]
        if state == "quarantined":
            return "review"
        if trust in ("vouched", "confirmed"):
            return "block"
        return "review" if self.unvouched_answer == "review" else None


def _orientation(position: int, count: int) -> str:
    return ORIENTATIONS[position].value if count == len(ORIENTATIONS) else ORIENTATIONS[0].value


def _order(match: LocalMatch) -> tuple[int, str]:
    return (match.distance if match.distance is not None else -1, match.item_ref)
