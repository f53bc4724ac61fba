"""``hashwall feed sync``: keep a local copy of the bank, for platforms that match locally.

The copy is a folder (``--dir``, :mod:`hashwall.service.feed_copy`): the bank's items and
signals as ``.npy`` columns that the local matcher (``hashwall match --bank DIR``) loads as they
are, a log of the changes since, and ``meta.json`` (server, platform, policy, cursor). Every file
has mode 0600 (signals are sensitive).

A first sync reads the feed's snapshot as binary blocks (``GET /v1/feed/snapshot``; JSON pages
from a server without it) straight into the copy's files, then the events after it as JSON
pages (``GET /v1/feed``); a later sync reads only the events since the saved cursor and appends
them to the log (withdrawn and deleted items leave the live set at once). The cursor is saved
(atomically, with what counts) after the last page and at least every ``--checkpoint`` seconds:
an interrupted sync resumes from there, also in the middle of the first snapshot. A cursor the
server no longer accepts (``invalid_cursor``), or another server, starts over from a fresh
snapshot. A folder holding a copy of the old form (``bank.json``) is converted once (the JSON
file is removed); ``hashwall feed export`` writes that form from a copy.

``--json`` prints one object: ``{"dir", "platform", "resumed", "pages", "blocks",
"snapshot_items", "events", "added", "removed", "items", "head_seq", "compacted"}``. Exit code 0,
or 1 on failure (what was synced before the failure is kept).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer
from rich.console import Console

from hashwall.cli.output import fail, print_json
from hashwall.cli.remote import JsonOption, KeyOption, ServerOption
from hashwall.errors import HashwallError, InvalidInput, InvalidKey

if TYPE_CHECKING:
    from hashwall.client import Client
    from hashwall.service.feed_copy import FeedCopy

#: The old JSON copy's file name (converted on the first sync; written by ``feed export``).
BANK_FILE: Final = "bank.json"

feed_app = typer.Typer(
    name="feed",
    help="The bank's feed: a local copy for matching uploads locally.",
    no_args_is_help=True,
)


def write_atomically(path: Path, document: Any) -> None:
    """Replace ``path`` with ``document`` as JSON, all or nothing, readable by the owner only."""
    from hashwall.service.feed_copy_files import write_json_atomically

    write_json_atomically(path, document)


def open_copy(directory: Path, server: str) -> FeedCopy:
    """The copy in ``directory`` for ``server``; an old ``bank.json`` there is converted."""
    from hashwall.service.feed_copy import META_FILE, FeedCopy, write_base

    legacy = directory / BANK_FILE
    if (directory / META_FILE).exists() or not legacy.exists():
        return FeedCopy.open(directory, server)
    try:
        saved = json.loads(legacy.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read {legacy}: {exc}; move it away to start over") from None
    from hashwall.service.feed_copy_view import JSON_FORMAT

    if not isinstance(saved, dict) or saved.get("format") != JSON_FORMAT:
        raise InvalidInput(f"{legacy} is not a hashwall feed copy; move it away to start over")
    copy = FeedCopy.open(directory, server)
    phase = _phase(saved.get("cursor"))
    if saved.get("server") == server and phase is not None:
        copy.begin_snapshot(str(saved.get("platform")), saved.get("policy") or {})
        cursor, head = saved["cursor"], int(saved.get("head_seq") or 0)
        write_base(copy, dict(saved.get("items") or {}), cursor, head)
        if phase == "events":
            copy.finish_snapshot(cursor, head)
    legacy.unlink()  # converted (or another server's, or unusable: started over)
    return copy


def _phase(cursor: object) -> str | None:
    """The phase of a saved cursor (None: none, or not one this version can read)."""
    from hashwall.service.feed import Cursor

    if not isinstance(cursor, str):
        return None
    try:
        return Cursor.decode(cursor).phase
    except HashwallError:
        return None


class _Sync:
    """One run of ``feed sync``: reads, applies, checkpoints, counts."""

    def __init__(self, client: Client, copy: FeedCopy, *, limit: int, block: int,
                 checkpoint: float) -> None:  # fmt: skip
        self.client, self.copy = client, copy
        self.limit, self.block, self.checkpoint = limit, block, checkpoint
        self.counts = {"pages": 0, "blocks": 0, "snapshot_items": 0, "events": 0,
                       "added": 0, "removed": 0}  # fmt: skip
        self.saved_at = time.monotonic()

    def _platform(self, platform: str) -> None:
        held = self.copy.meta.get("platform")
        if held is not None and platform != held:
            raise InvalidInput(
                f"this key reads the feed of {platform!r}, but {self.copy.directory} holds "
                f"{held!r}'s: use another --dir"
            )

    def _due(self) -> bool:
        return time.monotonic() - self.saved_at >= self.checkpoint

    def snapshot(self, resume: bool) -> bool:
        """Read the binary snapshot into the base; False if the server has no such endpoint."""
        from hashwall.client import ApiError
        from hashwall.service.feed_blocks import block_of, read_frames

        copy = self.copy
        cursor = copy.cursor if resume else None
        head = int(copy.meta.get("head_seq") or 0)
        try:
            with self.client.feed_snapshot(cursor, block=self.block) as body:
                for header, arrays in read_frames(body):
                    kind = header.get("kind")
                    if kind == "start":
                        self._platform(str(header["platform"]))
                        head = int(header["head_seq"])
                        if not resume:
                            copy.begin_snapshot(str(header["platform"]), header["policy"])
                        copy.meta["policy"] = header["policy"]
                    elif kind == "items":
                        block = block_of(header, arrays)
                        copy.add_block(block)
                        self.counts["blocks"] += 1
                        self.counts["snapshot_items"] += len(block)
                        self.counts["added"] += len(block)
                        if self._due():
                            copy.checkpoint(str(header["cursor"]), head)
                            self.saved_at = time.monotonic()
                    elif kind == "end":
                        copy.finish_snapshot(str(header["cursor"]), head)
                        return True
        except ApiError as exc:
            if exc.status in (404, 405):
                return False
            raise
        raise InvalidInput("the feed's snapshot stream ended early; sync again to resume")

    def pages(self) -> None:
        """Read JSON pages from the copy's cursor until the feed has nothing more."""
        from hashwall.service.feed import Cursor
        from hashwall.service.feed_changes import changes_of_events
        from hashwall.service.feed_copy_view import block_of_items

        copy = self.copy
        for page in self.client.iter_feed(copy.cursor, limit=self.limit):
            self._platform(page.platform)
            wire = page.wire()
            if copy.cursor is None:
                copy.begin_snapshot(page.platform, wire["policy"])
            if wire["items"]:
                copy.add_block(block_of_items((i["item"], i) for i in wire["items"]))
            changes = changes_of_events(wire["events"])
            copy.append_changes(changes)
            copy.meta["policy"] = wire["policy"]
            self.counts["pages"] += 1
            self.counts["snapshot_items"] += len(wire["items"])
            self.counts["events"] += len(wire["events"])
            self.counts["added"] += len(wire["items"]) + sum(c["op"] == "put" for c in changes)
            self.counts["removed"] += sum(c["op"] == "del" for c in changes)
            if copy.meta.get("building") and Cursor.decode(page.cursor).phase == "events":
                copy.finish_snapshot(page.cursor, page.head_seq)
            elif copy.meta.get("building") or self._due() or not page.more:
                copy.checkpoint(page.cursor, page.head_seq)
                self.saved_at = time.monotonic()
            else:
                copy.meta.update(cursor=page.cursor, head_seq=page.head_seq)
            copy.erase(changes)

    def run(self) -> bool:
        """Sync; whether it resumed a saved position."""
        from hashwall.client import ApiError

        copy = self.copy
        resumed = copy.cursor is not None
        try:
            try:
                self._phases()
            except ApiError as exc:
                if exc.code != "invalid_cursor":
                    raise
                copy.meta.update(cursor=None, platform=None)
                resumed = False
                self._phases()
        finally:
            if not copy.meta.get("building") and _phase(copy.cursor) == "events":
                copy.save_meta()  # the pages applied so far, with their cursor
            copy.close()
        return resumed

    def _phases(self) -> None:
        copy = self.copy
        phase = _phase(copy.cursor)
        if phase is None:
            copy.meta.update(cursor=None, platform=None)
        if phase != "events":
            # False: an older server without the binary snapshot; its JSON pages carry it too
            self.snapshot(resume=phase == "snapshot")
        self.pages()


