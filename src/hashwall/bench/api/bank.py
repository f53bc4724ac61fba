"""The bank of ``bench api``: generated hashes, written straight into a migrated store."""

from __future__ import annotations

import json
import secrets
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

CHUNK: Final = 50_000
QUALITY: Final = 90

# --- the bank ---------------------------------------------------------------------------------


def hexes(words: npt.NDArray[np.uint64]) -> list[str]:
    """The 64-hex-digit codes of ``(k, 4)`` words."""
    raw = np.ascontiguousarray(words, dtype=np.uint64).astype(">u8").tobytes()
    return [raw[i : i + 32].hex() for i in range(0, len(raw), 32)]


def make_hashes(
    n: int, queries: int, seed: int, photos: Path | None
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """``(bank, strangers)``: N bank hashes and hashes of other images (``(k, 4)`` words)."""
    from hashwall.bench.index_data import make_data, photo_hashes

    bases = None
    if photos is not None and photos.exists():
        try:
            bases = photo_hashes(photos)
        except FileNotFoundError:
            bases = None
    bank, mixed = make_data("photos" if bases is not None else "random", n, queries, seed, bases)
    return bank, mixed[1::2] if bases is not None else mixed


def pdq_like(words: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    """Which rows have a popcount a PDQ hash can have (the API refuses others: ``invalid_hash``)."""
    from hashwall.hashing.pdq import POPCOUNT_MAX, POPCOUNT_MIN

    rows = np.ascontiguousarray(words, dtype=np.uint64).astype(">u8").view(np.uint8)
    count = np.unpackbits(rows.reshape(words.shape[0], -1), axis=1).sum(axis=1)
    mask: npt.NDArray[np.bool_] = (count >= POPCOUNT_MIN) & (count <= POPCOUNT_MAX)
    return mask


@dataclass(frozen=True, slots=True)
class BenchStore:
    """A migrated store with a platform key and a bank of ``size`` PDQ hashes."""

    url: str
    key: str
    size: int
    seconds: float


def _now_text() -> str:
    return datetime.now(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _rows(
    codes: Sequence[str], first_id: int, case_id: int, now: str, trust: str = "vouched"
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    from hashwall.store.ids import new_item_ref

    items, signals, events = [], [], []
    for offset, code in enumerate(codes):
        row_id = first_id + offset
        ref = new_item_ref()
        items.append((row_id, ref, case_id, "image", trust, "active", False, now))
        signals.append((row_id, row_id, "pdq", code, QUALITY))
        payload = {
            "item": ref,
            "kind": "image",
            "trust": trust,
            "signals": [{"type": "pdq", "value": code, "quality": QUALITY}],
        }
        events.append((row_id, "item_added", row_id, ref, json.dumps(payload), now))
    return items, signals, events


_ITEM_COLUMNS: Final = "id, item_ref, case_id, kind, trust, state, csam, created_at"
_SIGNAL_COLUMNS: Final = "id, item_id, type, value, quality"
_EVENT_COLUMNS: Final = "seq, type, item_id, item_ref, payload, created_at"


def _bulk_sqlite(
    conn: Any, chunks: Iterator[list[str]], case_id: int, start: int, trust: str
) -> None:
    now = _now_text()
    cur = conn.cursor()
    # A bulk load into a throwaway file: a big page cache for the random index inserts.
    cur.execute("PRAGMA cache_size = -1048576")
    cur.execute("PRAGMA synchronous = OFF")
    next_id = start
    for codes in chunks:
        items, signals, events = _rows(codes, next_id, case_id, now, trust)
        cur.executemany(f"INSERT INTO items ({_ITEM_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", items)
        cur.executemany(f"INSERT INTO signals ({_SIGNAL_COLUMNS}) VALUES (?,?,?,?,?)", signals)
        cur.executemany(f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?,?,?,?,?,?)", events)
        next_id += len(codes)
    conn.commit()


def _bulk_postgres(
    conn: Any, chunks: Iterator[list[str]], case_id: int, start: int, trust: str
) -> None:
    now = _now_text() + "+00"
    cur = conn.cursor()
    next_id = start
    for codes in chunks:
        items, signals, events = _rows(codes, next_id, case_id, now, trust)
        for table, columns, rows in (
            ("items", _ITEM_COLUMNS, items),
            ("signals", _SIGNAL_COLUMNS, signals),
            ("events", _EVENT_COLUMNS, events),
        ):
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        next_id += len(codes)
    for table, column in (("items", "id"), ("signals", "id"), ("events", "seq")):
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
            f"(SELECT max({column}) FROM {table}))"
        )
    cur.execute("ANALYZE")
    conn.commit()


def build_store(
    url: str,
    bank: npt.NDArray[np.uint64],
    *,
    trust: str = "vouched",
    unvouched_answer: str = "review",
) -> BenchStore:
    """Migrate, create a platform (with ``unvouched_answer``) and its key, and bulk-insert the
    bank (items of ``trust``, in one case)."""
    from sqlalchemy import func, select

    from hashwall.domain import Actor
    from hashwall.service import keys, tenants
    from hashwall.service.context import ServiceContext
    from hashwall.settings import Settings
    from hashwall.store import migrate
    from hashwall.store.engine import make_engine
    from hashwall.store.repo import Store
    from hashwall.store.tables import events, items, signals

    started = time.perf_counter()
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        ctx = ServiceContext(Store(engine), Settings(database_url=url))
        op = Actor.operator()
        tenants.add_organisation(ctx, op, "Bench Co")
        policy = tenants.PolicyUpdate.from_mapping({"unvouched_answer": unvouched_answer})
        tenants.add_platform(ctx, op, organisation="Bench Co", name="bench", policy=policy)
        tenants.add_partner(ctx, op, "Bench Helpline")
        key = keys.create_api_key(ctx, op, role="platform", platform="bench").key
        with ctx.store.write() as repo:
            partner = repo.get_partner("Bench Helpline")
            assert partner is not None
            case = repo.create_case(pin_hash="-", channel="partner", partner_id=partner.id)
        with engine.connect() as conn:
            start = 1 + max(
                int(conn.execute(select(func.coalesce(func.max(t), 0))).scalar_one())
                for t in (items.c.id, signals.c.id, events.c.seq)
            )
        codes = hexes(bank)
        chunks = (codes[i : i + CHUNK] for i in range(0, len(codes), CHUNK))
        raw = engine.raw_connection()
        try:
            if engine.dialect.name == "postgresql":
                _bulk_postgres(raw.driver_connection, chunks, case.id, start, trust)
            else:
                _bulk_sqlite(raw.driver_connection, chunks, case.id, start, trust)
        finally:
            raw.close()
    finally:
        engine.dispose()
    return BenchStore(url, key, len(bank), time.perf_counter() - started)


@contextmanager
def bench_database(backend: str, postgres_url: str | None) -> Iterator[str]:
    """A fresh empty database (temporary SQLite file or PostgreSQL schema), dropped after."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="hashwall-bench-") as folder:
            yield f"sqlite:///{folder}/hashwall.db"
        return
    from sqlalchemy import text

    from hashwall.store.engine import make_engine, normalise_url

    assert postgres_url is not None
    admin = make_engine(postgres_url)
    schema = f"bench_{secrets.token_hex(6)}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = normalise_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
