"""The operator's commands: ``org``, ``platform``, ``partner``, ``key``, ``quarantine``,
``allowlist``, ``audit`` and ``retention``.

They work directly on the configured store (``HASHWALL_DATABASE_URL``, default
``sqlite:///./var/hashwall.db``) as the operator (no key), so the first admin key needs none.
They never create a database: where there is none (or it was never migrated, or is at an older
revision) they fail with ``store_unavailable`` naming ``hashwall db upgrade`` and
``HASHWALL_DATABASE_URL``.

Each command parses, calls one use case of :mod:`hashwall.service.operator` (or
:mod:`hashwall.service.retention`) and formats: rich tables for people, or with ``--json``
exactly one JSON document on stdout. Listings print ``{"<things>": [...]}``; single results print
the object itself.

On failure nothing but ``code: message`` goes to stderr (``{"error": {"code", "message"}}`` on
stdout with ``--json``) and the exit code is 1; never a traceback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from hashwall.cli.output import fail, print_json
from hashwall.errors import HashwallError, InvalidInput, StoreUnavailable
from hashwall.hashing.signals import SIGNAL_TYPES, Signal
from hashwall.service import operator as ops
from hashwall.service.context import Actor, ServiceContext
from hashwall.settings import Settings
from hashwall.store import migrate
from hashwall.store.engine import normalise_url, redact
from hashwall.store.repo import Store

_T = TypeVar("_T")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
LimitOption = Annotated[int, typer.Option("--limit", help="Most rows to show.", min=1, max=1000)]

org_app = typer.Typer(name="org", help="Organisations (companies owning platforms).")
platform_app = typer.Typer(name="platform", help="Platforms and their matching policies.")
partner_app = typer.Typer(name="partner", help="Intake partners (helplines, hotlines).")
key_app = typer.Typer(name="key", help="API keys: create (shown once), list, revoke.")
quarantine_app = typer.Typer(
    name="quarantine", help="Items quarantined by not-NCII verdicts: reinstate or delete."
)
allowlist_app = typer.Typer(
    name="allowlist", help="Signals of images known not to be NCII (never banked or matched)."
)
retention_app = typer.Typer(name="retention", help="Deletion of old match records.")
for _sub in (
    org_app,
    platform_app,
    partner_app,
    key_app,
    quarantine_app,
    allowlist_app,
    retention_app,
):
    _sub.info.no_args_is_help = True


# --- plumbing --------------------------------------------------------------------------------


def run_operator(
    json_out: bool,
    use_case: Callable[[ServiceContext, Actor], _T],
    settings: Settings | None = None,
) -> _T:
    """Open the configured store, run ``use_case`` as the operator, close the store.

    Any :class:`HashwallError` (and any database failure, as ``store_unavailable``) is printed
    and exits with code 1.
    """
    try:
        config = settings or Settings()
        url = normalise_url(config.database_url)
    except (ValueError, SQLAlchemyError) as exc:
        fail(InvalidInput(f"cannot use the configured database: {exc}"), json_out)
    _require_sqlite_file(url, json_out)  # before an engine would create an empty one
    store = Store.from_url(url)
    try:
        _require_schema(store, config.database_url)
        return use_case(ServiceContext(store=store, settings=config), Actor.operator())
    except HashwallError as exc:
        fail(exc, json_out)
    except SQLAlchemyError as exc:
        orig = exc.orig if isinstance(exc, DBAPIError) else None
        detail = str(orig).strip() if orig is not None else type(exc).__name__
        fail(
            StoreUnavailable(
                f"{redact(config.database_url)}: {detail} "
                "(is the schema created? run `hashwall db upgrade`)"
            ),
            json_out,
        )
    finally:
        store.dispose()


_WHERE = "set HASHWALL_DATABASE_URL to the service's database (sqlite:///PATH or postgresql://...)"


def _require_sqlite_file(url: URL, json_out: bool) -> None:
    """Fail, creating nothing, when a SQLite store's file does not exist."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if not Path(database).expanduser().exists():
        fail(
            StoreUnavailable(
                f"no hashwall database at {database}: {_WHERE}, or create one here with "
                "`hashwall db upgrade`"
            ),
            json_out,
        )