def sync(
    client: Client, copy: FeedCopy, *, limit: int, block: int = 50_000, checkpoint: float = 10.0
) -> dict[str, Any]:
    """Bring ``copy`` up to date (resuming where it stands); the counts of what changed."""
    run = _Sync(client, copy, limit=limit, block=block, checkpoint=checkpoint)
    resumed = run.run()
    compacted = False
    if copy.needs_compaction():
        copy.compact()
        compacted = True
    return {
        "dir": str(copy.directory),
        "platform": copy.meta.get("platform"),
        "resumed": resumed,
        **run.counts,
        "items": len(copy.view()),
        "head_seq": int(copy.meta.get("head_seq") or 0),
        "compacted": compacted,
    }


@feed_app.command("sync")
def sync_command(
    server: ServerOption,
    key: KeyOption = None,
    directory: Annotated[Path, typer.Option("--dir", help="The folder of the local copy.")] = Path(
        "./var/feed"
    ),
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, help="Items plus events per JSON page.")
    ] = 10_000,
    block: Annotated[
        int, typer.Option(min=1, max=200_000, help="Items per block of the binary snapshot.")
    ] = 50_000,
    checkpoint: Annotated[
        float, typer.Option(min=0.0, help="Save at least this often (s) during a long sync.")
    ] = 10.0,
    json_out: JsonOption = False,
) -> None:
    """Bring the local copy of the bank up to date (resumes where the last sync stopped)."""
    from hashwall.client import Client

    if not key:
        fail(
            InvalidKey("a platform key with the feed scope is needed: --key or HASHWALL_KEY"),
            json_out,
            2,
        )
    try:
        copy = open_copy(directory, server.rstrip("/"))
        with Client(server, key=key) as client:
            report = sync(client, copy, limit=limit, block=block, checkpoint=checkpoint)
    except HashwallError as exc:
        fail(exc, json_out)
    except OSError as exc:
        fail(InvalidInput(f"cannot write the copy in {directory}: {exc}"), json_out)
    if json_out:
        print_json(report)
        return
    how = "resumed" if report["resumed"] else "started"
    Console().print(
        f"{how}: {report['blocks']} block(s), {report['pages']} page(s), "
        f"{report['snapshot_items']} snapshot item(s), {report['events']} event(s); "
        f"+{report['added']} -{report['removed']}: {report['items']} live item(s) of "
        f"{report['platform']}, at event {report['head_seq']} -> {report['dir']}",
        soft_wrap=True,
    )


@feed_app.command("export")
def export_command(
    directory: Annotated[Path, typer.Option("--dir", help="The folder of the local copy.")] = Path(
        "./var/feed"
    ),
    out: Annotated[Path, typer.Option("--out", help="The JSON file to write (mode 0600).")] = Path(
        "bank.json"
    ),
    json_out: JsonOption = False,
) -> None:
    """Write the local copy as one JSON document (the form of ``bank.json``)."""
    from hashwall.service.feed_copy import FeedCopy
    from hashwall.service.feed_copy_files import write_json_atomically

    try:
        document = FeedCopy.read_view(directory)[1].document()
        write_json_atomically(out, document)
    except HashwallError as exc:
        fail(exc, json_out)
    except OSError as exc:
        fail(InvalidInput(f"cannot write {out}: {exc}"), json_out)
    report = {"file": str(out), "items": len(document["items"]), "head_seq": document["head_seq"]}
    if json_out:
        print_json(report)
        return
    Console().print(f"{report['items']} live item(s) -> {out}", soft_wrap=True)
