"""hashwall as an exchange of Meta's ``threatexchange`` tooling (its CLI, and HMA built on it).

Add it to the tooling with ``threatexchange config extensions add
hashwall.interop.threatexchange`` (the ``interop`` extra installs the package), then set up a
collaboration per hashwall server::

    threatexchange config collab edit hashwall NAME --create --server https://hashwall.example
    export TX_HASHWALL_KEY=hwk_...        # or put the key in ~/.tx_hashwall_key (chmod 400)
    threatexchange fetch
    threatexchange match photo upload.jpg

- **Credentials**, the tooling's usual way (:class:`HashwallCredentials`): the collaboration
  names the server, a platform key with the ``feed`` scope comes from ``TX_HASHWALL_KEY`` or
  ``~/.tx_hashwall_key``.
- **Fetch** follows ``GET /v1/feed`` (snapshot, then events): one delta per page, the page's
  cursor as the checkpoint, so a fetch resumes where the last one stopped. Records are keyed by
  item ref; a withdrawn or deleted item is a removal (``None``), so no withdrawn value survives
  in the local copy; a change of state or trust is merged into the stored record
  (:meth:`HashwallSignalExchangeAPI.fetch_value_merge`).
- **Signal types**: ``pdq`` is the tooling's ``pdq``; the md5 and sha256 of a video are its
  ``video_md5`` and ``video_sha256``. The tooling has no digest type for photos: this extension
  adds ``photo_md5`` (:class:`PhotoMD5Signal`), so ``match photo`` finds exact copies too.
  Video frame hashes are not delivered (the tooling's vPDQ works on whole videos).
- **Opinions** (:func:`opinions_of`): ``vouched`` and ``confirmed`` items are
  ``POSITIVE_CLASS`` (hashwall answers ``block``); ``unvouched`` ones ``INVESTIGATION_SEED``
  (``review``); a ``quarantined`` item adds a ``NEGATIVE_CLASS`` opinion, so its aggregate is
  ``DISPUTED`` (``review``, waiting for the operator). Each opinion's tag is the trust or state.
- **Verdicts back** (:meth:`HashwallSignalExchangeAPI.report_opinion`): a ``POSITIVE_CLASS``
  opinion is a ``confirmed`` verdict, a ``NEGATIVE_CLASS`` one (a false positive) ``not_ncii``,
  on the platform's own match: the signal is checked (``POST /v1/check``, which records the
  match) and the verdict given on each match ref. The key then needs the ``check`` and
  ``verdict`` scopes too.
"""

# No ``from __future__ import annotations``: the tooling's CLI reads the collaboration config's
# field types at run time to build its options.
import re
import time
import typing as t
from dataclasses import dataclass, field, replace

try:
    from threatexchange.content_type.content_base import ContentType
    from threatexchange.content_type.photo import PhotoContent
    from threatexchange.exchanges import auth
    from threatexchange.exchanges import fetch_state as state
    from threatexchange.exchanges.collab_config import CollaborationConfigWithDefaults
    from threatexchange.exchanges.signal_exchange_api import SignalExchangeAPI
    from threatexchange.extensions.manifest import ThreatExchangeExtensionManifest
    from threatexchange.signal_type import signal_base
    from threatexchange.signal_type.md5 import VideoMD5Signal
    from threatexchange.signal_type.pdq.signal import PdqSignal
    from threatexchange.signal_type.sha256 import VideoSHA256Signal
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "hashwall.interop.threatexchange needs the threatexchange package: "
        "pip install 'hashwall[interop]'"
    ) from exc

from pathlib import Path

from hashwall.client import ApiError, Client
from hashwall.errors import HashwallError
from hashwall.service.feed_copy import FeedCopy

#: Items plus events per feed page.
PAGE_SIZE: t.Final = 1000
#: Items per delta when a local copy is read whole.
COPY_BATCH: t.Final = 100_000
#: The PDQ quality given with a signal checked for a verdict: the tooling keeps no quality, and
#: only hashes of real uploads (quality checked when they were hashed) come back as opinions.
REPORTED_PDQ_QUALITY: t.Final = 100

