"""``hashwall feed sync``: keep a local copy of the bank, for platforms that match locally.

Reads the feed (``GET /v1/feed``, a platform key with the ``feed`` scope) from where the last
run stopped, applies every page (:class:`hashwall.service.feed.FeedMirror`: snapshot, then
events) and saves ``<dir>/bank.json``:

``{"format", "server", "platform", "policy", "cursor", "head_seq", "synced_at", "items":
{item_ref: {"kind", "trust", "state", "signals"}}}``

The file is replaced atomically (a temporary file in the same folder, flushed to disk, then
renamed), with mode 0600 (signals are sensitive), after the last page and at least every
``--checkpoint`` seconds on a long first sync; an interrupted run resumes from the last saved
cursor. A cursor the server no longer accepts (``invalid_cursor``), or another server, starts
over from a fresh snapshot.

``--json`` prints one object: ``{"file", "platform", "resumed", "pages", "snapshot_items",
"events", "added", "removed", "items", "head_seq"}``. Exit code 0, or 1 on failure (what was
synced before the failure is kept).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer
from rich.console import Console

from hashwall.cli.output import fail, print_json
from hashwall.cli.remote import JsonOption, KeyOption, ServerOption
from hashwall.errors import HashwallError, InvalidInput, InvalidKey

if TYPE_CHECKING:
    from hashwall.client import Client, FeedPage
    from hashwall.service.feed import FeedMirror

FORMAT: Final = "hashwall-feed-mirror/1"
BANK_FILE: Final = "bank.json"

feed_app = typer.Typer(
    name="feed",
    help="The bank's feed: a local copy for matching uploads locally.",
    no_args_is_help=True,
)


def write_atomically(path: Path, document: Any) -> None:
    """Replace ``path`` with ``document`` as JSON, all or nothing, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class LocalBank:
    """The saved copy: a :class:`FeedMirror` plus what was last heard from the server."""

    def __init__(self, path: Path, server: str) -> None:
        from hashwall.service.feed import FeedMirror

        self.path = path
        self.server = server
        self.mirror: FeedMirror = FeedMirror()
        self.platform: str | None = None
        self.policy: dict[str, Any] | None = None
        self.head_seq = 0

    @classmethod
    def load(cls, path: Path, server: str) -> LocalBank:
        """The saved copy for ``server``, or an empty one (none yet, or another server's)."""
        bank = cls(path, server)
        if not path.exists():
            return bank
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot read {path}: {exc}; move it away to start over") from None
        if not isinstance(saved, dict) or saved.get("format") != FORMAT:
            raise InvalidInput(f"{path} is not a hashwall feed copy; move it away to start over")
        if saved.get("server") != server:
            return bank
        bank.mirror.items = dict(saved["items"])
        bank.mirror.cursor = saved["cursor"]
        bank.platform = saved.get("platform")
        bank.policy = saved.get("policy")
        bank.head_seq = int(saved.get("head_seq") or 0)
        return bank

    def reset(self) -> None:
        """Forget everything: the next read starts a fresh snapshot."""
        self.mirror.items.clear()
        self.mirror.cursor = None
        self.platform = None

    def apply(self, page: FeedPage) -> None:
        """Apply one page (the mirror remembers its cursor)."""
        self.mirror.apply(page.wire())
        self.platform = page.platform
        self.policy = page.policy.model_dump(mode="json")
        self.head_seq = page.head_seq

    def save(self) -> None:
        """Write the copy atomically."""
        write_atomically(
            self.path,
            {
                "format": FORMAT,
                "server": self.server,
                "platform": self.platform,
                "policy": self.policy,
                "cursor": self.mirror.cursor,
                "head_seq": self.head_seq,
                "synced_at": datetime.now(UTC).isoformat(),
                "items": self.mirror.items,
            },
        )


def sync(client: Client, bank: LocalBank, *, limit: int, checkpoint: float) -> dict[str, Any]:
    """Read pages until the feed has nothing more; save; the counts of what changed."""
    from hashwall.client import ApiError

    before = set(bank.mirror.items)
    resumed = bank.mirror.cursor is not None
    counts = {"pages": 0, "snapshot_items": 0, "events": 0}
    saved_at = time.monotonic()
    try:
        try:
            pages = client.iter_feed(bank.mirror.cursor, limit=limit)
            page = next(pages)
        except ApiError as exc:
            if exc.code != "invalid_cursor":
                raise
            bank.reset()
            resumed = False
            pages = client.iter_feed(None, limit=limit)
            page = next(pages)
        while True:
            if bank.platform is not None and page.platform != bank.platform:
                raise InvalidInput(
                    f"this key reads the feed of {page.platform!r}, but {bank.path} holds "
                    f"{bank.platform!r}'s: use another --dir"
                )
            bank.apply(page)
            counts["pages"] += 1
            counts["snapshot_items"] += len(page.items)
            counts["events"] += len(page.events)
            if time.monotonic() - saved_at >= checkpoint:
                bank.save()
                saved_at = time.monotonic()
            next_page = next(pages, None)
            if next_page is None:
                break
            page = next_page
    finally:
        if counts["pages"]:
            bank.save()
    after = set(bank.mirror.items)
    return {
        "file": str(bank.path),
        "platform": bank.platform,
        "resumed": resumed,
        **counts,
        "added": len(after - before),
        "removed": len(before - after),
        "items": len(after),
        "head_seq": bank.head_seq,
    }


@feed_app.command("sync")
def sync_command(
    server: ServerOption,
    key: KeyOption = None,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the local copy (bank.json) is kept.")
    ] = Path("./var/feed"),
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, help="Items plus events per page.")
    ] = 1000,
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
        bank = LocalBank.load(directory / BANK_FILE, server.rstrip("/"))
        with Client(server, key=key) as client:
            report = sync(client, bank, limit=limit, checkpoint=checkpoint)
    except HashwallError as exc:
        fail(exc, json_out)
    except OSError as exc:
        fail(InvalidInput(f"cannot write {directory / BANK_FILE}: {exc}"), json_out)
    if json_out:
        print_json(report)
        return
    how = "resumed" if report["resumed"] else "started"
    Console().print(
        f"{how}: {report['pages']} page(s), {report['snapshot_items']} snapshot item(s), "
        f"{report['events']} event(s); +{report['added']} -{report['removed']}: "
        f"{report['items']} live item(s) of {report['platform']}, at event {report['head_seq']} "
        f"-> {report['file']}",
        soft_wrap=True,
    )
