"""The repository: every read and write the use cases make, over one transaction.

Usage (the service layer)::

    store = Store.from_url(settings.database_url)      # or Store(make_engine(...))
    with store.write() as repo:                         # one transaction: commit or roll back
        case = repo.create_case(pin_hash=hash_pin(pin), channel="anonymous")
        item = repo.add_item(case.id, kind="image", trust="unvouched")
        repo.add_signals(item.id, signals)
        repo.append_event(ITEM_ADDED, {...}, item=item)  # last: it serialises appends
    with store.read() as repo:                          # a consistent read-only snapshot
        repo.get_item("itm_...")

Rules of the API:

- A :class:`Repository` wraps one :class:`~sqlalchemy.Connection` inside one transaction; it never
  commits. :meth:`Store.write` and :meth:`Store.read` open and close the transaction. A
  ``Repository(conn)`` over a connection you manage works the same; on SQLite, mark a writing
  connection with :func:`~hashwall.store.engine.writable` before it begins (``BEGIN IMMEDIATE``).
- Rows come back as frozen dataclasses (:class:`Case`, :class:`Item`, ...). Their ``id`` fields are
  internal row ids: pass them between repository calls, never show them outside the service;
  the public identifiers are ``case_number``, ``item_ref``, ``match_ref``, ``key_id``, and the
  unique names of organisations, platforms and partners.
- ``get_*`` returns ``None`` when nothing matches; ``set_*``/``revoke_*`` raise :class:`NotFound`;
  ``add_*`` with a taken unique name raises :class:`AlreadyExists`; values outside an enumeration
  raise :class:`~hashwall.errors.InvalidInput` before touching the database.
- The repository stores what it is given: business rules (who may vouch, when to quarantine,
  what a check answers) belong to ``hashwall.service``. Signal values are stored as given
  (already canonical, see ``hashwall.hashing.signals``); their ``type`` is a free string.
- Times come from the ``clock`` (UTC, aware); inject one in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, cast

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.engine import URL

from hashwall.errors import AlreadyExists, InvalidInput, NotFound
from hashwall.hashing.signals import Signal
from hashwall.store import events as event_log
from hashwall.store.engine import erase_on_commit, make_engine, read_only, writable
from hashwall.store.events import Event
from hashwall.store.ids import (
    new_case_number,
    new_item_ref,
    new_key_id,
    new_match_ref,
    normalise_case_number,
)
from hashwall.store.tables import (
    CASE_CHANNELS,
    CASE_STATUSES,
    DECISIONS,
    ITEM_KINDS,
    ITEM_STATES,
    ITEM_TRUSTS,
    LIVE_ITEM_STATES,
    MAX_PDQ_THRESHOLD,
    PLATFORM_SCOPES,
    ROLES,
    UNVOUCHED_ANSWERS,
    VERDICTS,
    allowlist,
    api_keys,
    audit,
    cases,
    exemptions,
    items,
    matches,
    organisations,
    partners,
    platforms,
    signals,
    verdicts,
)

Role = Literal["admin", "intake", "platform"]
Scope = Literal["check", "feed", "verdict"]
Channel = Literal["anonymous", "partner"]
CaseStatus = Literal["active", "withdrawn"]
ItemKind = Literal["image", "video"]
Trust = Literal["unvouched", "vouched", "confirmed"]
ItemState = Literal["active", "quarantined", "withdrawn", "deleted"]
Decision = Literal["review", "block"]
UnvouchedAnswer = Literal["review", "allow"]
VerdictKind = Literal["confirmed", "not_ncii", "csam"]

Clock = Callable[[], datetime]

_T = TypeVar("_T")


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the default clock)."""
    return datetime.now(UTC)


# --- errors ----------------------------------------------------------------------------------


