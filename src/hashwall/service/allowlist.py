"""Allowlist lookups shared by intake and check.

The allowlist is small (famous photos, stock images, memes): it is read from the store when
needed and matched by brute force. Exact digests match by equality; a PDQ matches an entry
within ``radius`` bits (the default threshold) in any of the given orientations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hashwall.hashing.pdq import PdqHash
from hashwall.hashing.signals import Signal
from hashwall.store.repo import Repository

PAGE = 1000


@dataclass(frozen=True, slots=True)
class AllowlistMatcher:
    """A snapshot of the allowlist: exact values per type, and the PDQ entries."""

    exact: frozenset[tuple[str, str]]
    pdq: tuple[PdqHash, ...]
    radius: int

    @classmethod
    def load(cls, repo: Repository, radius: int) -> AllowlistMatcher:
        """Read the whole allowlist (paged) from ``repo``."""
        exact: set[tuple[str, str]] = set()
        pdq: list[PdqHash] = []
        after = 0
        while True:
            page = repo.list_allowlist(limit=PAGE, after_id=after)
            for entry in page:
                if entry.type == "pdq":
                    pdq.append(PdqHash.from_hex(entry.value))
                else:
                    exact.add((entry.type, entry.value))
            if len(page) < PAGE:
                break
            after = page[-1].id
        return cls(frozenset(exact), tuple(pdq), radius)

    @property
    def empty(self) -> bool:
        """True when nothing is allowlisted."""
        return not self.exact and not self.pdq

    def matches_pdq(self, hashes: Sequence[PdqHash]) -> bool:
        """Whether any of ``hashes`` (e.g. an upload's 8 orientations) is near an entry."""
        return any(h.distance(entry) <= self.radius for entry in self.pdq for h in hashes)

    def matches(self, signals: Iterable[Signal], pdq_hashes: Sequence[PdqHash] = ()) -> bool:
        """Whether any signal is allowlisted (digests exactly, PDQ by distance).

        ``pdq_hashes`` replaces the ``pdq`` signals' values when given (all orientations).
        """
        hashes = list(pdq_hashes)
        for signal in signals:
            if signal.type == "pdq":
                if not pdq_hashes:
                    hashes.append(PdqHash.from_hex(signal.value))
            elif (signal.type, signal.value) in self.exact:
                return True
        return bool(hashes) and self.matches_pdq(hashes)
