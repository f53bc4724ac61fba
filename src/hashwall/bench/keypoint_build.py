"""``hashwall bench keypoint-build``: the keypoint part of a live index build, from the store.

The bank: N photos written straight into a fresh migrated store (bulk inserts, as ``bench
api`` banks PDQ items): each a live item with a PDQ signal and a ``keypoints`` signal of 83
records (random codes with the first bit 0, x and y anywhere, scales of 0.3% to 10% of the
side, any angle), stored as hex text as intake stores them. No events: the build reads none.

Each read (``--read``) is timed in phases, in one read transaction as the service reads:

* ``text``: the hex read the build used before (``iter_live_signals`` in chunks of 20,000
  rows): ``read_s`` the store's rows as Python strings, ``filter_s`` the whole-record check
  per row, ``parse_s`` the join, ``bytes.fromhex`` and the record arrays;
* ``blocks``: the build's read now (``read_live_sets``: ``live_record_blocks``): ``read_s``
  the store's blocks as bytes (on PostgreSQL the store decodes the hex and sends a range of
  rows as one binary row; on SQLite the hex is read and parsed in the store method, so its
  ``read_s`` includes the hex parse), ``filter_s`` 0 (in SQL), ``parse_s`` the record arrays;

(each phase over the whole bank, one after the other, where the build did them chunk by
chunk: the same work, more memory at once), then ``index_s`` builds a
:class:`~hashwall.service.keypoints.KeypointHolder` from the sets (``add_records``), and
``total_s`` and ``photos_per_s`` sum it up. Every read must give the same sets
(``same_sets``: item ids, counts, codes and geometry of the first read).

``--json`` prints ``{"seed", "repeat", "runs": [{"backend", "n", "bank_s", "store_bytes",
"reads": [{"read", "read_s", "filter_s", "parse_s", "index_s", "total_s", "photos_per_s",
"items", "records", "same_sets"}]}]}`` (each read the fastest of ``--repeat``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from hashwall.bench.api.bank import bench_database

READS: Final = ("text", "blocks")
RECORDS_PER_PHOTO: Final = 83
#: Rows per chunk of the ``text`` read (the build's before).
TEXT_CHUNK: Final = 20_000
#: Photos generated and written per statement batch.
WRITE_CHUNK: Final = 20_000
_RECORD: Final = np.dtype(  # as hashing/keypoints.py stores one keypoint
    [("code", "<u8"), ("x", "<u2"), ("y", "<u2"), ("scale", "<u2"), ("angle", "<u2")]
)
_ITEM_COLUMNS: Final = "id, item_ref, case_id, kind, trust, state, csam, created_at"
_SIGNAL_COLUMNS: Final = "id, item_id, type, value, quality"


def photo_values(rng: np.random.Generator, photos: int) -> list[str]:
    """Keypoints values (hex) of ``photos`` generated photos, 83 whole records each."""
    n = photos * RECORDS_PER_PHOTO
    rec = np.empty(n, dtype=_RECORD)
    rec["code"] = rng.integers(0, 2**63, size=n, dtype=np.uint64) << np.uint64(1)
    rec["x"] = rng.integers(0, 65536, size=n)
    rec["y"] = rng.integers(0, 65536, size=n)
    rec["scale"] = rng.integers(200, 6554, size=n)
    rec["angle"] = rng.integers(0, 65536, size=n)
    raw = rec.tobytes()
    width = RECORDS_PER_PHOTO * _RECORD.itemsize
    return [raw[i : i + width].hex() for i in range(0, len(raw), width)]


def bank_photos(url: str, n: int, seed: int) -> float:
    """Migrate the store at ``url`` and bank ``n`` photos; the seconds it took."""
    from datetime import UTC, datetime

    from hashwall.store import migrate
    from hashwall.store.engine import make_engine
    from hashwall.store.ids import new_item_ref
    from hashwall.store.repo import Store

    started = time.perf_counter()
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        with Store(engine).write() as repo:
            case_id = repo.create_case(pin_hash="-", channel="anonymous").id
        postgres = engine.dialect.name == "postgresql"
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ") + ("+00" if postgres else "")
        rng = np.random.default_rng(seed)
        raw = engine.raw_connection()
        try:
            conn: Any = raw.driver_connection
            cur = conn.cursor()
            if not postgres:
                cur.execute("PRAGMA synchronous = OFF")
            for first in range(0, n, WRITE_CHUNK):
                values = photo_values(rng, min(WRITE_CHUNK, n - first))
                pdq = rng.bytes(32 * len(values)).hex()
                items: list[Any] = []
                signals: list[Any] = []
                for k, value in enumerate(values):
                    item_id = 1 + first + k
                    items.append(
                        (item_id, new_item_ref(), case_id, "image", "vouched", "active", False, now)
                    )
                    signals.append((2 * item_id - 1, item_id, "pdq", pdq[64 * k : 64 * k + 64], 90))
                    signals.append((2 * item_id, item_id, "keypoints", value, None))
                _write(cur, postgres, items, signals)
            if postgres:
                for table in ("items", "signals"):
                    cur.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                cur.execute("ANALYZE")
            conn.commit()
        finally:
            raw.close()
    finally:
        engine.dispose()
    return time.perf_counter() - started


def _write(cur: Any, postgres: bool, items: list[Any], signals: list[Any]) -> None:
    for table, columns, rows in (
        ("items", _ITEM_COLUMNS, items),
        ("signals", _SIGNAL_COLUMNS, signals),
    ):
        if postgres:
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ",".join("?" * len(rows[0]))
            cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def store_bytes(url: str) -> int:
    """The signals table's bytes on PostgreSQL (with its TOAST and indexes), or the SQLite
    file's."""
    from sqlalchemy import text

    from hashwall.store.engine import make_engine

    engine = make_engine(url)
    try:
        if engine.dialect.name != "postgresql":
            assert engine.url.database is not None
            return os.path.getsize(engine.url.database)
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_total_relation_size('signals')")).scalar_one())
    finally:
        engine.dispose()


