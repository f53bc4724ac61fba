"""``hashwall bench feed``: how long a platform's first sync and a re-sync of a big bank take.

Builds (or reuses, cached in ``--cache``) a store of N random PDQ items written straight into
the tables (:func:`hashwall.bench.api.bank.build_store`), serves a copy of it with ``hashwall
serve`` in a subprocess, and runs ``hashwall feed sync`` in another subprocess (so that its
peak memory is its own):

1. the first sync into an empty folder;
2. a re-sync after ``--changes`` changes (half new items, written with the store's bulk
   methods as one batch of banked items; half deletions of live items, through the service);
3. a re-sync with nothing new;
4. loading the copy for matching, as ``hashwall match --bank`` does (``LocalBank.load``).

Each line: seconds, the client's peak RSS (``VmHWM``), what the sync reported, and the
size of the folder. The server's peak RSS (``VmHWM``, which includes its check index of the
whole bank) is printed at the end. ``--python-path`` runs the client (and the server) from
another source tree, e.g. an older version, for a before/after on the same bank.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

import numpy as np
from rich.console import Console
from rich.table import Table

DEFAULT_CACHE: Final = Path(tempfile.gettempdir()) / "hashwall-bench-feed"
SEED: Final = 20261204
_ADDED: Final = (
    '{{"item":"{ref}","kind":"image","trust":"vouched","signals":'
    '[{{"type":"pdq","value":"{value}","quality":90}}]}}'
)

# Runs ``hashwall ARGS...`` in this process and prints its peak RSS as the last stderr line.
_CHILD: Final = """
import json, sys, time
from hashwall.cli.main import app
started = time.perf_counter()
code = 0
try:
    app(args=sys.argv[1:], prog_name="hashwall", standalone_mode=False)
except SystemExit as exc:
    code = exc.code or 0
seconds = time.perf_counter() - started
peak = 0  # VmHWM: this process's own peak (ru_maxrss would include the parent's, from fork)
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        peak = int(line.split()[1]) * 1024
print(json.dumps({"bench_child": True, "seconds": seconds, "peak_rss": peak, "code": code}),
      file=sys.stderr)