def _require_schema(store: Store, url: str) -> None:
    """``store_unavailable`` unless the store's schema is at this hashwall's revision."""
    current = migrate.current_revision(store.engine)
    head = migrate.head_revision()
    if current is None:
        raise StoreUnavailable(
            f"{redact(url)} holds no hashwall schema: run `hashwall db upgrade` to create it, "
            f"or {_WHERE}"
        )
    if current != head:
        raise StoreUnavailable(
            f"{redact(url)} is at schema revision {current}, this hashwall needs {head}: "
            "run `hashwall db upgrade`"
        )


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


#: Columns people copy from (ids, refs, names, actions): never wrapped.
_NO_WRAP = frozenset({"id", "item", "name", "action", "value"})


def _table(*columns: str) -> Table:
    table = Table(show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column in _NO_WRAP)
    return table


def _show(table: Table, empty: str) -> None:
    console = Console()
    if table.row_count:
        console.print(table)
    else:
        console.print(empty)


# --- organisations ---------------------------------------------------------------------------


@org_app.command("add")
def org_add(
    name: Annotated[str, typer.Argument(help="Unique organisation name.")],
    json_out: JsonOption = False,
) -> None:
    """Add an organisation."""
    org = run_operator(json_out, lambda ctx, actor: ops.add_organisation(ctx, actor, name))
    if json_out:
        print_json(org.to_dict())
    else:
        Console().print(f"Added organisation {escape(org.name)}.", highlight=False)


@org_app.command("list")
def org_list(json_out: JsonOption = False) -> None:
    """List organisations."""
    orgs = run_operator(json_out, ops.list_organisations)
    if json_out:
        print_json({"organisations": [o.to_dict() for o in orgs]})
        return
    table = _table("name", "created")
    for org in orgs:
        table.add_row(org.name, _when(org.created_at))
    _show(table, "No organisations yet: `hashwall org add NAME`.")


# --- platforms -------------------------------------------------------------------------------

PdqThresholdOption = Annotated[
    int | None, typer.Option("--pdq-threshold", help="PDQ match radius, 0..31 (default 31).")
]
RevealDistanceOption = Annotated[
    bool | None,
    typer.Option(
        "--reveal-distance/--no-reveal-distance",
        help="Answers show the Hamming distance, coarsened to a band of 8 bits with an offset "
        "keyed by the banked hash: the exact distance would let the platform rebuild a banked "
        "hash in ~256 checks by flipping bits; coarse, it takes ~100x more, each one a match "
        "on record (docs/security.md).",
    ),
]
RevealOrientationOption = Annotated[
    bool | None,
    typer.Option(
        "--reveal-orientation/--no-reveal-orientation", help="Answers show the orientation."
    ),
]
UnvouchedOption = Annotated[
    str | None,
    typer.Option(
        "--unvouched-answer", help="What a match on an unvouched item answers: review or allow."
    ),
]
VideoUploadOption = Annotated[
    int | None,
    typer.Option("--video-upload-percent", help="% of upload frames that must match, 1..100."),
]
VideoBankOption = Annotated[
    int | None,
    typer.Option("--video-bank-percent", help="% of banked video frames found, 1..100."),
]
RetentionOption = Annotated[
    int | None,
    typer.Option("--retention-days", help="Days match records are kept (default 90)."),
]


def _policy_update(
    pdq_threshold: int | None,
    reveal_distance: bool | None,
    reveal_orientation: bool | None,
    unvouched_answer: str | None,
    video_upload_percent: int | None,
    video_bank_percent: int | None,
    retention_days: int | None,
) -> ops.PolicyUpdate:
    return ops.PolicyUpdate.from_mapping(
        {
            "pdq_threshold": pdq_threshold,
            "reveal_distance": reveal_distance,
            "reveal_orientation": reveal_orientation,
            "unvouched_answer": unvouched_answer,
            "video_upload_percent": video_upload_percent,
            "video_bank_percent": video_bank_percent,
            "retention_days": retention_days,
        }
    )