_LIVE_STATES: t.Final = frozenset({"active", "quarantined"})
_REMOVALS: t.Final = frozenset({"item_withdrawn", "item_deleted"})
_STATE_EVENTS: t.Final = {"item_quarantined": "quarantined", "item_reinstated": "active"}


# --- the signal type the tooling lacks ---------------------------------------------------------


class PhotoMD5Signal(
    signal_base.SimpleSignalType,
    signal_base.BytesHasher,
):
    """The md5 of a photo file's exact bytes (the tooling only has ``video_md5``)."""

    @classmethod
    def get_name(cls) -> str:
        return "photo_md5"

    @classmethod
    def get_content_types(cls) -> list[type[ContentType]]:
        return [PhotoContent]

    @classmethod
    def get_index_cls(cls) -> type[signal_base.TrivialSignalTypeIndex[t.Any]]:
        return signal_base.TrivialSignalTypeIndex

    @classmethod
    def validate_signal_str(cls, signal_str: str) -> str:
        normalized = signal_str.strip().lower()
        if not re.fullmatch("[0-9a-f]{32}", normalized):
            raise ValueError(f"{signal_str!r} is not an md5 (32 hexadecimal digits)")
        return normalized

    @classmethod
    def hash_from_bytes(cls, bytes_: bytes) -> str:
        return VideoMD5Signal.hash_from_bytes(bytes_)

    @staticmethod
    def get_examples() -> list[str]:
        return ["3c4e1d5b7f0a9e2d8c6b4a2f1e0d9c8b"]


def tx_signal_name(signal_type: str, kind: str) -> str | None:
    """The tooling's signal type for a hashwall signal of an item of ``kind``, or None."""
    if signal_type == "pdq":
        return PdqSignal.get_name()
    if signal_type == "md5":
        return VideoMD5Signal.get_name() if kind == "video" else PhotoMD5Signal.get_name()
    if signal_type == "sha256" and kind == "video":
        return VideoSHA256Signal.get_name()
    return None


def hashwall_signal_type(tx_name: str) -> str | None:
    """The hashwall signal type of one of the tooling's types (None: hashwall has none)."""
    return {
        PdqSignal.get_name(): "pdq",
        PhotoMD5Signal.get_name(): "md5",
        VideoMD5Signal.get_name(): "md5",
        VideoSHA256Signal.get_name(): "sha256",
    }.get(tx_name)


# --- configuration and credentials -------------------------------------------------------------


@dataclass
class _RequiredFields:
    server: str = field(
        metadata={"help": "the hashwall server's URL, e.g. https://hashwall.example.org"}
    )


@dataclass
class HashwallCollabConfig(CollaborationConfigWithDefaults, _RequiredFields):
    """A collaboration with one hashwall server (its key: :class:`HashwallCredentials`)."""

    copy_dir: str = field(
        default="",
        metadata={
            "help": "a folder kept by `hashwall feed sync --dir`: fetch reads it, not the server"
        },
    )


@dataclass
class HashwallCredentials(auth.CredentialHelper):
    """A hashwall platform key with the ``feed`` scope (``check`` and ``verdict`` to report)."""

    ENV_VARIABLE: t.ClassVar[str] = "TX_HASHWALL_KEY"
    FILE_NAME: t.ClassVar[str] = "~/.tx_hashwall_key"

    key: str = field(repr=False)

    @classmethod
    def _from_str(cls, s: str) -> "HashwallCredentials":
        return cls(s.strip())

    def _are_valid(self) -> bool:
        return bool(self.key) and not any(c.isspace() for c in self.key)


# --- what is fetched ---------------------------------------------------------------------------