def time_read(url: str, read: str) -> tuple[dict[str, Any], str]:
    """One build's keypoint part by ``read``: its phases, and a digest of the sets."""
    from hashwall.hashing.keypoints import RECORD_BYTES
    from hashwall.hashing.signals.keypoints import KeypointsSignal
    from hashwall.service.keypoints import KeypointHolder, KeypointSets
    from hashwall.store.engine import make_engine
    from hashwall.store.repo import Store

    name = KeypointsSignal.name
    engine = make_engine(url)
    try:
        with Store(engine).read() as repo:
            clock = time.perf_counter()
            if read == "text":
                chunks = list(repo.iter_live_signals(name, chunk_size=TEXT_CHUNK))
                read_s, clock = _lap(clock)
                kept = []
                for chunk in chunks:
                    pairs = [
                        (item_id, value)
                        for item_id, value in zip(chunk.item_ids, chunk.values, strict=True)
                        if value and len(value) % (2 * RECORD_BYTES) == 0
                    ]
                    if pairs:
                        kept.append(tuple(zip(*pairs, strict=True)))
                del chunks
                filter_s, clock = _lap(clock)
                parts = [KeypointSets.of(ids, values) for ids, values in kept]
                del kept
            else:
                blocks = list(repo.live_record_blocks(name, RECORD_BYTES))
                read_s, clock = _lap(clock)
                filter_s = 0.0
                parts = [KeypointSets.of_block(block) for block in blocks]
                del blocks
            parse_s, clock = _lap(clock)
    finally:
        engine.dispose()
    holder = KeypointHolder(KeypointsSignal)
    holder.build_from(parts)
    index_s, clock = _lap(clock)
    digest = hashlib.sha256()
    for field in ("item_ids", "counts", "codes", "geometry"):
        for part in parts:
            digest.update(np.ascontiguousarray(getattr(part, field)).tobytes())
    items = holder.size
    total = read_s + filter_s + parse_s + index_s
    row = {
        "read": read,
        "read_s": round(read_s, 3),
        "filter_s": round(filter_s, 3),
        "parse_s": round(parse_s, 3),
        "index_s": round(index_s, 3),
        "total_s": round(total, 3),
        "photos_per_s": round(items / total) if total else 0,
        "items": items,
        "records": int(sum(int(p.codes.size) for p in parts)),
    }
    return row, digest.hexdigest()


def _lap(since: float) -> tuple[float, float]:
    now = time.perf_counter()
    return now - since, now


def run_build(
    *,
    sizes: Sequence[int],
    backends: Sequence[str],
    postgres_url: str | None,
    reads: Sequence[str] = READS,
    repeat: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Bank each size on each backend and time each read of it (the fastest of ``repeat``)."""
    runs: list[dict[str, Any]] = []
    for backend in backends:
        for n in sizes:
            with bench_database(backend, postgres_url) as url:
                bank_s = bank_photos(url, n, seed)
                run: dict[str, Any] = {
                    "backend": backend,
                    "n": n,
                    "bank_s": round(bank_s, 2),
                    "store_bytes": store_bytes(url),
                    "reads": [],
                }
                first: str | None = None
                for read in reads:
                    rows = [time_read(url, read) for _ in range(repeat)]
                    row, digest = min(rows, key=lambda r: float(r[0]["total_s"]))
                    first = first or digest
                    row["same_sets"] = digest == first
                    run["reads"].append(row)
                runs.append(run)
    return {"seed": seed, "repeat": repeat, "runs": runs}


def print_report(report: dict[str, Any], json_out: bool) -> None:
    """The report as one JSON object, or a table."""
    if json_out:
        print(json.dumps(report))
        return
    print(
        f"{'backend':<10} {'photos':>9} {'read':<6} {'read s':>7} {'filter s':>8} "
        f"{'parse s':>7} {'index s':>7} {'total s':>7} {'photos/s':>9}  same"
    )
    for run in report["runs"]:
        for r in run["reads"]:
            print(
                f"{run['backend']:<10} {run['n']:>9,} {r['read']:<6} {r['read_s']:>7.2f} "
                f"{r['filter_s']:>8.2f} {r['parse_s']:>7.2f} {r['index_s']:>7.2f} "
                f"{r['total_s']:>7.2f} {r['photos_per_s']:>9,}  {r['same_sets']}"
            )
        print(
            f"{'':<10} (banked in {run['bank_s']:.1f} s, "
            f"{run['store_bytes'] / 1e6:,.0f} MB of signals in the store)"
        )