def _print_platforms(platforms: list[ops.PlatformInfo]) -> None:
    table = _table(
        "name",
        "organisation",
        "pdq threshold",
        "reveal",
        "unvouched",
        "video % (upload/bank)",
        "retention days",
        "created",
    )
    for p in platforms:
        reveal = (
            ", ".join(
                name
                for name, on in (
                    ("distance", p.policy.reveal_distance),
                    ("orientation", p.policy.reveal_orientation),
                )
                if on
            )
            or "-"
        )
        table.add_row(
            p.name,
            p.organisation,
            str(p.policy.pdq_threshold),
            reveal,
            p.policy.unvouched_answer,
            f"{p.policy.video_upload_percent}/{p.policy.video_bank_percent}",
            str(p.policy.retention_days),
            _when(p.created_at),
        )
    _show(table, "No platforms yet: `hashwall platform add NAME --org ORG`.")


@platform_app.command("add")
def platform_add(
    name: Annotated[str, typer.Argument(help="Unique platform name.")],
    organisation: Annotated[str, typer.Option("--org", help="The owning organisation.")],
    pdq_threshold: PdqThresholdOption = None,
    reveal_distance: RevealDistanceOption = None,
    reveal_orientation: RevealOrientationOption = None,
    unvouched_answer: UnvouchedOption = None,
    video_upload_percent: VideoUploadOption = None,
    video_bank_percent: VideoBankOption = None,
    retention_days: RetentionOption = None,
    json_out: JsonOption = False,
) -> None:
    """Add a platform of an organisation, with the default policy plus any options given."""

    def run(ctx: ServiceContext, actor: Actor) -> ops.PlatformInfo:
        update = _policy_update(
            pdq_threshold,
            reveal_distance,
            reveal_orientation,
            unvouched_answer,
            video_upload_percent,
            video_bank_percent,
            retention_days,
        )
        return ops.add_platform(ctx, actor, organisation=organisation, name=name, policy=update)

    platform = run_operator(json_out, run)
    if json_out:
        print_json(platform.to_dict())
    else:
        _print_platforms([platform])


