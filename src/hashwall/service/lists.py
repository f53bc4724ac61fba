"""Hash lists in and out: the live bank as a list, and a list banked as an intake partner's.

**Export** (:func:`export_bank`): every signal of every live item (``active`` or
``quarantined``), never those of withdrawn or deleted items (their values are gone from the
store). ``trust`` is the item's (``unvouched``, ``vouched``, ``confirmed``), or ``quarantined``
for a quarantined item. Video frame hashes are not exported (a list line has no frame number),
nor imported (``invalid_hash``).

**Import** (:func:`import_list`): one import run banks its list as **one case** of the named
intake partner (a case per list: the partner withdraws the list as a whole, or item by item).
Lines sharing an ``item_ref`` are one item (its source ref is not kept); a line without one is an
item of its own. Per line, a value is refused with a stable code: ``invalid_hash`` (not a value
of its type), ``low_quality`` (the list gives a quality below the floor), ``allowlisted`` (a
public image known not to be NCII), ``duplicate_signal`` (the item has a value of this type
already), ``negative_opinion`` (an exchange said it is not what the list is for). A value
already live in one of this partner's items is ``already_banked``, not banked again: importing
the same list twice banks nothing new. Items are written in batches (one transaction each, its
``item_added`` events last, the same events intake appends: the live index and the feed take an
imported item as any other); each batch writes an ``audit`` row (``list_imported``, with the
label). A batch costs a handful of statements, not a few per item: one query per signal type
finds which of its values are banked already, and its items, signals and events are multi-row
inserts. After the last batch the store refreshes its statistics of the bank's tables
(PostgreSQL), which an import may have grown many times over.

Trust of an imported item: ``vouched`` (the partner vouches for its list), except where the list
says ``unvouched`` or ``quarantined`` (then ``unvouched``: it answers ``review``; a quarantine is
the operator's decision on this bank, not something a list can carry). ``confirmed`` is earned
from verdicts on this bank, so a list's ``confirmed`` is ``vouched`` here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

from hashwall.domain import Actor, ItemKind, Trust
from hashwall.errors import HashwallError, InvalidHash, NotFound
from hashwall.hashing.signals import SIGNAL_TYPES, Signal
from hashwall.service.allowlist import AllowlistMatcher
from hashwall.service.context import ServiceContext
from hashwall.service.list_formats import LineRefusal, ListLine
from hashwall.service.signal_policy import allowlist_radii, min_quality
from hashwall.store.credentials import new_pin, pin_key
from hashwall.store.events import ITEM_ADDED
from hashwall.store.repo import Repository

#: Items per write transaction.
DEFAULT_BATCH: Final = 1000
#: Signals read per chunk when exporting (also bounds the ids of one ``IN`` query).
EXPORT_CHUNK: Final = 10_000
LIST_IMPORTED: Final = "list_imported"
BANK_EXPORTED: Final = "bank_exported"

_UNVOUCHED_IN_LISTS: Final = frozenset({"unvouched", "quarantined"})


# --- export ------------------------------------------------------------------------------------


def export_bank(ctx: ServiceContext, actor: Actor) -> Iterator[ListLine]:
    """Every signal of the live bank, type by type, as list lines (read in one snapshot)."""
    actor.require("operator", "admin")
    count = 0
    with ctx.store.read() as repo:
        for name in SIGNAL_TYPES:
            for chunk in repo.iter_live_signals(name, chunk_size=EXPORT_CHUNK):
                holders = repo.get_items_by_ids(set(chunk.item_ids))
                for item_id, value, quality, frame in zip(
                    chunk.item_ids, chunk.values, chunk.qualities, chunk.frame_numbers, strict=True
                ):
                    item = holders.get(item_id)
                    if item is None or frame is not None or not item.live:
                        continue
                    count += 1
                    yield ListLine(
                        count,
                        name,
                        value,
                        item.kind,
                        "quarantined" if item.state == "quarantined" else item.trust,
                        item.item_ref,
                        quality,
                    )
    with ctx.store.write() as repo:
        repo.add_audit(BANK_EXPORTED, actor_key_id=actor.key_id, details={"signals": count})


# --- import ------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import run did: counts, the case it banked into, and every refused line."""

    partner: str
    label: str
    lines: int = 0
    items_banked: int = 0
    signals_banked: int = 0
    already_banked: int = 0
    case_number: str | None = None
    refused: list[LineRefusal] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Item:
    kind: ItemKind
    trust: Trust
    lines: tuple[int, ...]
    signals: tuple[Signal, ...]