# --- values ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Organisation:
    """A company; owns platforms. ``name`` is unique."""

    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PlatformPolicy:
    """How a platform's checks are answered (DESIGN.md, data model). Validated on creation."""

    pdq_threshold: int = MAX_PDQ_THRESHOLD
    reveal_distance: bool = False
    reveal_orientation: bool = False
    unvouched_answer: UnvouchedAnswer = "review"
    video_upload_percent: int = 50
    video_bank_percent: int = 50
    retention_days: int = 90

    def __post_init__(self) -> None:
        if not 0 <= self.pdq_threshold <= MAX_PDQ_THRESHOLD:
            raise InvalidInput(f"pdq_threshold must be from 0 to {MAX_PDQ_THRESHOLD}")
        _check_choice("unvouched_answer", self.unvouched_answer, UNVOUCHED_ANSWERS)
        for name in ("video_upload_percent", "video_bank_percent"):
            if not 1 <= getattr(self, name) <= 100:
                raise InvalidInput(f"{name} must be from 1 to 100")
        if self.retention_days < 0:
            raise InvalidInput("retention_days must be 0 or more")

    def to_dict(self) -> dict[str, Any]:
        """The policy as a JSON object (for ``--json`` output and the API)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


_POLICY_FIELDS = tuple(f.name for f in fields(PlatformPolicy))


@dataclass(frozen=True, slots=True)
class Platform:
    """A product of an organisation that checks uploads. ``name`` is unique."""

    id: int
    organisation_id: int
    name: str
    policy: PlatformPolicy
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Partner:
    """An intake partner (helpline, hotline). ``name`` is unique."""

    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key: public ``key_id``, hashed secret, role, scopes and owner."""

    id: int
    key_id: str
    secret_hash: str
    role: Role
    scopes: tuple[Scope, ...]
    platform_id: int | None
    partner_id: int | None
    label: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        """Whether the key has been revoked (it then authenticates nothing)."""
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class Case:
    """One reporter's case: public ``case_number``, argon2 ``pin_hash``, channel, status."""

    id: int
    case_number: str
    pin_hash: str
    channel: Channel
    partner_id: int | None
    status: CaseStatus
    created_at: datetime
    withdrawn_at: datetime | None
    removed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """One photo or video of a case: public ``item_ref``, kind, trust, state, csam flag."""

    id: int
    item_ref: str
    case_id: int
    kind: ItemKind
    trust: Trust
    state: ItemState
    csam: bool
    created_at: datetime
    state_changed_at: datetime | None

    @property
    def live(self) -> bool:
        """Whether the item is in the bank (``active`` or ``quarantined``) and may match."""
        return self.state in LIVE_ITEM_STATES


@dataclass(frozen=True, slots=True)
class SignalRecord:
    """A signal to store: type, canonical value, quality; frame fields for video frames."""

    type: str
    value: str
    quality: int | None = None
    frame_number: int | None = None
    frame_timestamp: float | None = None

    @classmethod
    def of(cls, signal: Signal | SignalRecord) -> SignalRecord:
        """A record from a validated :class:`~hashwall.hashing.signals.Signal` (or itself)."""
        if isinstance(signal, SignalRecord):
            return signal
        return cls(type=signal.type, value=signal.value, quality=signal.quality)

    def to_dict(self) -> dict[str, Any]:
        """The wire form ``{"type", "value", "quality"}`` (plus frame fields when set)."""
        body: dict[str, Any] = {"type": self.type, "value": self.value, "quality": self.quality}
        if self.frame_number is not None:
            body["frame_number"] = self.frame_number
        if self.frame_timestamp is not None:
            body["frame_timestamp"] = self.frame_timestamp
        return body


@dataclass(frozen=True, slots=True)
class StoredSignal:
    """A signal row of an item."""

    id: int
    item_id: int
    type: str
    value: str
    quality: int | None
    frame_number: int | None
    frame_timestamp: float | None

    def to_record(self) -> SignalRecord:
        """The signal without its row ids."""
        return SignalRecord(
            self.type, self.value, self.quality, self.frame_number, self.frame_timestamp
        )


@dataclass(frozen=True, slots=True)
class SignalChunk:
    """Live signals of one type, column-wise (one list per column, not one object per row)."""

    item_ids: list[int]
    values: list[str]
    qualities: list[int | None]
    frame_numbers: list[int | None]

    def __len__(self) -> int:
        return len(self.item_ids)


@dataclass(frozen=True, slots=True)
class Match:
    """One non-allow answer of a check for one item on one platform."""

    id: int
    match_ref: str
    check_id: str
    platform_id: int
    item_id: int
    signal_type: str | None
    distance: int | None
    orientation: str | None
    decision: Decision
    upload_pdq: str | None
    upload_sha256: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Verdict:
    """A platform reviewer's verdict on an item (``match_id`` None once the match expired)."""

    id: int
    match_id: int | None
    item_id: int
    platform_id: int
    organisation_id: int
    verdict: VerdictKind
    upload_pdq: str | None
    upload_sha256: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Exemption:
    """An upload (by PDQ and/or sha256) that no longer matches an item on a platform."""

    id: int
    platform_id: int
    item_id: int
    verdict_id: int | None
    upload_pdq: str | None
    upload_sha256: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AllowlistEntry:
    """A signal of an image known not to be NCII: refused at intake, never matched."""

    id: int
    type: str
    value: str
    quality: int | None
    note: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited action: who (role, and key id: None without a key), what, on what."""

    id: int
    actor_key_id: str | None
    action: str
    target: str | None
    details: dict[str, Any]
    created_at: datetime
    actor_role: str | None = None


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
    signals is allowlisted. ``pdq_allowlist``: the allowlist holds PDQ entries (then near matches
    need :meth:`Repository.read_pdq_allowlist`). The last two are False when ``items`` is empty
    (nothing to drop then).
    """

    items: dict[int, CheckCandidate]
    upload_allowlisted: bool
    pdq_allowlist: bool