@dataclass
class HashwallCheckpoint(state.FetchCheckpointBase):
    """Where the feed stopped: its cursor, and the event log's head then. Fetched from a local
    copy (``copy_dir``): the copy's base generation and how many of its changes were read."""

    cursor: str
    head_seq: int
    fetched_at: int
    copy_dir: str = ""
    generation: int = -1
    changes_read: int = 0

    def is_stale(self) -> bool:
        """A cursor stays valid (one the server refuses makes fetch say so); a local copy's
        position only while the copy keeps its base (a new one, after a compaction or a fresh
        snapshot, is read again whole: the tooling clears what it fetched, then fetches)."""
        if not self.copy_dir:
            return False
        try:
            return FeedCopy.open(Path(self.copy_dir)).generation != self.generation
        except HashwallError:
            return True


@dataclass
class HashwallItemRecord:
    """One banked item as fetched. ``signals`` is None in a partial update (a change of state
    or trust only), merged into the stored record by :meth:`~HashwallSignalExchangeAPI.
    fetch_value_merge`."""

    kind: str | None = None
    trust: str | None = None
    state: str | None = None
    signals: tuple[tuple[str, str], ...] | None = None

    @property
    def complete(self) -> bool:
        """Whether this record holds the whole item (not only a change)."""
        return self.signals is not None

    def updated_by(self, change: "HashwallItemRecord") -> "HashwallItemRecord":
        """This record with what ``change`` sets."""
        if change.complete:
            return change
        return replace(
            self,
            trust=change.trust if change.trust is not None else self.trust,
            state=change.state if change.state is not None else self.state,
        )


def opinions_of(trust: str, item_state: str) -> list[state.SignalOpinion]:
    """The tooling's opinions for an item's trust and state (see the module docstring)."""
    category = (
        state.SignalOpinionCategory.POSITIVE_CLASS
        if trust in ("vouched", "confirmed")
        else state.SignalOpinionCategory.INVESTIGATION_SEED
    )
    opinions = [state.SignalOpinion(False, category, {trust})]
    if item_state == "quarantined":
        opinions.append(
            state.SignalOpinion(False, state.SignalOpinionCategory.NEGATIVE_CLASS, {"quarantined"})
        )
    return opinions


@dataclass
class HashwallSignalMetadata(state.FetchedSignalMetadata):
    """What a matched value is in hashwall: the items holding it, ``(item_ref, trust, state)``."""

    items: list[tuple[str, str, str]] = field(default_factory=list)

    def get_as_opinions(self) -> t.Sequence[state.SignalOpinion]:
        return [o for _, trust, st in self.items for o in opinions_of(trust, st)]


def _signals(raw: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        (str(s["type"]), str(s["value"]))
        for s in raw
        if isinstance(s, dict) and s.get("value") is not None
    )


def _record_of_event(event: t.Mapping[str, t.Any]) -> HashwallItemRecord | None:
    kind = event.get("type")
    if kind == "item_added":
        return HashwallItemRecord(
            str(event.get("kind", "image")),
            str(event.get("trust")),
            str(event.get("state", "active")),
            _signals(event.get("signals")),
        )
    if kind in _STATE_EVENTS:
        return HashwallItemRecord(state=_STATE_EVENTS[kind])
    if kind == "trust_changed":
        return HashwallItemRecord(trust=str(event.get("trust")))
    return None  # removals are handled by the caller; other types change nothing here


_Delta = state.FetchDelta[str, HashwallItemRecord, HashwallCheckpoint]


def page_updates(page: t.Mapping[str, t.Any]) -> dict[str, HashwallItemRecord | None]:
    """One feed page (its JSON form, ``GET /v1/feed``) as the tooling's updates: item ref ->
    record, or None (removed)."""
    updates: dict[str, HashwallItemRecord | None] = {}
    for item in page.get("items", []):
        updates[item["item"]] = HashwallItemRecord(
            item["kind"], item["trust"], item["state"], _signals(item.get("signals"))
        )
    for event in page.get("events", []):
        ref = event.get("item")
        if ref is None:
            continue
        if event.get("type") in _REMOVALS:
            updates[ref] = None
            continue
        record = _record_of_event(event)
        if record is None:
            continue
        if ref in updates:
            updates[ref] = HashwallSignalExchangeAPI.fetch_value_merge(updates[ref], record)
        else:
            updates[ref] = record
    return updates


# --- the exchange ------------------------------------------------------------------------------


