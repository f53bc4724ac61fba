"""Matches (the non-allow answers of checks), reviewers' verdicts on them, and the exemptions
that ``not_ncii`` verdicts leave."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, exists, func, select

from hashwall.domain import (
    DECISIONS,
    LIVE_ITEM_STATES,
    VERDICTS,
    Decision,
    Exemption,
    Item,
    MatchRecord,
    Verdict,
    VerdictKind,
    require_choice,
)
from hashwall.errors import InvalidInput
from hashwall.store.ids import new_match_ref
from hashwall.store.repositories.base import RepositoryBase, from_mapping
from hashwall.store.tables import exemptions, items, matches, verdicts


class MatchRepository(RepositoryBase):
    """Reads and writes of matches, verdicts and exemptions."""

    def count_matches(
        self, item_ids: Collection[int], *, decision: Decision | None = None
    ) -> dict[int, int]:
        """How many match rows each of ``item_ids`` has, of one ``decision`` if given (items
        without any are left out)."""
        if not item_ids:
            return {}
        stmt = (
            select(matches.c.item_id, func.count())
            .where(matches.c.item_id.in_(set(item_ids)))
            .group_by(matches.c.item_id)
        )
        if decision is not None:
            stmt = stmt.where(matches.c.decision == decision)
        return {item_id: int(count) for item_id, count in self.conn.execute(stmt)}

    def standing_match_refs(self, match_refs: Collection[str]) -> set[str]:
        """Those of ``match_refs`` whose item is still in the bank (active or quarantined)."""
        if not match_refs:
            return set()
        rows = self.conn.execute(
            select(matches.c.match_ref)
            .join(items, items.c.id == matches.c.item_id)
            .where(matches.c.match_ref.in_(set(match_refs)), items.c.state.in_(LIVE_ITEM_STATES))
        )
        return {ref for (ref,) in rows}

    def add_match(
        self,
        *,
        check_id: str,
        platform_id: int,
        item_id: int,
        decision: Decision,
        signal_type: str | None = None,
        distance: int | None = None,
        orientation: str | None = None,
        upload_pdq: str | None = None,
        upload_sha256: str | None = None,
    ) -> MatchRecord:
        """Record one non-allow answer, with a fresh random match ref."""
        require_choice("decision", decision, DECISIONS)
        return self._insert(
            matches,
            MatchRecord,
            match_ref=new_match_ref(),
            check_id=check_id,
            platform_id=platform_id,
            item_id=item_id,
            signal_type=signal_type,
            distance=distance,
            orientation=orientation,
            decision=decision,
            upload_pdq=upload_pdq,
            upload_sha256=upload_sha256,
            created_at=self.clock(),
        )

    def get_match(self, match_ref: str) -> MatchRecord | None:
        """The match with public ref ``match_ref``."""
        return self._one(MatchRecord, select(matches).where(matches.c.match_ref == match_ref))

    def list_matches(
        self,
        *,
        platform_id: int | None = None,
        item_id: int | None = None,
        check_id: str | None = None,
        limit: int = 100,
    ) -> list[MatchRecord]:
        """Matches filtered by platform, item and/or check, oldest first."""
        stmt = select(matches).order_by(matches.c.id).limit(limit)
        if platform_id is not None:
            stmt = stmt.where(matches.c.platform_id == platform_id)
        if item_id is not None:
            stmt = stmt.where(matches.c.item_id == item_id)
        if check_id is not None:
            stmt = stmt.where(matches.c.check_id == check_id)
        return self._all(MatchRecord, stmt)

    def list_pending_matches(
        self, platform_id: int, *, limit: int = 100, after_id: int = 0
    ) -> list[tuple[MatchRecord, Item]]:
        """A platform's matches awaiting its verdict, with their items, oldest first.

        Pending: no verdict of this platform on the match yet, and the item still in the bank
        (a verdict on a withdrawn or deleted item is not recorded). Paged by ``after_id``.
        """
        judged = exists().where(
            verdicts.c.match_id == matches.c.id, verdicts.c.platform_id == platform_id
        )
        stmt = (
            select(matches, items)
            .join(items, items.c.id == matches.c.item_id)
            .where(
                matches.c.platform_id == platform_id,
                matches.c.id > after_id,
                items.c.state.in_(LIVE_ITEM_STATES),
                ~judged,
            )
            .order_by(matches.c.id)
            .limit(limit)
        )
        match_columns = [c.name for c in matches.c]
        item_columns = [c.name for c in items.c]
        out = []
        for row in self.conn.execute(stmt):
            values = tuple(row)
            match_row = dict(zip(match_columns, values[: len(match_columns)], strict=True))
            item_row = dict(zip(item_columns, values[len(match_columns) :], strict=True))
            out.append((from_mapping(MatchRecord, match_row), from_mapping(Item, item_row)))
        return out

    def count_verdicts(self, item_ids: Collection[int]) -> dict[int, dict[str, int]]:
        """Each item's verdicts counted by kind (items without any are left out)."""
        if not item_ids:
            return {}
        rows = self.conn.execute(
            select(verdicts.c.item_id, verdicts.c.verdict, func.count())
            .where(verdicts.c.item_id.in_(set(item_ids)))
            .group_by(verdicts.c.item_id, verdicts.c.verdict)
        )
        out: dict[int, dict[str, int]] = {}
        for item_id, verdict, count in rows:
            out.setdefault(item_id, {})[verdict] = count
        return out

    def delete_matches_before(self, platform_id: int, cutoff: datetime) -> int:
        """Retention: delete a platform's matches created before ``cutoff``; return the count."""
        return self.conn.execute(
            delete(matches).where(
                matches.c.platform_id == platform_id, matches.c.created_at < cutoff
            )
        ).rowcount

    def add_verdict(
        self,
        *,
        item_id: int,
        platform_id: int,
        organisation_id: int,
        verdict: VerdictKind,
        match_id: int | None = None,
        upload_pdq: str | None = None,
        upload_sha256: str | None = None,
    ) -> Verdict:
        """Record a reviewer's verdict on an item (from a match, whose upload PDQ it keeps)."""
        require_choice("verdict", verdict, VERDICTS)
        return self._insert(
            verdicts,
            Verdict,
            match_id=match_id,
            item_id=item_id,
            platform_id=platform_id,
            organisation_id=organisation_id,
            verdict=verdict,
            upload_pdq=upload_pdq,
            upload_sha256=upload_sha256,
            created_at=self.clock(),
        )

    def list_verdicts(self, item_id: int, *, verdict: VerdictKind | None = None) -> list[Verdict]:
        """An item's verdicts (of one kind if given), oldest first."""
        stmt = select(verdicts).where(verdicts.c.item_id == item_id).order_by(verdicts.c.id)
        if verdict is not None:
            stmt = stmt.where(verdicts.c.verdict == verdict)
        return self._all(Verdict, stmt)

    def add_exemption(
        self,
        *,
        platform_id: int,
        item_id: int,
        upload_pdq: str | None = None,
        upload_sha256: str | None = None,
        verdict_id: int | None = None,
    ) -> Exemption:
        """Exempt an upload (PDQ and/or sha256; at least one) from an item on a platform."""
        if upload_pdq is None and upload_sha256 is None:
            raise InvalidInput("an exemption names the upload's PDQ or sha256")
        return self._insert(
            exemptions,
            Exemption,
            platform_id=platform_id,
            item_id=item_id,
            verdict_id=verdict_id,
            upload_pdq=upload_pdq,
            upload_sha256=upload_sha256,
            created_at=self.clock(),
        )

    def list_exemptions(self, platform_id: int, item_ids: Collection[int]) -> list[Exemption]:
        """A platform's exemptions for the given items (a check's candidates)."""
        if not item_ids:
            return []
        return self._all(
            Exemption,
            select(exemptions)
            .where(exemptions.c.platform_id == platform_id, exemptions.c.item_id.in_(set(item_ids)))
            .order_by(exemptions.c.id),
        )