@dataclass(frozen=True, slots=True)
class NewMatch:
    """One row for :meth:`Repository.add_matches`."""

    item_id: int
    decision: Decision
    signal_type: str | None = None
    distance: int | None = None
    orientation: str | None = None


# --- the store and the repository ------------------------------------------------------------


class Store:
    """An engine plus the two kinds of transaction the use cases need."""

    def __init__(self, engine: Engine, *, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    @classmethod
    def from_url(cls, url: str | URL, *, clock: Clock = utc_now) -> Store:
        """A store over :func:`~hashwall.store.engine.make_engine` for ``url``."""
        return cls(make_engine(url), clock=clock)

    @contextmanager
    def write(self) -> Iterator[Repository]:
        """One read-write transaction: committed when the block ends, rolled back on error."""
        with self.engine.connect() as conn:
            writable(conn)
            with conn.begin():
                yield Repository(conn, clock=self.clock)

    @contextmanager
    def read(self) -> Iterator[Repository]:
        """One read-only transaction seeing a consistent snapshot of every table."""
        with self.engine.connect() as conn:
            read_only(conn)
            with conn.begin():
                yield Repository(conn, clock=self.clock)

    def dispose(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()


class Repository:
    """Typed reads and writes over one connection, inside the caller's transaction."""

    def __init__(self, conn: Connection, *, clock: Clock = utc_now) -> None:
        self.conn = conn
        self.clock = clock

    # -- organisations, platforms, partners ----------------------------------------------------

    def add_organisation(self, name: str) -> Organisation:
        """Create an organisation; :class:`AlreadyExists` if the name is taken."""
        self._require_free(organisations, name, "organisation")
        return self._insert(organisations, Organisation, name=name, created_at=self.clock())

    def get_organisation(self, name: str) -> Organisation | None:
        """The organisation named ``name``."""
        return self._one(Organisation, select(organisations).where(organisations.c.name == name))

    def get_organisation_by_id(self, organisation_id: int) -> Organisation | None:
        """The organisation with row id ``organisation_id``."""
        return self._one(
            Organisation, select(organisations).where(organisations.c.id == organisation_id)
        )

    def list_organisations(self) -> list[Organisation]:
        """All organisations, by name."""
        return self._all(Organisation, select(organisations).order_by(organisations.c.name))

    def add_platform(
        self, organisation_id: int, name: str, policy: PlatformPolicy | None = None
    ) -> Platform:
        """Create a platform of an organisation with ``policy`` (defaults if None)."""
        self._require_free(platforms, name, "platform")
        if self.get_organisation_by_id(organisation_id) is None:
            raise NotFound(f"no organisation with id {organisation_id}")
        row = self.conn.execute(
            insert(platforms)
            .values(
                organisation_id=organisation_id,
                name=name,
                created_at=self.clock(),
                **(policy or PlatformPolicy()).to_dict(),
            )
            .returning(*platforms.c)
        ).one()
        return _platform(row)

    def get_platform(self, name: str) -> Platform | None:
        """The platform named ``name``."""
        row = self.conn.execute(select(platforms).where(platforms.c.name == name)).one_or_none()
        return _platform(row) if row is not None else None

    def get_platform_by_id(self, platform_id: int) -> Platform | None:
        """The platform with row id ``platform_id``."""
        row = self.conn.execute(
            select(platforms).where(platforms.c.id == platform_id)
        ).one_or_none()
        return _platform(row) if row is not None else None

    def list_platforms(self, organisation_id: int | None = None) -> list[Platform]:
        """All platforms (of one organisation if given), by name."""
        stmt = select(platforms).order_by(platforms.c.name)
        if organisation_id is not None:
            stmt = stmt.where(platforms.c.organisation_id == organisation_id)
        return [_platform(row) for row in self.conn.execute(stmt)]

    def set_platform_policy(self, platform_id: int, policy: PlatformPolicy) -> Platform:
        """Replace a platform's whole policy; :class:`NotFound` if there is no such platform."""
        row = self.conn.execute(
            update(platforms)
            .where(platforms.c.id == platform_id)
            .values(**policy.to_dict())
            .returning(*platforms.c)
        ).one_or_none()
        if row is None:
            raise NotFound(f"no platform with id {platform_id}")
        return _platform(row)

    def add_partner(self, name: str) -> Partner:
        """Create an intake partner; :class:`AlreadyExists` if the name is taken."""
        self._require_free(partners, name, "partner")
        return self._insert(partners, Partner, name=name, created_at=self.clock())

    def get_partner(self, name: str) -> Partner | None:
        """The partner named ``name``."""
        return self._one(Partner, select(partners).where(partners.c.name == name))

    def get_partner_by_id(self, partner_id: int) -> Partner | None:
        """The partner with row id ``partner_id``."""
        return self._one(Partner, select(partners).where(partners.c.id == partner_id))

    def list_partners(self) -> list[Partner]:
        """All partners, by name."""
        return self._all(Partner, select(partners).order_by(partners.c.name))

    # -- API keys ------------------------------------------------------------------------------

    def add_api_key(
        self,
        *,
        role: Role,
        secret_hash: str,
        scopes: Collection[Scope] = (),
        platform_id: int | None = None,
        partner_id: int | None = None,
        label: str | None = None,
    ) -> ApiKey:
        """Store a key (its ``key_id`` is drawn here) and return it.

        ``secret_hash`` comes from :func:`hashwall.store.credentials.hash_api_secret`. Owners:
        ``admin`` none, ``intake`` a partner, ``platform`` a platform. Only platform keys carry
        scopes (a non-empty subset of ``check``, ``feed``, ``verdict``).
        """
        _check_choice("role", role, ROLES)
        owned_right = {
            "admin": platform_id is None and partner_id is None,
            "intake": partner_id is not None and platform_id is None,
            "platform": platform_id is not None and partner_id is None,
        }[role]
        if not owned_right:
            raise InvalidInput(
                "an admin key has no owner, an intake key belongs to a partner, "
                "a platform key to a platform"
            )
        scope_list = sorted(set(scopes))
        if role == "platform":
            if not scope_list:
                raise InvalidInput("a platform key needs at least one scope")
            for scope in scope_list:
                _check_choice("scope", scope, PLATFORM_SCOPES)
        elif scope_list:
            raise InvalidInput("only platform keys have scopes")
        row = self.conn.execute(
            insert(api_keys)
            .values(
                key_id=new_key_id(),
                secret_hash=secret_hash,
                role=role,
                scopes=scope_list,
                platform_id=platform_id,
                partner_id=partner_id,
                label=label,
                created_at=self.clock(),
            )
            .returning(*api_keys.c)
        ).one()
        return _api_key(row)

    def get_api_key(self, key_id: str) -> ApiKey | None:
        """The key with public id ``key_id`` (revoked or not: check :attr:`ApiKey.revoked`)."""
        row = self.conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).one_or_none()
        return _api_key(row) if row is not None else None

    def list_api_keys(self, *, include_revoked: bool = True) -> list[ApiKey]:
        """All keys, oldest first."""
        stmt = select(api_keys).order_by(api_keys.c.id)
        if not include_revoked:
            stmt = stmt.where(api_keys.c.revoked_at.is_(None))
        return [_api_key(row) for row in self.conn.execute(stmt)]

    def revoke_api_key(self, key_id: str) -> ApiKey:
        """Revoke a key (idempotent: the first revocation time is kept); :class:`NotFound`."""
        self.conn.execute(
            update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=self.clock())
        )
        key = self.get_api_key(key_id)
        if key is None:
            raise NotFound(f"no API key {key_id}")
        return key

    # -- cases and items -----------------------------------------------------------------------

    def create_case(
        self, *, pin_hash: str, channel: Channel, partner_id: int | None = None
    ) -> Case:
        """Open a case with a fresh random case number; ``partner_id`` iff channel is partner."""
        _check_choice("channel", channel, CASE_CHANNELS)
        if (channel == "partner") != (partner_id is not None):
            raise InvalidInput("a partner case names its partner; an anonymous case names none")
        number = new_case_number()
        while self.conn.execute(select(exists().where(cases.c.case_number == number))).scalar():
            number = new_case_number()  # 60 random bits: in practice never loops
        return self._insert(
            cases,
            Case,
            case_number=number,
            pin_hash=pin_hash,
            channel=channel,
            partner_id=partner_id,
            status="active",
            created_at=self.clock(),
        )

    def get_case(self, case_number: str) -> Case | None:
        """The case with this number, as a person typed it (normalised first)."""
        number = normalise_case_number(case_number)
        if number is None:
            return None
        return self._one(Case, select(cases).where(cases.c.case_number == number))

    def get_case_by_id(self, case_id: int) -> Case | None:
        """The case with row id ``case_id``."""
        return self._one(Case, select(cases).where(cases.c.id == case_id))

    def list_cases(
        self, *, partner_id: int | None = None, status: CaseStatus | None = None
    ) -> list[Case]:
        """Cases, oldest first, optionally those one partner filed and/or with one status."""
        stmt = select(cases).order_by(cases.c.id)
        if partner_id is not None:
            stmt = stmt.where(cases.c.partner_id == partner_id)
        if status is not None:
            stmt = stmt.where(cases.c.status == status)
        return self._all(Case, stmt)

    def set_case_pin(self, case_id: int, pin_hash: str) -> Case:
        """Replace a case's PIN hash (a partner re-issued the PIN)."""
        return self._update_one(cases, Case, case_id, pin_hash=pin_hash)

    def remove_case(self, case_id: int) -> Case:
        """Mark a case removed by the operator (closed as ``withdrawn``; ``removed_at`` now)."""
        return self._update_one(cases, Case, case_id, status="withdrawn", removed_at=self.clock())

    def set_case_status(self, case_id: int, status: CaseStatus) -> Case:
        """Set a case's status; ``withdrawn`` also records ``withdrawn_at``."""
        _check_choice("status", status, CASE_STATUSES)
        withdrawn_at = self.clock() if status == "withdrawn" else None
        return self._update_one(cases, Case, case_id, status=status, withdrawn_at=withdrawn_at)

    def add_item(
        self,
        case_id: int,
        *,
        kind: ItemKind,
        trust: Trust,
        state: ItemState = "active",
    ) -> Item:
        """Add an item to a case with a fresh random item ref."""
        _check_choice("kind", kind, ITEM_KINDS)
        _check_choice("trust", trust, ITEM_TRUSTS)
        _check_choice("state", state, ITEM_STATES)
        return self._insert(
            items,
            Item,
            item_ref=new_item_ref(),
            case_id=case_id,
            kind=kind,
            trust=trust,
            state=state,
            csam=False,
            created_at=self.clock(),
        )

    def get_item(self, item_ref: str, *, for_update: bool = False) -> Item | None:
        """The item with public ref ``item_ref``; ``for_update`` locks the row (PostgreSQL)."""
        stmt = select(items).where(items.c.item_ref == item_ref)
        return self._one(Item, stmt.with_for_update() if for_update else stmt)

    def get_item_by_id(self, item_id: int, *, for_update: bool = False) -> Item | None:
        """The item with row id ``item_id``; ``for_update`` locks the row (PostgreSQL)."""
        stmt = select(items).where(items.c.id == item_id)
        return self._one(Item, stmt.with_for_update() if for_update else stmt)

    def get_items_by_ids(self, item_ids: Collection[int]) -> dict[int, Item]:
        """Items by row id, read now (the check re-reads candidates' states before answering)."""
        if not item_ids:
            return {}
        found = self._all(Item, select(items).where(items.c.id.in_(set(item_ids))))
        return {item.id: item for item in found}

    def list_items(self, case_id: int) -> list[Item]:
        """The items of one case, oldest first."""
        return self._all(Item, select(items).where(items.c.case_id == case_id).order_by(items.c.id))

    def list_items_by_state(
        self, state: ItemState, *, limit: int = 100, after_id: int = 0
    ) -> list[Item]:
        """Items in one state (e.g. the quarantine queue), by row id, paged by ``after_id``."""
        _check_choice("state", state, ITEM_STATES)
        return self._all(
            Item,
            select(items)
            .where(items.c.state == state, items.c.id > after_id)
            .order_by(items.c.id)
            .limit(limit),
        )

    def set_item_state(self, item_id: int, state: ItemState) -> Item:
        """Set an item's state and ``state_changed_at`` (signals and events: see below)."""
        _check_choice("state", state, ITEM_STATES)
        return self._update_one(items, Item, item_id, state=state, state_changed_at=self.clock())

    def set_item_trust(self, item_id: int, trust: Trust) -> Item:
        """Set an item's trust (vouched by a partner, confirmed by a verdict)."""
        _check_choice("trust", trust, ITEM_TRUSTS)
        return self._update_one(items, Item, item_id, trust=trust)

    def set_item_csam(self, item_id: int, csam: bool = True) -> Item:
        """Flag (or unflag) an item for the operator's legal duties."""
        return self._update_one(items, Item, item_id, csam=csam)

    def list_flagged_items(self, *, limit: int = 100, after_id: int = 0) -> list[Item]:
        """Items flagged ``csam`` (the operator's queue), by row id, paged by ``after_id``."""
        return self._all(
            Item,
            select(items)
            .where(items.c.csam.is_(True), items.c.id > after_id)
            .order_by(items.c.id)
            .limit(limit),
        )

    # -- signals -------------------------------------------------------------------------------

    def add_signals(
        self, item_id: int, signal_list: Iterable[Signal | SignalRecord]
    ) -> list[StoredSignal]:
        """Store an item's signals (any type: the type is a free string)."""
        records = [SignalRecord.of(s) for s in signal_list]
        if not records:
            return []
        rows = self.conn.execute(
            insert(signals).returning(*signals.c, sort_by_parameter_order=True),
            [{"item_id": item_id, **_record_columns(r)} for r in records],
        )
        return [_build(StoredSignal, row) for row in rows]

    def list_signals(self, item_id: int) -> list[StoredSignal]:
        """An item's signals, in insertion order."""
        return self._all(
            StoredSignal,
            select(signals).where(signals.c.item_id == item_id).order_by(signals.c.id),
        )

    def delete_item_signals(self, item_id: int) -> int:
        """Delete an item's signal rows (withdrawal, deletion); return how many were deleted."""
        return self.conn.execute(delete(signals).where(signals.c.item_id == item_id)).rowcount

    def erase_item_hashes(self, item_id: int) -> None:
        """Everything hash-like kept for an item (withdrawal, deletion): its signal rows, the
        exemptions on it, and the upload hashes of the matches and verdicts on it (near copies
        of it)."""
        erase_on_commit(self.conn)  # no copy left in the files of the store either
        self.delete_item_signals(item_id)
        self.conn.execute(delete(exemptions).where(exemptions.c.item_id == item_id))
        for table in (matches, verdicts):
            self.conn.execute(
                update(table)
                .where(table.c.item_id == item_id)
                .values(upload_pdq=None, upload_sha256=None)
            )

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
            signals.c.type == signal_type, signals.c.value.in_(list(values))
        )
        stmt = (
            select(items)
            .where(items.c.id.in_(holders), items.c.state.in_(list(states)))
            .order_by(items.c.id)
        )
        return self._all(Item, stmt)

    def iter_live_signals(
        self, signal_type: str, *, chunk_size: int = 50_000
    ) -> Iterator[SignalChunk]:
        """Stream the live bank's signals of one type in column-wise chunks (index building).

        Read it inside :meth:`Store.read` together with :meth:`last_event_seq`: the snapshot
        and the cursor then agree, and the index follows events after that cursor.
        """
        stmt = (
            select(signals.c.item_id, signals.c.value, signals.c.quality, signals.c.frame_number)
            .join(items, items.c.id == signals.c.item_id)
            .where(signals.c.type == signal_type, items.c.state.in_(LIVE_ITEM_STATES))
            .order_by(signals.c.id)
        )
        result = self.conn.execute(
            stmt, execution_options={"yield_per": chunk_size, "stream_results": True}
        )
        for part in result.partitions():
            item_ids, values, qualities, frames = (list(col) for col in zip(*part, strict=True))
            yield SignalChunk(item_ids, values, qualities, frames)

    # -- the check's write transaction (few statements: it runs for every non-allow answer) ------

    def read_check_caller(
        self, key_id: str | None, platform_id: int
    ) -> tuple[bool, Platform | None]:
        """Whether the key ``key_id`` is usable now (exists and is not revoked; True when None)
        and the platform row, in one statement when the platform exists."""
        if key_id is None:
            return True, self.get_platform_by_id(platform_id)
        row = self.conn.execute(
            _CHECK_CALLER, {"key_id": key_id, "platform_id": platform_id}
        ).one_or_none()
        if row is None:  # no such platform (rare): the key is still answered for
            key = self.get_api_key(key_id)
            return key is not None and not key.revoked, None
        return bool(row.key_usable), _platform(row)

    def read_check_candidates(
        self,
        platform_id: int,
        item_ids: Collection[int],
        upload_exact: Collection[tuple[str, str]] = (),
        *,
        organisation_id: int = 0,
    ) -> CheckCandidates:
        """The live ones of ``item_ids``, each with whether a signal of it is allowlisted
        exactly, this platform's exemptions of it and whether ``organisation_id`` confirmed it,
        plus whether one of ``upload_exact`` (type, value) is allowlisted and whether the
        allowlist holds PDQ entries: one statement.
        """
        if not item_ids:
            return CheckCandidates({}, False, False)
        params: dict[str, Any] = {
            "platform_id": platform_id,
            "organisation_id": organisation_id,
            "item_ids": list(set(item_ids)),
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
        upload, pdq = False, False
        for row in self.conn.execute(stmt, params):
            (item_id, item_ref, trust, state, allowlisted, here, upload, pdq, exemption) = row[:9]
            heads.setdefault(item_id, (item_ref, trust, state, bool(allowlisted)))
            confirmed[item_id] = bool(here)
            exempt = held.setdefault(item_id, [])
            if exemption is not None:
                exempt.append((row.upload_pdq, row.upload_sha256))
        found = {
            i: CheckCandidate(i, *head, tuple(held[i]), confirmed[i]) for i, head in heads.items()
        }
        return CheckCandidates(found, bool(upload), bool(pdq))

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

    def read_item_pdq(self, item_ids: Collection[int]) -> dict[int, str]:
        """The PDQ values of ``item_ids`` (those that have one), in one statement."""
        rows = self.conn.execute(
            select(signals.c.item_id, signals.c.value).where(
                signals.c.item_id.in_(set(item_ids)), signals.c.type == "pdq"
            )
        )
        return {item_id: value for item_id, value in rows}

    def read_pdq_allowlist(
        self, item_ids: Collection[int]
    ) -> tuple[list[str], dict[int, list[str]]]:
        """The allowlist's PDQ values and the PDQ values of ``item_ids``, in one statement."""
        values: list[str] = []
        per_item: dict[int, list[str]] = {}
        for item_id, value in self.conn.execute(_PDQ_ALLOWLIST, {"item_ids": list(set(item_ids))}):
            if item_id == 0:  # row ids start at 1
                values.append(value)
            else:
                per_item.setdefault(item_id, []).append(value)
        return values, per_item

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
            _check_choice("decision", new.decision, DECISIONS)
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

    # -- matches, verdicts, exemptions ---------------------------------------------------------

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
    ) -> Match:
        """Record one non-allow answer, with a fresh random match ref."""
        _check_choice("decision", decision, DECISIONS)
        return self._insert(
            matches,
            Match,
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

    def get_match(self, match_ref: str) -> Match | None:
        """The match with public ref ``match_ref``."""
        return self._one(Match, select(matches).where(matches.c.match_ref == match_ref))

    def list_matches(
        self,
        *,
        platform_id: int | None = None,
        item_id: int | None = None,
        check_id: str | None = None,
        limit: int = 100,
    ) -> list[Match]:
        """Matches filtered by platform, item and/or check, oldest first."""
        stmt = select(matches).order_by(matches.c.id).limit(limit)
        if platform_id is not None:
            stmt = stmt.where(matches.c.platform_id == platform_id)
        if item_id is not None:
            stmt = stmt.where(matches.c.item_id == item_id)
        if check_id is not None:
            stmt = stmt.where(matches.c.check_id == check_id)
        return self._all(Match, stmt)

    def list_pending_matches(
        self, platform_id: int, *, limit: int = 100, after_id: int = 0
    ) -> list[tuple[Match, Item]]:
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
            out.append((_from_mapping(Match, match_row), _from_mapping(Item, item_row)))
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
        _check_choice("verdict", verdict, VERDICTS)
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

    # -- allowlist -----------------------------------------------------------------------------

    def add_to_allowlist(
        self, signal: Signal | SignalRecord, *, note: str | None = None
    ) -> AllowlistEntry:
        """Allowlist a signal; idempotent (an entry already there is returned unchanged)."""
        record = SignalRecord.of(signal)
        existing = self._one(
            AllowlistEntry,
            select(allowlist).where(
                allowlist.c.type == record.type, allowlist.c.value == record.value
            ),
        )
        if existing is not None:
            return existing
        return self._insert(
            allowlist,
            AllowlistEntry,
            type=record.type,
            value=record.value,
            quality=record.quality,
            note=note,
            created_at=self.clock(),
        )

    def list_allowlist(
        self, *, signal_type: str | None = None, limit: int = 1000, after_id: int = 0
    ) -> list[AllowlistEntry]:
        """Allowlist entries by row id, paged by ``after_id``, of one type if given."""
        stmt = (
            select(allowlist).where(allowlist.c.id > after_id).order_by(allowlist.c.id).limit(limit)
        )
        if signal_type is not None:
            stmt = stmt.where(allowlist.c.type == signal_type)
        return self._all(AllowlistEntry, stmt)

    def find_allowlisted(self, signal_type: str, values: Collection[str]) -> set[str]:
        """Which of ``values`` are allowlisted exactly (near PDQ matches: use an index)."""
        if not values:
            return set()
        rows = self.conn.execute(
            select(allowlist.c.value).where(
                allowlist.c.type == signal_type, allowlist.c.value.in_(list(values))
            )
        )
        return {value for (value,) in rows}

    def remove_from_allowlist(self, entry_id: int) -> None:
        """Remove an allowlist entry; :class:`NotFound` if there is none."""
        if not self.conn.execute(delete(allowlist).where(allowlist.c.id == entry_id)).rowcount:
            raise NotFound(f"no allowlist entry {entry_id}")

    # -- events --------------------------------------------------------------------------------

    def append_event(
        self, event_type: str, payload: Mapping[str, Any], *, item: Item | None = None
    ) -> Event:
        """Append to the event log (see :func:`hashwall.store.events.append_event`)."""
        return event_log.append_event(
            self.conn,
            event_type,
            payload,
            item_id=item.id if item is not None else None,
            item_ref=item.item_ref if item is not None else None,
            now=self.clock(),
        )

    def read_events(self, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        """Events with ``seq > after_seq``, in order (see :func:`.events.read_events`)."""
        return event_log.read_events(self.conn, after_seq, limit)

    def last_event_seq(self) -> int:
        """The largest visible event ``seq`` (0 when the log is empty)."""
        return event_log.last_event_seq(self.conn)

    def erase_item_signals(self, item_id: int) -> int:
        """Null the signal values in an item's events (done by withdrawal/deletion events too)."""
        return event_log.erase_item_signals(self.conn, item_id)

    # -- audit ---------------------------------------------------------------------------------

    def add_audit(
        self,
        action: str,
        *,
        actor_key_id: str | None = None,
        target: str | None = None,
        details: Mapping[str, Any] | None = None,
        actor_role: str | None = None,
    ) -> AuditEntry:
        """Record an action and who took it.

        ``actor_role``: the acting role; when not given, the role of ``actor_key_id`` (read in
        the same statement), or ``operator`` (directly on the store) without a key. The
        anonymous channel passes ``reporter``.
        """
        role: Any = actor_role
        if role is None:
            role = (
                select(api_keys.c.role).where(api_keys.c.key_id == actor_key_id).scalar_subquery()
                if actor_key_id is not None
                else "operator"
            )
        return self._insert(
            audit,
            AuditEntry,
            actor_key_id=actor_key_id,
            actor_role=role,
            action=action,
            target=target,
            details=dict(details or {}),
            created_at=self.clock(),
        )

    def list_audit(
        self,
        *,
        limit: int = 100,
        before_id: int | None = None,
        actor_key_id: str | None = None,
        action: str | None = None,
    ) -> list[AuditEntry]:
        """Audit entries, newest first, paged by ``before_id``, optionally filtered."""
        stmt = select(audit).order_by(audit.c.id.desc()).limit(limit)
        if before_id is not None:
            stmt = stmt.where(audit.c.id < before_id)
        if actor_key_id is not None:
            stmt = stmt.where(audit.c.actor_key_id == actor_key_id)
        if action is not None:
            stmt = stmt.where(audit.c.action == action)
        return self._all(AuditEntry, stmt)

    # -- plumbing ------------------------------------------------------------------------------

    def _insert(self, table: Table, cls: type[_T], **values: Any) -> _T:
        row = self.conn.execute(insert(table).values(**values).returning(*table.c)).one()
        return _build(cls, row)

    def _update_one(self, table: Table, cls: type[_T], row_id: int, **values: Any) -> _T:
        row = self.conn.execute(
            update(table).where(table.c.id == row_id).values(**values).returning(*table.c)
        ).one_or_none()
        if row is None:
            raise NotFound(f"no {table.name} row with id {row_id}")
        return _build(cls, row)

    def _one(self, cls: type[_T], stmt: Any) -> _T | None:
        row = self.conn.execute(stmt).one_or_none()
        return _build(cls, row) if row is not None else None

    def _all(self, cls: type[_T], stmt: Any) -> list[_T]:
        return [_build(cls, row) for row in self.conn.execute(stmt)]

    def _require_free(self, table: Table, name: str, what: str) -> None:
        if self.conn.execute(select(exists().where(table.c.name == name))).scalar():
            raise AlreadyExists(f"a {what} named {name!r} already exists; choose another name")


# The check's statements, built once (building a select costs more than running it on SQLite).


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
            exists().where(allowlist.c.type == "pdq").label("pdq_allowlist"),
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
_PDQ_ALLOWLIST = union_all(
    select(literal(0).label("item_id"), allowlist.c.value).where(allowlist.c.type == "pdq"),
    select(signals.c.item_id, signals.c.value).where(
        signals.c.item_id.in_(bindparam("item_ids", expanding=True)), signals.c.type == "pdq"
    ),
)
_INSERT_MATCH = insert(matches)


def _check_choice(what: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InvalidInput(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


def _build(cls: type[_T], row: Row[Any]) -> _T:
    return _from_mapping(cls, row._mapping)


def _from_mapping(cls: type[_T], mapping: Mapping[Any, Any]) -> _T:
    names = [f.name for f in fields(cast(Any, cls))]
    return cls(**{name: mapping[name] for name in names})


def _platform(row: Row[Any]) -> Platform:
    mapping = row._mapping
    return Platform(
        id=mapping["id"],
        organisation_id=mapping["organisation_id"],
        name=mapping["name"],
        policy=PlatformPolicy(**{name: mapping[name] for name in _POLICY_FIELDS}),
        created_at=mapping["created_at"],
    )


def _api_key(row: Row[Any]) -> ApiKey:
    mapping = dict(row._mapping)
    mapping["scopes"] = tuple(mapping["scopes"])
    return ApiKey(**{f.name: mapping[f.name] for f in fields(ApiKey)})


def _record_columns(record: SignalRecord) -> dict[str, Any]:
    return {
        "type": record.type,
        "value": record.value,
        "quality": record.quality,
        "frame_number": record.frame_number,
        "frame_timestamp": record.frame_timestamp,
    }