class HashwallSignalExchangeAPI(
    auth.SignalExchangeWithAuth[HashwallCollabConfig, HashwallCredentials],
    SignalExchangeAPI[
        HashwallCollabConfig,
        HashwallCheckpoint,
        HashwallSignalMetadata,
        str,
        HashwallItemRecord,
    ],
):
    """A hashwall server's bank, read through its feed (``GET /v1/feed``)."""

    def __init__(self, collab: HashwallCollabConfig, client: Client) -> None:
        self.collab = collab
        self.client = client

    @classmethod
    def get_name(cls) -> str:
        return "hashwall"

    @staticmethod
    def get_config_cls() -> type[HashwallCollabConfig]:
        return HashwallCollabConfig

    @staticmethod
    def get_checkpoint_cls() -> type[HashwallCheckpoint]:
        return HashwallCheckpoint

    @staticmethod
    def get_record_cls() -> type[HashwallSignalMetadata]:
        return HashwallSignalMetadata

    @staticmethod
    def get_credential_cls() -> type[HashwallCredentials]:
        return HashwallCredentials

    @classmethod
    def for_collab(
        cls,
        collab: HashwallCollabConfig,
        credentials: HashwallCredentials | None = None,
    ) -> "HashwallSignalExchangeAPI":
        if credentials is None and collab.copy_dir:
            try:  # fetching from a local copy needs no key (reporting opinions does)
                credentials = HashwallCredentials.get(cls)
            except auth.SignalExchangeAPIMissingAuthException:
                return cls(collab, Client(collab.server))
        credentials = credentials or HashwallCredentials.get(cls)
        return cls(collab, Client(collab.server, key=credentials.key))

    @classmethod
    def fetch_value_merge(
        cls,
        old: HashwallItemRecord | None,
        new: HashwallItemRecord | None,
    ) -> HashwallItemRecord | None:
        """A whole record replaces; a change applies to the stored record (to none: dropped)."""
        if new is None or new.complete:
            return new
        if old is None:
            return None
        return old.updated_by(new)

    def fetch_iter(
        self,
        supported_signal_types: t.Sequence[type[signal_base.SignalType]],
        checkpoint: HashwallCheckpoint | None,
    ) -> t.Iterator[_Delta]:
        """One delta per feed page, from the checkpoint's cursor, until the feed is caught up
        (with ``copy_dir``: from the local copy, :meth:`fetch_copy`)."""
        if self.collab.copy_dir:
            yield from self.fetch_copy(Path(self.collab.copy_dir), checkpoint)
            return
        cursor = checkpoint.cursor if checkpoint is not None else None
        while True:
            try:
                page = self.client.feed(cursor, limit=PAGE_SIZE)
            except ApiError as exc:
                if exc.code == "invalid_cursor":
                    raise ValueError(
                        f"the hashwall server {self.collab.server} no longer accepts the saved "
                        "cursor: run `threatexchange fetch --clear --only-collab "
                        f"{self.collab.name}`, then fetch again"
                    ) from exc
                if exc.status in (401, 403):
                    raise auth.SignalExchangeAPIInvalidAuthException(
                        type(self), f"{exc.code}: {exc.detail} (a platform key with feed scope)"
                    ) from exc
                raise
            cursor = page.cursor
            yield _Delta(
                page_updates(page.wire()),
                HashwallCheckpoint(page.cursor, page.head_seq, int(time.time())),
            )
            if not page.more:
                return

    @staticmethod
    def fetch_copy(
        directory: Path, checkpoint: HashwallCheckpoint | None, batch: int = COPY_BATCH
    ) -> t.Iterator[_Delta]:
        """The live set of a copy kept by ``hashwall feed sync`` (``--dir``), loaded as it is:
        whole, in deltas of ``batch`` items, when the checkpoint is of another base (or none);
        else the copy's changes since the checkpoint (removals as ``None``)."""
        try:
            copy, view = FeedCopy.read_view(directory)
            changes = copy.log_records()
        except HashwallError as exc:
            raise ValueError(f"{exc.message} (the hashwall collaboration's copy_dir)") from exc

        def position() -> HashwallCheckpoint:
            return HashwallCheckpoint(copy.cursor or "", int(copy.meta.get("head_seq") or 0),
                                      int(time.time()), str(directory), copy.generation,
                                      len(changes))  # fmt: skip

        if checkpoint is None or checkpoint.generation != copy.generation:
            updates: dict[str, HashwallItemRecord | None] = {}
            for ref, item in view.items():
                updates[ref] = HashwallItemRecord(
                    item["kind"], item["trust"], item["state"], _signals(item["signals"])
                )
                if len(updates) >= batch:
                    yield _Delta(updates, position())
                    updates = {}
            yield _Delta(updates, position())
            return
        updates = {}
        for change in changes[checkpoint.changes_read :]:
            ref, op = str(change.get("item")), change.get("op")
            record: HashwallItemRecord | None
            if op == "put":
                record = HashwallItemRecord(
                    change.get("kind"),
                    change.get("trust"),
                    change.get("state"),
                    _signals(change.get("signals")),
                )
            elif op == "set":
                record = HashwallItemRecord(trust=change.get("trust"), state=change.get("state"))
            else:
                record = None
            if ref in updates and record is not None:
                updates[ref] = HashwallSignalExchangeAPI.fetch_value_merge(updates[ref], record)
            else:
                updates[ref] = record
        yield _Delta(updates, position())

    @classmethod
    def naive_convert_to_signal_type(
        cls,
        signal_types: t.Sequence[type[signal_base.SignalType]],
        collab: HashwallCollabConfig,
        fetched: t.Mapping[str, HashwallItemRecord],
    ) -> dict[type[signal_base.SignalType], dict[str, HashwallSignalMetadata]]:
        """Live items' values by the tooling's signal type, each with the items holding it."""
        by_name = {st.get_name(): st for st in signal_types}
        out: dict[type[signal_base.SignalType], dict[str, HashwallSignalMetadata]] = {}
        for ref, record in fetched.items():
            if record is None or not record.complete or record.state not in _LIVE_STATES:
                continue
            assert record.signals is not None and record.state is not None
            for signal_type, value in record.signals:
                name = tx_signal_name(signal_type, record.kind or "image")
                s_type = by_name.get(name) if name is not None else None
                if s_type is None:
                    continue
                meta = out.setdefault(s_type, {}).setdefault(value, HashwallSignalMetadata())
                meta.items.append((ref, record.trust or "unvouched", record.state))
        return out

    def report_opinion(
        self,
        s_type: type[signal_base.SignalType],
        signal: str,
        opinion: state.SignalOpinion,
    ) -> None:
        """A verdict on the platform's own match of ``signal``: ``confirmed`` for a positive
        opinion, ``not_ncii`` for a negative one (a false positive)."""
        verdicts = {
            state.SignalOpinionCategory.POSITIVE_CLASS: "confirmed",
            state.SignalOpinionCategory.NEGATIVE_CLASS: "not_ncii",
        }
        verdict = verdicts.get(opinion.category)
        hw_type = hashwall_signal_type(s_type.get_name())
        if verdict is None or hw_type is None:
            raise NotImplementedError
        upload: dict[str, t.Any] = {"type": hw_type, "value": signal}
        if hw_type == "pdq":
            upload["quality"] = REPORTED_PDQ_QUALITY
        result = self.client.check([upload])
        if not result.matches:
            raise ValueError(
                f"hashwall holds no live item matching this {s_type.get_name()} for your "
                "platform (withdrawn, or never banked): there is no match to give a verdict on"
            )
        for match in result.matches:
            self.client.verdict(
                match.match_ref,
                verdict,  # type: ignore[arg-type]
                upload_pdq=signal if hw_type == "pdq" else None,
                upload_sha256=signal if hw_type == "sha256" else None,
            )


TX_MANIFEST = ThreatExchangeExtensionManifest(
    signal_types=(PhotoMD5Signal,),
    apis=(HashwallSignalExchangeAPI,),
)
