"""Allowlist lookups shared by intake and check.

The allowlist is small (famous photos, stock images, memes): it is read from the store when
needed and matched by brute force. Values of exact types match by equality; values of
distance types match an entry of their type within the type's radius (the deployment's, see
``service/signal_policy.py``), in any of the given orientations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from hashwall.hashing.signals import SIGNAL_TYPES, DistanceSignalType, Signal
from hashwall.store.repo import Repository

PAGE = 1000


@dataclass(frozen=True, slots=True)
class AllowlistMatcher:
    """A snapshot of the allowlist: exact ``(type, value)`` pairs, and the entries of each
    distance type with that type's radius."""

    exact: frozenset[tuple[str, str]]
    near: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    radii: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, repo: Repository, radii: Mapping[str, int]) -> AllowlistMatcher:
        """Read the whole allowlist (paged) from ``repo``."""
        exact: set[tuple[str, str]] = set()
        near: dict[str, list[str]] = {}
        after = 0
        while True:
            page = repo.list_allowlist(limit=PAGE, after_id=after)
            for entry in page:
                if _distance_type(entry.type) is not None:
                    near.setdefault(entry.type, []).append(entry.value)
                else:
                    exact.add((entry.type, entry.value))
            if len(page) < PAGE:
                break
            after = page[-1].id
        return cls(frozenset(exact), {t: tuple(v) for t, v in near.items()}, radii)

    @classmethod
    def of_near(
        cls, entries: Iterable[tuple[str, str]], radii: Mapping[str, int]
    ) -> AllowlistMatcher:
        """A matcher of distance-type entries only (``(type, value)`` pairs)."""
        near: dict[str, list[str]] = {}
        for kind, value in entries:
            near.setdefault(kind, []).append(value)
        return cls(frozenset(), {t: tuple(v) for t, v in near.items()}, radii)

    @property
    def empty(self) -> bool:
        """True when nothing is allowlisted."""
        return not self.exact and not any(self.near.values())

    def matches_near(self, signal_type: str, values: Sequence[str]) -> bool:
        """Whether any of ``values`` (of one distance type, e.g. an upload's orientations)
        is within the type's radius of an entry of that type."""
        kind = _distance_type(signal_type)
        entries = self.near.get(signal_type, ())
        if kind is None or not entries or not values:
            return False
        radius = self.radii.get(signal_type, kind.default_threshold)
        return any(kind.distance(v, entry) <= radius for entry in entries for v in values)

    def matches(
        self, signals: Iterable[Signal], orientations: Mapping[str, Sequence[str]] | None = None
    ) -> bool:
        """Whether any signal is allowlisted (exact types by equality, distance types by
        radius; ``orientations`` replace a type's value when given: all variants)."""
        turned = orientations or {}
        for signal in signals:
            if _distance_type(signal.type) is not None:
                values = turned.get(signal.type) or (signal.value,)
                if self.matches_near(signal.type, values):
                    return True
            elif (signal.type, signal.value) in self.exact:
                return True
        return False


def _distance_type(name: str) -> type[DistanceSignalType] | None:
    kind = SIGNAL_TYPES.get(name)
    return kind if kind is not None and issubclass(kind, DistanceSignalType) else None
