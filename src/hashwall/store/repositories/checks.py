"""The statements of a check and of intake's duplicate search: few, prebuilt, each one round
trip (they run for every upload; building a select costs more than running it on SQLite)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, exists, insert, literal, select, tuple_, union_all

from hashwall.domain import (
    DECISIONS,
    LIVE_ITEM_STATES,
    Decision,
    Item,
    ItemState,
    Platform,
    Trust,
    require_choice,
)
from hashwall.store.ids import new_match_ref
from hashwall.store.repositories.base import RepositoryBase
from hashwall.store.repositories.keys import api_key_from_row
from hashwall.store.repositories.tenancy import platform_from_row
from hashwall.store.tables import (
    allowlist,
    api_keys,
    exemptions,
    items,
    matches,
    platforms,
    short_value,
    signals,
    verdicts,
)


@dataclass(frozen=True, slots=True)
class CheckCandidate:
    """A check candidate as the store holds it now (only live items are read).

    ``allowlisted``: one of the item's signals equals an allowlist entry of its type.
    ``exemptions``: the (``upload_pdq``, ``upload_sha256``) of this platform's exemptions of the
    item (whether one covers the upload is for the check to decide). ``confirmed_here``: an
    organisation's platform confirmed the item (a ``confirmed`` verdict), the organisation of
    the platform the candidates were read for.
    """

    id: int
    item_ref: str
    trust: Trust
    state: ItemState
    allowlisted: bool
    exemptions: tuple[tuple[str | None, str | None], ...]
    confirmed_here: bool = False


@dataclass(frozen=True, slots=True)
class CheckCandidates:
    """What :meth:`Repository.read_check_candidates` read in its one statement.

    ``items``: the live candidates by row id. ``upload_allowlisted``: one of the upload's exact
    signals is allowlisted. ``near_allowlist``: the allowlist holds entries of one of the
    distance types asked for (then near matches need :meth:`CheckQueries.read_near_allowlist`).
    The last two are False when ``items`` is empty (nothing to drop then).
    """

    items: dict[int, CheckCandidate]
    upload_allowlisted: bool
    near_allowlist: bool


@dataclass(frozen=True, slots=True)
class NewMatch:
    """One row for :meth:`Repository.add_matches`."""

    item_id: int
    decision: Decision
    signal_type: str | None = None
    distance: int | None = None
    orientation: str | None = None


class CheckQueries(RepositoryBase):
    """The reads and the one write of a check, and the search of items by exact signal."""

    def find_items_by_signal(
        self,
        signal_type: str,
        values: Collection[str],
        *,
        states: Collection[ItemState] = ("active", "quarantined"),
    ) -> list[Item]:
        """Items in ``states`` holding a signal of ``signal_type`` equal to one of ``values``."""
        if not values:
            return []
        # An IN over the (type, value) index: one index probe per value. A correlated EXISTS
        # made SQLite walk every live item (about 1 s per check at a million items).
        holders = select(signals.c.item_id).where(
            signals.c.type == signal_type,
            signals.c.value.in_(list(values)),
            short_value(signals.c.value),
        )
        stmt = (
            select(items)
            .where(items.c.id.in_(holders), items.c.state.in_(list(states)))
            .order_by(items.c.id)
        )
        return self._all(Item, stmt)

    def read_check_caller(
        self, key_id: str | None, platform_id: int
    ) -> tuple[bool, Platform | None]:
        """Whether the key ``key_id`` is usable now (exists and is not revoked; True when None)
        and the platform row, in one statement when the platform exists."""
        if key_id is None:
            found = self.conn.execute(
                select(platforms).where(platforms.c.id == platform_id)
            ).one_or_none()
            return True, platform_from_row(found) if found is not None else None
        row = self.conn.execute(
            _CHECK_CALLER, {"key_id": key_id, "platform_id": platform_id}
        ).one_or_none()
        if row is None:  # no such platform (rare): the key is still answered for
            key_row = self.conn.execute(
                select(api_keys).where(api_keys.c.key_id == key_id)
            ).one_or_none()
            return key_row is not None and not api_key_from_row(key_row).revoked, None
        return bool(row.key_usable), platform_from_row(row)

    def read_check_candidates(
        self,
        platform_id: int,
        item_ids: Collection[int],
        upload_exact: Collection[tuple[str, str]] = (),
        *,
        organisation_id: int = 0,
        near_types: Collection[str] = (),
    ) -> CheckCandidates:
        """The live ones of ``item_ids``, each with whether a signal of it is allowlisted
        exactly, this platform's exemptions of it and whether ``organisation_id`` confirmed it,
        plus whether one of ``upload_exact`` (type, value) is allowlisted and whether the
        allowlist holds entries of one of ``near_types`` (the distance types): one statement.
        """
        if not item_ids:
            return CheckCandidates({}, False, False)
        params: dict[str, Any] = {
            "platform_id": platform_id,
            "organisation_id": organisation_id,
            "item_ids": list(set(item_ids)),
            "near_types": list(near_types) or [""],
        }
        if upload_exact:
            stmt = _CHECK_CANDIDATES_UPLOAD
            params["upload_exact"] = list(upload_exact)
        else:
            stmt = _CHECK_CANDIDATES
        # One row per (item, exemption of it on this platform), or one row with no exemption.
        heads: dict[int, tuple[str, Trust, ItemState, bool]] = {}
        held: dict[int, list[tuple[str | None, str | None]]] = {}
        confirmed: dict[int, bool] = {}
        upload, near = False, False
        for row in self.conn.execute(stmt, params):
            (item_id, item_ref, trust, state, allowlisted, here, upload, near, exemption) = row[:9]
            heads.setdefault(item_id, (item_ref, trust, state, bool(allowlisted)))
            confirmed[item_id] = bool(here)
            exempt = held.setdefault(item_id, [])
            if exemption is not None:
                exempt.append((row.upload_pdq, row.upload_sha256))
        found = {
            i: CheckCandidate(i, *head, tuple(held[i]), confirmed[i]) for i, head in heads.items()
        }
        return CheckCandidates(found, bool(upload), bool(near))

    def read_item_values(
        self, item_ids: Collection[int], types: Collection[str]
    ) -> dict[tuple[int, str], str]:
        """The values of ``types`` held by ``item_ids``, by (item id, type), in one statement."""
        rows = self.conn.execute(
            select(signals.c.item_id, signals.c.type, signals.c.value).where(
                signals.c.item_id.in_(set(item_ids)), signals.c.type.in_(set(types))
            )
        )
        return {(item_id, kind): value for item_id, kind, value in rows if value is not None}

    def read_near_allowlist(
        self, item_ids: Collection[int], types: Collection[str]
    ) -> tuple[list[tuple[str, str]], dict[int, list[tuple[str, str]]]]:
        """The allowlist's entries of ``types`` (the distance types) and the values of those
        types held by ``item_ids``, as ``(type, value)``, in one statement."""
        entries: list[tuple[str, str]] = []
        per_item: dict[int, list[tuple[str, str]]] = {}
        params = {"item_ids": list(set(item_ids)), "types": list(types) or [""]}
        for item_id, kind, value in self.conn.execute(_NEAR_ALLOWLIST, params):
            if value is None:
                continue
            if item_id == 0:  # row ids start at 1
                entries.append((kind, value))
            else:
                per_item.setdefault(item_id, []).append((kind, value))
        return entries, per_item

    def add_matches(
        self,
        *,
        check_id: str,
        platform_id: int,
        rows: Sequence[NewMatch],
        upload_pdq: str | None = None,
        upload_sha256: str | None = None,
    ) -> list[str]:
        """Record a check's non-allow answers (one insert for all), each with a fresh random
        match ref and the upload they were made on; return the refs in the order of ``rows``."""
        for new in rows:
            require_choice("decision", new.decision, DECISIONS)
        if not rows:
            return []
        refs = [new_match_ref() for _ in rows]
        now = self.clock()
        self.conn.execute(
            _INSERT_MATCH,
            [
                {
                    "match_ref": ref,
                    "check_id": check_id,
                    "platform_id": platform_id,
                    "item_id": new.item_id,
                    "signal_type": new.signal_type,
                    "distance": new.distance,
                    "orientation": new.orientation,
                    "decision": new.decision,
                    "upload_pdq": upload_pdq,
                    "upload_sha256": upload_sha256,
                    "created_at": now,
                }
                for ref, new in zip(refs, rows, strict=True)
            ],
        )
        return refs


def _check_candidates(upload_exact: bool) -> Any:
    held = signals.alias("held")
    item_allowlisted = exists().where(
        held.c.item_id == items.c.id,
        allowlist.c.type == held.c.type,
        allowlist.c.value == held.c.value,
    )
    upload_allowlisted: Any = literal(False)
    if upload_exact:
        upload_allowlisted = exists().where(
            tuple_(allowlist.c.type, allowlist.c.value).in_(
                bindparam("upload_exact", expanding=True)
            )
        )
    confirmed_here = exists().where(
        verdicts.c.item_id == items.c.id,
        verdicts.c.verdict == "confirmed",
        verdicts.c.organisation_id == bindparam("organisation_id"),
    )
    return (
        select(
            items.c.id,
            items.c.item_ref,
            items.c.trust,
            items.c.state,
            item_allowlisted.label("item_allowlisted"),
            confirmed_here.label("confirmed_here"),
            upload_allowlisted.label("upload_allowlisted"),
            exists()
            .where(allowlist.c.type.in_(bindparam("near_types", expanding=True)))
            .label("near_allowlist"),
            exemptions.c.id.label("exemption_id"),
            exemptions.c.upload_pdq,
            exemptions.c.upload_sha256,
        )
        .select_from(
            items.outerjoin(
                exemptions,
                (exemptions.c.item_id == items.c.id)
                & (exemptions.c.platform_id == bindparam("platform_id")),
            )
        )
        .where(
            items.c.id.in_(bindparam("item_ids", expanding=True)),
            items.c.state.in_(LIVE_ITEM_STATES),
        )
        .order_by(items.c.id, exemptions.c.id)
    )


_CHECK_CALLER = select(
    exists()
    .where(api_keys.c.key_id == bindparam("key_id"), api_keys.c.revoked_at.is_(None))
    .label("key_usable"),
    *platforms.c,
).where(platforms.c.id == bindparam("platform_id"))
_CHECK_CANDIDATES = _check_candidates(upload_exact=False)
_CHECK_CANDIDATES_UPLOAD = _check_candidates(upload_exact=True)
_NEAR_ALLOWLIST = union_all(
    select(literal(0).label("item_id"), allowlist.c.type, allowlist.c.value).where(
        allowlist.c.type.in_(bindparam("types", expanding=True))
    ),
    select(signals.c.item_id, signals.c.type, signals.c.value).where(
        signals.c.item_id.in_(bindparam("item_ids", expanding=True)),
        signals.c.type.in_(bindparam("types", expanding=True)),
    ),
)
_INSERT_MATCH = insert(matches)