@platform_app.command("list")
def platform_list(
    organisation: Annotated[
        str | None, typer.Option("--org", help="Only this organisation's platforms.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """List platforms and their policies."""
    platforms = run_operator(
        json_out, lambda ctx, actor: ops.list_platforms(ctx, actor, organisation=organisation)
    )
    if json_out:
        print_json({"platforms": [p.to_dict() for p in platforms]})
    else:
        _print_platforms(platforms)


@platform_app.command("set-policy")
def platform_set_policy(
    name: Annotated[str, typer.Argument(help="The platform.")],
    pdq_threshold: PdqThresholdOption = None,
    reveal_distance: RevealDistanceOption = None,
    reveal_orientation: RevealOrientationOption = None,
    unvouched_answer: UnvouchedOption = None,
    video_upload_percent: VideoUploadOption = None,
    video_bank_percent: VideoBankOption = None,
    retention_days: RetentionOption = None,
    json_out: JsonOption = False,
) -> None:
    """Change a platform's policy: only the options given change."""

    def run(ctx: ServiceContext, actor: Actor) -> ops.PlatformInfo:
        update = _policy_update(
            pdq_threshold,
            reveal_distance,
            reveal_orientation,
            unvouched_answer,
            video_upload_percent,
            video_bank_percent,
            retention_days,
        )
        if not update.changes():
            raise InvalidInput("give at least one policy option to change (see --help)")
        return ops.set_platform_policy(ctx, actor, name, update)

    platform = run_operator(json_out, run)
    if json_out:
        print_json(platform.to_dict())
    else:
        _print_platforms([platform])


# --- partners --------------------------------------------------------------------------------


@partner_app.command("add")
def partner_add(
    name: Annotated[str, typer.Argument(help="Unique partner name.")],
    json_out: JsonOption = False,
) -> None:
    """Add an intake partner."""
    partner = run_operator(json_out, lambda ctx, actor: ops.add_partner(ctx, actor, name))
    if json_out:
        print_json(partner.to_dict())
    else:
        Console().print(f"Added partner {escape(partner.name)}.", highlight=False)


@partner_app.command("list")
def partner_list(json_out: JsonOption = False) -> None:
    """List intake partners."""
    partners = run_operator(json_out, ops.list_partners)
    if json_out:
        print_json({"partners": [p.to_dict() for p in partners]})
        return
    table = _table("name", "created")
    for partner in partners:
        table.add_row(partner.name, _when(partner.created_at))
    _show(table, "No partners yet: `hashwall partner add NAME`.")


# --- API keys --------------------------------------------------------------------------------


def _print_keys(keys: list[ops.KeyInfo]) -> None:
    table = _table("id", "role", "owner", "scopes", "label", "created", "revoked")
    for key in keys:
        owner = key.platform or key.partner or ""
        table.add_row(
            key.key_id,
            key.role,
            owner,
            ", ".join(key.scopes),
            key.label or "",
            _when(key.created_at),
            _when(key.revoked_at),
        )
    _show(table, "No API keys yet: `hashwall key create --role admin`.")


@key_app.command("create")
def key_create(
    role: Annotated[str, typer.Option("--role", help="admin, intake or platform.")],
    platform: Annotated[
        str | None, typer.Option("--platform", help="The platform (platform keys).")
    ] = None,
    partner: Annotated[
        str | None, typer.Option("--partner", help="The intake partner (intake keys).")
    ] = None,
    scopes: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="check, feed or verdict; repeat for several (platform keys; default: all).",
        ),
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="A note for people.")] = None,
    json_out: JsonOption = False,
) -> None:
    """Create an API key. The full key is printed once; only its hash is stored."""
    created = run_operator(
        json_out,
        lambda ctx, actor: ops.create_api_key(
            ctx,
            actor,
            role=role,
            platform=platform,
            partner=partner,
            scopes=scopes or None,
            label=label,
        ),
    )
    if json_out:
        print_json(created.to_dict())
        return
    info = created.info
    owner = f" for {info.platform or info.partner}" if (info.platform or info.partner) else ""
    scopes_text = f", scopes {', '.join(info.scopes)}" if info.scopes else ""
    console = Console()
    console.print(
        f"Created {info.role} key {info.key_id}{escape(owner)}{scopes_text}.", highlight=False
    )
    console.print("The key is shown only this once; store it now:", highlight=False)
    console.print(created.key, highlight=False, soft_wrap=True)


@key_app.command("list")
def key_list(
    active: Annotated[bool, typer.Option("--active", help="Hide revoked keys.")] = False,
    json_out: JsonOption = False,
) -> None:
    """List API keys (never their secrets)."""
    keys = run_operator(
        json_out, lambda ctx, actor: ops.list_api_keys(ctx, actor, include_revoked=not active)
    )
    if json_out:
        print_json({"keys": [k.to_dict() for k in keys]})
    else:
        _print_keys(keys)


@key_app.command("revoke")
def key_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (key_...).")],
    json_out: JsonOption = False,
) -> None:
    """Revoke an API key: from now on it authenticates nothing."""
    key = run_operator(json_out, lambda ctx, actor: ops.revoke_api_key(ctx, actor, key_id))
    if json_out:
        print_json(key.to_dict())
    else:
        Console().print(f"Revoked key {key.key_id} at {_when(key.revoked_at)}.", highlight=False)


# --- quarantine ------------------------------------------------------------------------------


