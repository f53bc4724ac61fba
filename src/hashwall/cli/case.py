"""``hashwall case create|status|add|withdraw|vouch|reissue-pin``: cases, over the API.

``create``, ``status``, ``add`` and ``withdraw`` are what a person does from their own computer
(or an intake partner for them); ``vouch`` and ``reissue-pin`` are intake partners' tools.

``create`` hashes the files here and sends only their signals (PDQ, md5, sha256): the images
never leave the machine. Without ``--key`` the case is anonymous (its items answer ``review``
until an intake partner vouches for it); with an intake key it is the partner's (``block``).

The PIN is a secret: ``status``, ``add``, ``withdraw`` and ``vouch`` read it from ``--pin``,
``HASHWALL_PIN``, a hidden prompt on a terminal, or the first line of standard input (in that
order). With an intake ``--key`` and no PIN given, the partner that filed the case acts without
it (except ``vouch``: a partner vouches for a case the person shows, with its PIN).

``--json`` prints one document: ``create`` ``{"case_number", "pin", "items": [{"path",
"status", "item_ref", "code", "message"}]}`` (``status``: ``accepted``, ``refused`` by the
service, or ``failed`` here, e.g. an unreadable file); ``status`` the case (``case_number``,
``channel``, ``status``, ``created_at``, ``withdrawn_at``, ``items``); ``withdraw``
``{"case_number", "case_withdrawn", "withdrawn_items", "already_withdrawn"}``; ``add``
``{"case_number", "items"}`` (as ``create``); ``vouch`` ``{"case_number", "vouched_items"}``;
``reissue-pin`` ``{"case_number", "pin"}``; a failure ``{"error": {"code", "message"}}``.

``withdraw`` asks for confirmation on a terminal and, without ``--yes``, refuses to run when
standard input is not a terminal (exit code 1, nothing withdrawn). Withdrawing what is already
withdrawn changes nothing and says so (``already_withdrawn``), with exit code 0.

Exit codes: 0 done; 1 failed (nothing changed); 3 (``create``, ``add``) the case was opened
or added to, but some files were not banked.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hashwall.cli.output import fail, print_json, progress_bar
from hashwall.cli.remote import JsonOption, KeyOption, ServerOption
from hashwall.errors import HashwallError, InvalidInput, InvalidKey

if TYPE_CHECKING:
    from hashwall.client import CaseCreated, Client, ItemOutcome
    from hashwall.hashing.image import ImageHashes
    from hashwall.hashing.vpdq import VideoHashes

    Hashed = ImageHashes | VideoHashes

#: Items per request (the service's limit); more files are added to the case in further calls.
ITEMS_PER_REQUEST = 100
#: Most video frame hashes per request (~100 bytes each: within the 1 MB of a JSON body).
FRAMES_PER_REQUEST = 8000
SOME_NOT_BANKED = 3

case_app = typer.Typer(
    name="case",
    help="A person's case: bank fingerprints of photos, look at the case, withdraw it; "
    "intake partners: vouch, re-issue a PIN; the operator, on the store: show, erase.",
    no_args_is_help=True,
)

PinOption = Annotated[
    str | None,
    typer.Option(
        "--pin",
        envvar="HASHWALL_PIN",
        help="The case's PIN (HASHWALL_PIN). Leave it out to be asked for it, hidden, or to "
        "pipe it on standard input; a PIN on the command line is visible to other users.",
        show_default=False,
    ),
]
CaseNumberArgument = Annotated[str, typer.Argument(help="The case number, e.g. HW-7K2D-Q9XM-4TRB.")]


def read_pin(pin: str | None, *, key: str | None) -> str | None:
    """The PIN from the option/env, else (without a key) a hidden prompt or stdin's first line."""
    if pin is not None:
        return pin.strip()
    if key:
        return None  # the partner that filed the case needs no PIN
    entered = getpass.getpass("PIN: ") if sys.stdin.isatty() else sys.stdin.readline()
    entered = entered.strip()
    if not entered:
        raise InvalidInput(
            "no PIN given: type it when asked, pipe it on standard input, or set HASHWALL_PIN"
        )
    return entered


def _client(server: str, key: str | None) -> Client:
    from hashwall.client import Client

    return Client(server, key=key)