"""


# Loads the copy for matching as ``hashwall match --bank`` does, and prints seconds and peak RSS.
_LOAD_CHILD: Final = """
import json, sys, time
from pathlib import Path
from hashwall.service.local_match import LocalBank
started = time.perf_counter()
folder = Path(sys.argv[1])
bank = LocalBank.load(folder if not (folder / "bank.json").exists() else folder / "bank.json")
seconds = time.perf_counter() - started
peak = 0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        peak = int(line.split()[1]) * 1024
print(json.dumps({"seconds": seconds, "peak_rss": peak, "items": len(bank)}))
"""


def _load_for_matching(folder: Path, python_path: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    if python_path:
        env["PYTHONPATH"] = python_path
    argv = [sys.executable, "-c", _LOAD_CHILD, str(folder)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"loading the copy failed: {done.stderr[-2000:]}")
    loaded: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def _cached_bank(n: int, cache: Path) -> tuple[Path, str, float]:
    """The SQLite file and feed key of a bank of ``n`` items, built once per ``n``."""
    from hashwall.bench.api.bank import build_store

    cache.mkdir(parents=True, exist_ok=True)
    database = cache / f"bank-{n}.sqlite"
    described = cache / f"bank-{n}.json"
    if database.exists() and described.exists():
        return database, json.loads(described.read_text())["key"], 0.0
    for leftover in cache.glob(f"bank-{n}.sqlite*"):
        leftover.unlink()
    started = time.perf_counter()
    # the tenants, the key and a case (no items), then the items straight into the tables
    built = build_store(f"sqlite:///{database}", np.zeros((0, 4), dtype=np.uint64))
    _bulk_items(database, n)
    seconds = time.perf_counter() - started
    described.write_text(json.dumps({"key": built.key, "seconds": seconds}))
    return database, built.key, seconds


def _bulk_items(database: Path, n: int, chunk: int = 200_000) -> None:
    """``n`` vouched items with one random PDQ (quality 90) and their ``item_added`` events,
    inserted in item ref order (the unique ref index grows at its end), with the signals'
    (type, value) index dropped during the load and built again after it."""
    import base64
    import sqlite3

    rng = np.random.default_rng(SEED)
    raw = rng.integers(0, 256, size=(n, 18), dtype=np.uint8).tobytes()
    refs = np.frombuffer(base64.urlsafe_b64encode(raw), dtype="S24").astype("S22")
    refs = np.sort(np.char.add(b"itm_", refs))
    now = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
    conn = sqlite3.connect(database)
    try:
        cur = conn.cursor()
        cur.execute("PRAGMA cache_size = -1048576")
        cur.execute("PRAGMA synchronous = OFF")
        (case_id,) = cur.execute("SELECT max(id) FROM cases").fetchone()
        tables = (("items", "id"), ("signals", "id"), ("events", "seq"))
        first = 1 + max(
            cur.execute(f"SELECT coalesce(max({c}), 0) FROM {t}").fetchone()[0] for t, c in tables
        )
        indexes = cur.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'signals' "
            "AND sql IS NOT NULL"
        ).fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        for lo in range(0, n, chunk):
            part = refs[lo : lo + chunk].astype("U26").tolist()
            codes = rng.integers(0, 256, size=(len(part), 32), dtype=np.uint8).tobytes().hex()
            values = [codes[i : i + 64] for i in range(0, len(codes), 64)]
            ids = range(first + lo, first + lo + len(part))
            cur.executemany(
                "INSERT INTO items (id, item_ref, case_id, kind, trust, state, csam, created_at)"
                " VALUES (?, ?, ?, 'image', 'vouched', 'active', 0, ?)",
                zip(ids, part, [case_id] * len(part), [now] * len(part), strict=True),
            )
            cur.executemany(
                "INSERT INTO signals (id, item_id, type, value, quality)"
                " VALUES (?, ?, 'pdq', ?, 90)",
                zip(ids, ids, values, strict=True),
            )
            cur.executemany(
                "INSERT INTO events (seq, type, item_id, item_ref, payload, created_at)"
                " VALUES (?, 'item_added', ?, ?, ?, ?)",
                (
                    (i, i, ref, _ADDED.format(ref=ref, value=value), now)
                    for i, ref, value in zip(ids, part, values, strict=True)
                ),
            )  # fmt: skip
            conn.commit()
        for _, sql in indexes:
            cur.execute(sql)
        conn.commit()
    finally:
        conn.close()


def _change(url: str, changes: int) -> dict[str, int]:
    """``changes`` changes: half new items (bulk), half deletions of live items."""
    from sqlalchemy import select

    from hashwall.domain import Actor
    from hashwall.hashing.signals import Signal
    from hashwall.service.context import ServiceContext
    from hashwall.service.moderation import delete_item
    from hashwall.settings import Settings
    from hashwall.store.engine import make_engine
    from hashwall.store.events import ITEM_ADDED
    from hashwall.store.repo import Store
    from hashwall.store.tables import items

    adds = changes // 2
    deletes = changes - adds
    engine = make_engine(url)
    try:
        ctx = ServiceContext(Store(engine), Settings(database_url=url))
        rng = np.random.default_rng(time.time_ns())
        codes = [bytes(r).hex() for r in rng.integers(0, 256, size=(adds, 32), dtype=np.uint8)]
        with ctx.store.write() as repo:
            partner = repo.get_partner("Bench Helpline")
            assert partner is not None
            case = repo.create_case(pin_hash="-", channel="partner", partner_id=partner.id)
            made = repo.add_items_bulk(case.id, [("image", "vouched")] * adds)
            held = [Signal("pdq", code, 90) for code in codes]
            repo.add_signals_bulk((item.id, [s]) for item, s in zip(made, held, strict=True))
            repo.append_events(
                [
                    (
                        ITEM_ADDED,
                        {
                            "item": item.item_ref,
                            "kind": "image",
                            "trust": "vouched",
                            "signals": [{"type": "pdq", "value": s.value, "quality": 90}],
                        },
                        item,
                    )
                    for item, s in zip(made, held, strict=True)
                ]
            )
        with engine.connect() as conn:
            refs = list(
                conn.execute(
                    select(items.c.item_ref).where(items.c.state == "active").limit(deletes)
                ).scalars()
            )
        for ref in refs:
            delete_item(ctx, Actor.operator(), ref, reason="bench feed")
    finally:
        engine.dispose()
    return {"added": adds, "deleted": len(refs)}


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _sync(server: str, key: str, folder: Path, python_path: str | None) -> dict[str, Any]:
    env = dict(os.environ, HASHWALL_KEY=key)
    if python_path:
        env["PYTHONPATH"] = python_path
    argv = [sys.executable, "-c", _CHILD, "feed", "sync", "--server", server, "--dir",
            str(folder), "--json"]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stderr.splitlines() if line.startswith("{")]
    child = json.loads(lines[-1]) if lines else {}
    if not child or child.get("code") or done.returncode:
        raise RuntimeError(f"feed sync failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {**child, "report": report, "folder_bytes": _folder_bytes(folder)}


def _peak_rss(pid: int) -> int:
    import psutil

    total = 0
    for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def run_feed_bench(
    *,
    bank: int,
    changes: int,
    cache: Path,
    python_path: str | None,
    json_out: bool,
) -> int:
    """Run the bench; print a table (or one JSON object); the exit code."""
    from hashwall.bench.api.server import running_server

    load = os.getloadavg()
    database, key, built = _cached_bank(bank, cache)
    with tempfile.TemporaryDirectory(prefix="hashwall-bench-feed-") as work:
        served = Path(work) / "served.sqlite"
        started = time.perf_counter()
        shutil.copyfile(database, served)
        copied = time.perf_counter() - started
        url = f"sqlite:///{served}"
        settings = {"PYTHONPATH": python_path} if python_path else None
        rows: list[dict[str, Any]] = []
        with running_server(url, (0, 1), 1, 1, settings) as server:
            address = f"http://127.0.0.1:{server.port}"
            folder = Path(work) / "copy"
            rows.append({"step": "first sync", **_sync(address, key, folder, python_path)})
            made = _change(url, changes)
            rows.append({"step": f"re-sync after {changes} changes", "changes": made,
                         **_sync(address, key, folder, python_path)})  # fmt: skip
            rows.append({"step": "re-sync, nothing new", **_sync(address, key, folder,
                                                                python_path)})  # fmt: skip
            server_peak = _peak_rss(server.process.pid)
        loaded = _load_for_matching(folder, python_path)
    result = {
        "bank": bank,
        "changes": changes,
        "build_seconds": round(built, 1),
        "copy_seconds": round(copied, 1),
        "load_average_at_start": [round(x, 2) for x in load],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "client": python_path or "this tree",
        "server_peak_rss": server_peak,
        "bench_peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "steps": rows,
        "load_for_matching": loaded,
    }
    if json_out:
        print(json.dumps(result))
        return 0
    table = Table(title=f"feed sync, bank of {bank:,} PDQ items (SQLite)")
    for column in ("step", "seconds", "client peak RSS", "items", "events", "copy on disk"):
        table.add_column(column)
    for row in rows:
        report = row["report"]
        table.add_row(
            row["step"],
            f"{row['seconds']:.1f}",
            f"{row['peak_rss'] / 2**20:,.0f} MiB",
            f"{report.get('items', 0):,}",
            f"{report.get('events', 0):,}",
            f"{row['folder_bytes'] / 2**20:,.0f} MiB",
        )
    table.add_row(
        "load for matching (match --bank)",
        f"{loaded['seconds']:.1f}",
        f"{loaded['peak_rss'] / 2**20:,.0f} MiB",
        f"{loaded['items']:,}",
        "",
        "",
    )
    console = Console()
    console.print(table)
    console.print(
        f"server peak RSS {server_peak / 2**20:,.0f} MiB (includes its check index); "
        f"load average {result['load_average_at_start']} -> {result['load_average_at_end']}; "
        f"bank built in {built:.0f} s (0: cached in {cache})"
    )
    return 0