@quarantine_app.command("list")
def quarantine_list(
    limit: LimitOption = 100,
    after: Annotated[
        str | None, typer.Option("--after", help="Continue after this item ref.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """List quarantined items, oldest first."""
    queue = run_operator(
        json_out, lambda ctx, actor: ops.list_quarantine(ctx, actor, limit=limit, after=after)
    )
    if json_out:
        print_json({"items": [item.to_dict() for item in queue]})
        return
    table = _table(
        "item", "kind", "trust", "csam", "not-NCII verdicts", "organisations", "quarantined"
    )
    for item in queue:
        table.add_row(
            item.item_ref,
            item.kind,
            item.trust,
            "yes" if item.csam else "",
            str(item.not_ncii_verdicts),
            str(item.not_ncii_organisations),
            _when(item.state_changed_at),
        )
    _show(table, "The quarantine is empty.")


def _print_change(change: ops.ItemStateChange, verb: str) -> None:
    Console().print(
        f"{verb} {change.item_ref}: {change.previous_state} -> {change.state}"
        f" (event {change.event_seq}).",
        highlight=False,
    )


@quarantine_app.command("reinstate")
def quarantine_reinstate(
    item_ref: Annotated[str, typer.Argument(help="The item ref (itm_...).")],
    json_out: JsonOption = False,
) -> None:
    """Return a quarantined item to the active bank."""
    change = run_operator(json_out, lambda ctx, actor: ops.reinstate_item(ctx, actor, item_ref))
    if json_out:
        print_json(change.to_dict())
    else:
        _print_change(change, "Reinstated")


@quarantine_app.command("delete")
def quarantine_delete(
    item_ref: Annotated[str, typer.Argument(help="The item ref (itm_...).")],
    json_out: JsonOption = False,
) -> None:
    """Delete a quarantined item for good: its hash values are erased everywhere.

    Only quarantined items; an active one is deleted with `hashwall item delete --reason`.
    """
    change = run_operator(
        json_out, lambda ctx, actor: ops.delete_quarantined_item(ctx, actor, item_ref)
    )
    if json_out:
        print_json(change.to_dict())
    else:
        _print_change(change, "Deleted")


# --- allowlist -------------------------------------------------------------------------------

_SIGNAL_ARGUMENT = re.compile(r"(?P<type>[a-z0-9_]+):(?P<value>.*)")


def allowlist_signals(arguments: list[str], settings: Settings) -> list[Signal]:
    """Signals from ``TYPE:HEX`` arguments and image paths (hashed here, locally).

    An argument ``TYPE:VALUE`` with a known signal type is a signal (validated: ``invalid_hash``)
    unless a file of that name exists. An image gives its md5 and sha256, and its PDQ hash when
    usable (quality >= 50) with the PDQ hashes of its 8 orientations: a rotated or mirrored copy
    is then refused and never blocks either.
    """
    from hashwall.hashing.image import hash_file

    out: list[Signal] = []
    for argument in arguments:
        match = _SIGNAL_ARGUMENT.fullmatch(argument)
        if match is not None and match["type"] in SIGNAL_TYPES and not Path(argument).exists():
            out.append(Signal.parse({"type": match["type"], "value": match["value"]}))
            continue
        hashes = hash_file(Path(argument), settings=settings, orientations=True)
        out.extend(hashes.signals())
        if hashes.usable and hashes.orientations:
            turned = (Signal("pdq", h.hex, hashes.quality) for h in hashes.orientations)
            out.extend(s for s in turned if s not in out)
    return out


@allowlist_app.command("add")
def allowlist_add(
    signals_or_files: Annotated[
        list[str],
        typer.Argument(
            help="Signals as TYPE:HEX (pdq:..., md5:..., sha256:...) or image files to hash."
        ),
    ],
    note: Annotated[str | None, typer.Option("--note", help="Why (e.g. stock photo).")] = None,
    json_out: JsonOption = False,
) -> None:
    """Allowlist images known not to be NCII: refused at intake, never matched."""

    def run(ctx: ServiceContext, actor: Actor) -> list[ops.AllowlistInfo]:
        signals = allowlist_signals(signals_or_files, ctx.settings)
        return ops.add_to_allowlist(ctx, actor, signals, note=note)

    entries = run_operator(json_out, run)
    if json_out:
        print_json({"entries": [e.to_dict() for e in entries]})
    else:
        _print_allowlist(entries, show_added=True)


def _print_allowlist(entries: list[ops.AllowlistInfo], *, show_added: bool = False) -> None:
    columns = ["id", "type", "value", "quality", "note", "created"]
    if show_added:
        columns.append("added")
    table = _table(*columns)
    for e in entries:
        row = [
            str(e.id),
            e.type,
            e.value,
            "" if e.quality is None else str(e.quality),
            e.note or "",
            _when(e.created_at),
        ]
        if show_added:
            row.append("yes" if e.added else "already there")
        table.add_row(*row)
    _show(table, "The allowlist is empty.")


@allowlist_app.command("list")
def allowlist_list(
    signal_type: Annotated[
        str | None, typer.Option("--type", help="Only this signal type.")
    ] = None,
    limit: LimitOption = 100,
    after: Annotated[int, typer.Option("--after", help="Continue after this entry id.")] = 0,
    json_out: JsonOption = False,
) -> None:
    """List allowlist entries."""
    entries = run_operator(
        json_out,
        lambda ctx, actor: ops.list_allowlist(
            ctx, actor, signal_type=signal_type, limit=limit, after_id=after
        ),
    )
    if json_out:
        print_json({"entries": [e.to_dict() for e in entries]})
    else:
        _print_allowlist(entries)


@allowlist_app.command("remove")
def allowlist_remove(
    entry_id: Annotated[int, typer.Argument(help="The entry id (see `allowlist list`).")],
    json_out: JsonOption = False,
) -> None:
    """Remove an allowlist entry."""
    run_operator(json_out, lambda ctx, actor: ops.remove_from_allowlist(ctx, actor, entry_id))
    if json_out:
        print_json({"removed": entry_id})
    else:
        Console().print(f"Removed allowlist entry {entry_id}.", highlight=False)


# --- retention -------------------------------------------------------------------------------


@retention_app.command("run")
def retention_run(json_out: JsonOption = False) -> None:
    """Delete match records older than each platform's retention days (run it daily)."""
    from hashwall.service.retention import run_retention

    report = run_operator(json_out, run_retention)
    if json_out:
        print_json(report.to_dict())
        return
    table = _table("platform", "retention days", "deleted before", "deleted")
    for p in report.platforms:
        table.add_row(p.platform, str(p.retention_days), _when(p.cutoff), str(p.deleted))
    _show(table, "No platforms: nothing to do.")
    Console().print(f"{report.deleted} match record(s) deleted.", highlight=False)


# --- audit -----------------------------------------------------------------------------------


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def audit_command(
    limit: LimitOption = 50,
    action: Annotated[str | None, typer.Option("--action", help="Only this action.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Only this acting key id.")] = None,
    before: Annotated[
        int | None, typer.Option("--before", help="Entries older than this id.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Show the audit log, newest first (every state change and every feed read).

    The actor is a role and a name: operator, admin:KEY_ID, partner:NAME, platform:NAME, or
    reporter (the anonymous channel).
    """
    entries = run_operator(
        json_out,
        lambda ctx, actor: ops.list_audit(
            ctx, actor, limit=limit, before_id=before, actor_key_id=key, action=action
        ),
    )
    if json_out:
        print_json({"audit": [e.to_dict() for e in entries]})
        return
    table = _table("id", "when", "actor", "action", "target", "details")
    for e in entries:
        table.add_row(
            str(e.id),
            _when(e.created_at),
            e.actor,
            e.action,
            e.target or "",
            _short(json.dumps(e.details, sort_keys=True)) if e.details else "",
        )
    _show(table, "The audit log is empty.")


def register_operator_commands(app: typer.Typer) -> None:
    """Add the operator's command groups and ``audit`` to the ``hashwall`` app."""
    app.add_typer(org_app, name="org")
    app.add_typer(platform_app, name="platform")
    app.add_typer(partner_app, name="partner")
    app.add_typer(key_app, name="key")
    app.add_typer(quarantine_app, name="quarantine")
    app.add_typer(allowlist_app, name="allowlist")
    app.add_typer(retention_app, name="retention")
    app.command("audit")(audit_command)