def _hash_files(
    paths: list[Path], fast: bool
) -> tuple[list[tuple[Path, Hashed]], list[dict[str, Any]]]:
    """Hash every file here: ``(path, hashes)`` of those that could be, records of the others.

    A video is banked by every frame (up to ``vpdq_max_frames``, evenly spaced past that), with
    a progress bar of its own."""
    from hashwall.cli.hashing import hash_video_file, iter_paths
    from hashwall.hashing.image import hash_file
    from hashwall.hashing.vpdq_budget import seconds_per_hash_within, thinned
    from hashwall.media.video import is_video_path
    from hashwall.settings import Settings

    settings = Settings()
    files = list(iter_paths(paths))
    hashed: list[tuple[Path, Hashed]] = []
    failed: list[dict[str, Any]] = []
    cap = settings.vpdq_max_frames
    with progress_bar(show=len(files) > 1, eta=False) as progress:
        task = progress.add_task("hashing", total=len(files))
        for path in files:
            try:
                if is_video_path(path, settings):
                    every = seconds_per_hash_within(path, settings, 0.0, cap)
                    video = hash_video_file(path, settings, every, fast, progress)
                    hashed.append((path, thinned(video, cap)))
                else:
                    hashes = hash_file(
                        path, fast=fast, orientations=True, keypoints="bank", settings=settings
                    )
                    hashed.append((path, hashes))
            except HashwallError as exc:
                failed.append(_record(path, "failed", code=exc.code, message=exc.message))
            progress.advance(task)
    return hashed, failed


def _chunks(hashed: list[tuple[Path, Hashed]]) -> list[list[tuple[Path, Hashed]]]:
    """Requests' worth of items: at most ``ITEMS_PER_REQUEST``, and at most
    ``FRAMES_PER_REQUEST`` video frames unless one video alone has more."""
    chunks: list[list[tuple[Path, Hashed]]] = []
    frames = 0
    for entry in hashed:
        size = len(getattr(entry[1], "frames", ()))
        if not chunks or len(chunks[-1]) >= ITEMS_PER_REQUEST or frames + size > FRAMES_PER_REQUEST:
            chunks.append([])
            frames = 0
        chunks[-1].append(entry)
        frames += size
    return chunks