def import_list(
    ctx: ServiceContext,
    actor: Actor,
    lines: Iterable[ListLine | LineRefusal],
    *,
    partner: str,
    label: str,
    batch: int = DEFAULT_BATCH,
    on_batch: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Bank a list's signals as one case of intake partner ``partner`` (see the module doc).

    ``on_batch``: called with the report so far after each batch is written (progress)."""
    actor.require("operator", "admin")
    report = ImportReport(partner, label)
    with ctx.store.read() as repo:
        found = repo.get_partner(partner)
        if found is None:
            raise NotFound(
                f"no intake partner named {partner!r}: add it with `hashwall partner add`"
            )
        partner_id = found.id
        allow = AllowlistMatcher.load(repo, allowlist_radii(ctx.settings))
    run = _Run(ctx, actor, partner_id, report)
    pending: list[_Item] = []
    for item in _items(ctx, lines, allow, report):
        pending.append(item)
        if len(pending) >= batch:
            run.write(pending)
            pending = []
            if on_batch is not None:
                on_batch(report)
    if pending:
        run.write(pending)
        if on_batch is not None:
            on_batch(report)
    if report.items_banked:
        with ctx.store.write() as repo:
            repo.analyze_bank_tables()
    report.refused.sort(key=lambda r: r.line)
    return report


def _items(
    ctx: ServiceContext,
    lines: Iterable[ListLine | LineRefusal],
    allow: AllowlistMatcher,
    report: ImportReport,
) -> Iterator[_Item]:
    """Validated items: lines without a ref one by one as they come, those with one at the end
    (grouped by ref)."""
    grouped: dict[str, list[ListLine]] = {}
    for line in lines:
        report.lines += 1
        if isinstance(line, LineRefusal):
            report.refused.append(line)
        elif line.item_ref is None:
            item = _validate([line], allow, ctx, report)
            if item is not None:
                yield item
        else:
            grouped.setdefault(line.item_ref, []).append(line)
    for group in grouped.values():
        item = _validate(group, allow, ctx, report)
        if item is not None:
            yield item


def _validate(
    group: Sequence[ListLine], allow: AllowlistMatcher, ctx: ServiceContext, report: ImportReport
) -> _Item | None:
    kept: list[tuple[int, Signal]] = []
    types: set[str] = set()
    for line in group:
        try:
            signal = Signal.parse(
                {"type": line.signal_type, "value": line.value, "quality": line.quality}
            )
        except HashwallError as exc:
            report.refused.append(LineRefusal(line.line, exc.code, exc.message))
            continue
        if SIGNAL_TYPES[signal.type].many_per_item:
            message = f"a {signal.type} value is a video's frame: a list line has no frame number"
            report.refused.append(LineRefusal(line.line, "invalid_hash", message))
            continue
        floor = min_quality(ctx.settings, SIGNAL_TYPES[signal.type])
        if signal.quality is not None and floor is not None and signal.quality < floor:
            message = f"quality {signal.quality} is below {floor}: too featureless to match"
            report.refused.append(LineRefusal(line.line, "low_quality", message))
            continue
        if signal.type in types:
            report.refused.append(
                LineRefusal(line.line, "duplicate_signal", f"the item has a {signal.type} already")
            )
            continue
        types.add(signal.type)
        kept.append((line.line, signal))
    if not kept:
        return None
    signals = tuple(s for _, s in kept)
    if not allow.empty and allow.matches(signals):
        report.refused.extend(
            LineRefusal(n, "allowlisted", "a public image known not to be NCII") for n, _ in kept
        )
        return None
    trust: Trust = "unvouched" if group[0].trust in _UNVOUCHED_IN_LISTS else "vouched"
    return _Item(group[0].kind, trust, tuple(n for n, _ in kept), signals)


@dataclass
class _Run:
    """One import run: where it banks, and what it has banked (or found banked) so far."""

    ctx: ServiceContext
    actor: Actor
    partner_id: int
    report: ImportReport
    case_id: int | None = None
    seen: set[tuple[str, str]] = field(default_factory=set)

    def write(self, batch: list[_Item]) -> None:
        """Bank the items of one batch not banked yet, in one transaction: which values are
        banked already is one query per signal type, the writes are multi-row inserts."""
        with self.ctx.store.write() as repo:
            banked = _banked_by_partner(repo, batch, self.partner_id)
            fresh: list[_Item] = []
            already = 0
            for item in batch:
                keys = {(s.type, s.value) for s in item.signals}
                if keys & banked or keys & self.seen:
                    already += 1
                else:
                    fresh.append(item)
                self.seen.update(keys)
            if fresh:
                self._bank(repo, fresh)
        self.report.already_banked += already
        self.report.items_banked += len(fresh)
        self.report.signals_banked += sum(len(item.signals) for item in fresh)

    def _bank(self, repo: Repository, fresh: list[_Item]) -> None:
        report = self.report
        if self.case_id is None:
            case = repo.create_case(
                pin_hash=_pin_hash(self.ctx), channel="partner", partner_id=self.partner_id
            )
            self.case_id, report.case_number = case.id, case.case_number
        rows = repo.add_items_bulk(self.case_id, [(item.kind, item.trust) for item in fresh])
        repo.add_signals_bulk((row.id, item.signals) for row, item in zip(rows, fresh, strict=True))
        repo.add_audit(
            LIST_IMPORTED,
            actor_key_id=self.actor.key_id,
            target=report.case_number,
            details={"partner": report.partner, "label": report.label, "items": len(fresh)},
        )
        repo.append_events(  # last, as intake appends them: the same item_added events
            [
                (
                    ITEM_ADDED,
                    {
                        "item": row.item_ref,
                        "kind": row.kind,
                        "trust": row.trust,
                        "signals": [s.to_dict() for s in item.signals],
                    },
                    row,
                )
                for row, item in zip(rows, fresh, strict=True)
            ]
        )


def _banked_by_partner(
    repo: Repository, batch: list[_Item], partner_id: int
) -> set[tuple[str, str]]:
    """The (type, value) pairs of ``batch`` already live in items of the partner's cases."""
    by_type: dict[str, set[str]] = {}
    for item in batch:
        for s in item.signals:
            by_type.setdefault(s.type, set()).add(s.value)
    return {
        (kind, value)
        for kind, values in by_type.items()
        for value in repo.live_values_of_partner(kind, values, partner_id)
    }


def _pin_hash(ctx: ServiceContext) -> str:
    """A partner case has a PIN like any other; the partner re-issues one when a person needs
    it (``hashwall`` shows none here: nobody is waiting for it)."""
    key = pin_key(new_pin())
    if key is None:  # pragma: no cover - a fresh PIN always reads as one
        raise InvalidHash("a fresh PIN did not read back")
    return ctx.pins.hash(key)