def _record(
    path: Path,
    status: str,
    *,
    item_ref: str | None = None,
    code: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    return {
        "path": str(path),
        "status": status,
        "item_ref": item_ref,
        "code": code,
        "message": message,
    }


def _outcomes(paths: list[Path], outcomes: list[ItemOutcome]) -> list[dict[str, Any]]:
    return [
        _record(
            paths[o.index],
            o.status,
            item_ref=o.item_ref,
            code=o.code,
            message=o.message,
        )
        for o in outcomes
    ]


def _refusals(paths: list[Path], problem: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for refusal in problem.get("refusals") or []:
        index = refusal.get("index")
        if isinstance(index, int) and 0 <= index < len(paths):
            out.append(
                _record(
                    paths[index],
                    "refused",
                    code=refusal.get("code"),
                    message=refusal.get("message"),
                )
            )
    return out


@case_app.command("create")
def create_command(
    paths: Annotated[list[Path], typer.Argument(help="Photos, videos or folders (recursive).")],
    server: ServerOption,
    key: KeyOption = None,
    json_out: JsonOption = False,
    fast: Annotated[
        bool, typer.Option("--fast", help="Fast hashing (reduced decode) instead of reference.")
    ] = False,
) -> None:
    """Hash photos and videos here and open a case with their fingerprints; prints the case
    number and PIN (a video is banked by every frame's hash)."""
    from hashwall.client import ApiError

    hashed, records = _hash_files(paths, fast)
    if not hashed:
        for record in records:
            _print_failure(record, json_out)
        fail(InvalidInput("no file could be hashed: nothing was sent"), json_out)
    created: CaseCreated | None = None
    with _client(server, key) as client:
        chunks = _chunks(hashed)
        for number, chunk in enumerate(chunks):
            chunk_paths = [path for path, _ in chunk]
            try:
                if created is None:
                    created = client.create_case([h for _, h in chunk])
                    records.extend(_outcomes(chunk_paths, created.items))
                else:
                    added = client.add_items(
                        created.case_number, [h for _, h in chunk], pin=created.pin
                    )
                    records.extend(_outcomes(chunk_paths, added.items))
            except ApiError as exc:
                if exc.code != "no_items_accepted":
                    _report_partial(created, records, json_out)
                    fail(exc, json_out)
                records.extend(_refusals(chunk_paths, exc.problem))
                if created is None and number == len(chunks) - 1:
                    for record in records:
                        _print_failure(record, json_out)
                    fail(exc, json_out)
            except HashwallError as exc:
                _report_partial(created, records, json_out)
                fail(exc, json_out)
    assert created is not None
    _print_created(created, records, json_out)
    banked = sum(1 for r in records if r["status"] == "accepted")
    raise typer.Exit(0 if banked == len(records) else SOME_NOT_BANKED)


def _print_failure(record: dict[str, Any], json_out: bool) -> None:
    if not json_out:
        Console(stderr=True).print(
            f"{escape(record['path'])}: [red]{record['code']}[/red]: {escape(record['message'])}",
            highlight=False,
            soft_wrap=True,
        )


def _report_partial(created: CaseCreated | None, records: list[dict[str, Any]], json: bool) -> None:
    """A case opened before a later request failed must still be shown: it holds items."""
    if created is not None:
        _print_created(created, records, json)


def _print_created(created: CaseCreated, records: list[dict[str, Any]], json_out: bool) -> None:
    if json_out:
        print_json({"case_number": created.case_number, "pin": created.pin, "items": records})
        return
    console = Console()
    console.print(f"case number: [bold]{created.case_number}[/bold]")
    console.print(f"PIN:         [bold]{created.pin}[/bold]")
    console.print(
        "Keep both somewhere safe: the PIN is shown only this once, and you need it to see "
        "or withdraw the case.",
        soft_wrap=True,
    )
    if created.channel == "anonymous":
        console.print(
            "Anonymous case: platforms send matches to review until a partner vouches for it.",
            soft_wrap=True,
        )
    console.print(_items_table(records))


def _items_table(records: list[dict[str, Any]]) -> Table:
    table = Table(show_lines=False)
    table.add_column("file", overflow="fold")
    table.add_column("status")
    table.add_column("item or reason", overflow="fold")
    for record in records:
        if record["status"] == "accepted":
            table.add_row(escape(record["path"]), "[green]banked[/green]", record["item_ref"])
        else:
            reason = f"{record['code']}: {record['message']}"
            table.add_row(escape(record["path"]), f"[red]{record['status']}[/red]", escape(reason))
    return table


@case_app.command("status")
def status_command(
    case_number: CaseNumberArgument,
    server: ServerOption,
    pin: PinOption = None,
    key: KeyOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show a case and the state of each of its items."""
    try:
        secret = read_pin(pin, key=key)
        with _client(server, key) as client:
            view = client.case_status(case_number, secret)
    except HashwallError as exc:
        fail(exc, json_out)
    if json_out:
        print_json(view.model_dump(mode="json"))
        return
    console = Console()
    console.print(
        f"case {view.case_number}: [bold]{view.status}[/bold] ({view.channel}), "
        f"opened {view.created_at:%Y-%m-%d %H:%M}"
        + (f", withdrawn {view.withdrawn_at:%Y-%m-%d %H:%M}" if view.withdrawn_at else "")
    )
    if view.removed_at is not None:
        console.print(
            f"The service removed this case at your request on {view.removed_at:%Y-%m-%d}: "
            "its fingerprints were erased and no platform matches them.",
            soft_wrap=True,
        )
        return
    table = Table(show_lines=False)
    for column in ("item", "kind", "trust", "state", "created"):
        table.add_column(column, no_wrap=column == "item")
    for item in view.items:
        table.add_row(
            item.item_ref, item.kind, item.trust, item.state, f"{item.created_at:%Y-%m-%d %H:%M}"
        )
    console.print(table)


@case_app.command("withdraw")
def withdraw_command(
    case_number: CaseNumberArgument,
    server: ServerOption,
    item: Annotated[
        str | None, typer.Option("--item", help="Withdraw only this item (its ref).")
    ] = None,
    pin: PinOption = None,
    key: KeyOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Withdraw the case (or one item): its fingerprints are erased and stop matching at once.

    Asks for confirmation on a terminal; when standard input is not a terminal (a script, a
    pipe), nothing is withdrawn without --yes.
    """
    what = f"item {item} of case {case_number}" if item else f"case {case_number}"
    if not yes and not stdin_is_terminal():
        fail(
            InvalidInput(
                f"not withdrawing {what}: standard input is not a terminal, so there is no one "
                "to confirm; add --yes to withdraw without being asked"
            ),
            json_out,
        )
    try:
        secret = read_pin(pin, key=key)
    except HashwallError as exc:
        fail(exc, json_out)
    if not yes:
        typer.confirm(f"Withdraw {what}? This cannot be undone", abort=True, err=True)
    try:
        with _client(server, key) as client:
            result = client.withdraw(case_number, secret, item_ref=item)
    except HashwallError as exc:
        fail(exc, json_out)
    # Withdrawal is idempotent: nothing newly withdrawn means it had been done before.
    already = not result.withdrawn_items
    if json_out:
        print_json({**result.model_dump(mode="json"), "already_withdrawn": already})
        return
    if already:
        Console().print(f"{what} was already withdrawn: nothing changed.")
        return
    what = "the case" if item is None else "the item"
    Console().print(
        f"withdrew {what} ({len(result.withdrawn_items)} item(s)) of case {result.case_number}: "
        "platforms no longer match them."
    )


@case_app.command("add")
def add_command(
    case_number: CaseNumberArgument,
    paths: Annotated[list[Path], typer.Argument(help="Photos, videos or folders (recursive).")],
    server: ServerOption,
    pin: PinOption = None,
    key: KeyOption = None,
    json_out: JsonOption = False,
    fast: Annotated[
        bool, typer.Option("--fast", help="Fast hashing (reduced decode) instead of reference.")
    ] = False,
) -> None:
    """Hash more photos or videos here and add their fingerprints to an active case.

    The case's PIN, or the intake --key of the partner that filed it. Exit code 3 when some
    files were not banked.
    """
    from hashwall.client import ApiError

    try:
        secret = read_pin(pin, key=key)
    except HashwallError as exc:
        fail(exc, json_out)
    hashed, records = _hash_files(paths, fast)
    if not hashed:
        for record in records:
            _print_failure(record, json_out)
        fail(InvalidInput("no file could be hashed: nothing was sent"), json_out)
    with _client(server, key) as client:
        for chunk in _chunks(hashed):
            chunk_paths = [path for path, _ in chunk]
            try:
                added = client.add_items(case_number, [h for _, h in chunk], pin=secret)
                records.extend(_outcomes(chunk_paths, added.items))
            except ApiError as exc:
                if exc.code != "no_items_accepted":
                    _print_added(case_number, records, json_out, partial=True)
                    fail(exc, json_out)
                records.extend(_refusals(chunk_paths, exc.problem))
            except HashwallError as exc:
                _print_added(case_number, records, json_out, partial=True)
                fail(exc, json_out)
    _print_added(case_number, records, json_out)
    banked = sum(1 for r in records if r["status"] == "accepted")
    raise typer.Exit(0 if banked == len(records) else SOME_NOT_BANKED)


def _print_added(
    case_number: str, records: list[dict[str, Any]], json_out: bool, *, partial: bool = False
) -> None:
    if partial and not any(r["status"] == "accepted" for r in records):
        return  # nothing was added: the failure alone says it
    if json_out:
        print_json({"case_number": case_number, "items": records})
        return
    banked = sum(1 for r in records if r["status"] == "accepted")
    Console().print(f"case {case_number}: {banked} of {len(records)} file(s) banked")
    Console().print(_items_table(records))


@case_app.command("vouch")
def vouch_command(
    case_number: CaseNumberArgument,
    server: ServerOption,
    pin: PinOption = None,
    key: KeyOption = None,
    json_out: JsonOption = False,
) -> None:
    """Intake partners: vouch for an anonymous case a person showed you (its number and PIN).

    Its unvouched items become vouched: platforms then block them instead of sending them to
    review. Needs an intake --key and the case's PIN.
    """
    if not key:
        fail(InvalidKey("vouching needs an intake key: --key or HASHWALL_KEY"), json_out)
    try:
        secret = read_pin(pin, key=None)  # the person's PIN, even with a key
        assert secret is not None
        with _client(server, key) as client:
            result = client.vouch(case_number, secret)
    except HashwallError as exc:
        fail(exc, json_out)
    if json_out:
        print_json(result.model_dump(mode="json"))
        return
    count = len(result.vouched_items)
    Console().print(
        f"vouched for case {result.case_number}: {count} item(s) now vouched"
        + ("" if count else " (none was unvouched)")
        + "."
    )


@case_app.command("reissue-pin")
def reissue_pin_command(
    case_number: CaseNumberArgument,
    server: ServerOption,
    key: KeyOption = None,
    json_out: JsonOption = False,
) -> None:
    """Intake partners: a new PIN for a case you filed (the person lost theirs).

    The old PIN stops working at once; the new one is shown this once. Needs the intake --key of
    the partner that filed the case.
    """
    if not key:
        fail(InvalidKey("re-issuing a PIN needs an intake key: --key or HASHWALL_KEY"), json_out)
    try:
        with _client(server, key) as client:
            result = client.reissue_pin(case_number)
    except HashwallError as exc:
        fail(exc, json_out)
    if json_out:
        print_json(result.model_dump(mode="json"))
        return
    console = Console()
    console.print(f"case number: [bold]{result.case_number}[/bold]")
    console.print(f"new PIN:     [bold]{result.pin}[/bold]")
    console.print(
        "Give it to the person now: it is shown only this once, and the old PIN no longer works.",
        soft_wrap=True,
    )


def stdin_is_terminal() -> bool:
    """Whether a person can answer a prompt (tests replace this)."""
    return sys.stdin.isatty()
