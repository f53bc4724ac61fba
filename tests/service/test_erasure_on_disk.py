"""Withdrawn and deleted hash values are gone from the files of a SQLite store, not only from
its tables: no byte of them in the database file, its ``-wal`` or its ``-shm`` once the call
returns; the files are readable by their owner only."""

from __future__ import annotations

import os
import random
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from hashwall.domain import Actor
from hashwall.hashing.signals import Signal
from hashwall.service import moderation
from hashwall.service.check import CheckRequest, check
from hashwall.service.context import ServiceContext
from hashwall.service.intake import CaseReceipt, ItemSubmission, create_case
from hashwall.service.withdraw import withdraw_case, withdraw_item
from hashwall.settings import Settings
from hashwall.store import engine as engine_module
from hashwall.store import migrate
from hashwall.store.credentials import hash_api_secret
from hashwall.store.engine import ERASED_TABLES, erasure_vacuum, make_engine, vacuum_erased
from hashwall.store.repo import Store

from support import CHEAP_PINS, fresh_database_url


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "var" / "hashwall.db"


@pytest.fixture
def sqlite_ctx(database: Path) -> Iterator[ServiceContext]:
    url = f"sqlite:///{database}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield ServiceContext(Store(engine), Settings(database_url=url), pins=CHEAP_PINS)
    engine.dispose()


@pytest.fixture
def world_platform(sqlite_ctx: ServiceContext) -> Actor:
    with sqlite_ctx.store.write() as repo:
        org = repo.add_organisation("Example")
        platform = repo.add_platform(org.id, "feed")
        key = repo.add_api_key(
            role="platform",
            secret_hash=hash_api_secret("secret-feed"),
            scopes=("check",),
            platform_id=platform.id,
        )
    return Actor("platform", key.key_id, platform.id, scopes=frozenset({"check"}))


def store_files(database: Path) -> list[Path]:
    return [
        p
        for p in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm")))
        if p.exists()
    ]


def leftovers(database: Path, values: list[str]) -> list[tuple[str, str]]:
    """(file, value) for each withdrawn value found in a file: hex text either case, raw bytes."""
    found = []
    for path in store_files(database):
        data = path.read_bytes()
        for value in values:
            forms = (value.lower().encode(), value.upper().encode(), bytes.fromhex(value))
            if any(form in data for form in forms):
                found.append((path.name, value))
    return found


def random_item() -> tuple[ItemSubmission, list[str]]:
    """Signals no other test uses (so that a find is this test's leftover) and their values."""
    bits = [1] * 128 + [0] * 128  # a PDQ hash has about half of its bits set
    random.shuffle(bits)
    pdq = int("".join(map(str, bits)), 2).to_bytes(32, "big").hex()
    values = [pdq, secrets.token_hex(16), secrets.token_hex(32)]
    signals = (
        Signal("pdq", values[0], 90),
        Signal("md5", values[1]),
        Signal("sha256", values[2]),
    )
    return ItemSubmission(signals), values


def bank(ctx: ServiceContext, actor: Actor, items: int) -> tuple[CaseReceipt, list[list[str]]]:
    """A case of ``items`` new items, written through to the database file (as SQLite's
    automatic checkpoints do with time), not only to the ``-wal``."""
    submissions, values = zip(*(random_item() for _ in range(items)), strict=True)
    receipt = create_case(ctx, actor, list(submissions))
    if ctx.store.engine.dialect.name == "sqlite":
        with ctx.store.engine.connect() as conn:
            conn.connection.dbapi_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
    return receipt, list(values)


def test_a_withdrawal_leaves_no_byte_of_the_values_in_the_store_files(
    sqlite_ctx: ServiceContext, database: Path, world_platform: Actor
) -> None:
    ctx = sqlite_ctx
    receipt, values = bank(ctx, Actor.reporter(), 3)
    kept, kept_values = bank(ctx, Actor.reporter(), 1)
    # A check on the first item writes a match record (and reads the signals back).
    first = values[0]
    request = CheckRequest(signals=(Signal("pdq", first[0], 90), Signal("sha256", first[2])))
    assert check(ctx, world_platform, request).decision == "review"
    withdrawn = [v for item in values for v in item]
    found = leftovers(database, withdrawn)  # the scan finds them while they are banked
    assert {v for f, v in found if f == database.name} == set(withdrawn)

    one = withdraw_item(
        ctx, Actor.reporter(), receipt.case_number, receipt.accepted[0].item_ref, pin=receipt.pin
    )
    assert one.item_refs == (receipt.accepted[0].item_ref,)
    assert leftovers(database, values[0]) == []
    withdraw_case(ctx, Actor.reporter(), receipt.case_number, pin=receipt.pin)

    assert leftovers(database, withdrawn) == []
    # What was not withdrawn is still there (the scan is not blind after a checkpoint).
    assert {v for _, v in leftovers(database, kept_values[0])} == set(kept_values[0])
    assert kept.case_number


def test_an_operator_deletion_leaves_no_byte_of_the_values_in_the_store_files(
    sqlite_ctx: ServiceContext, database: Path
) -> None:
    receipt, values = bank(sqlite_ctx, Actor.reporter(), 2)
    moderation.delete_item(sqlite_ctx, Actor.operator(), receipt.accepted[1].item_ref)
    assert leftovers(database, values[1]) == []
    assert {v for _, v in leftovers(database, values[0])} == set(values[0])


def test_store_files_are_readable_by_their_owner_only(
    sqlite_ctx: ServiceContext, database: Path
) -> None:
    previous = os.umask(0o022)  # the usual umask: files would be world-readable by default
    try:
        other = database.with_name("other.db")
        engine = make_engine(f"sqlite:///{other}")
        migrate.upgrade(engine)
        with engine.connect() as conn:  # keeps -wal and -shm in existence
            conn.exec_driver_sql("SELECT 1")
            files = store_files(other)
            assert {p.name for p in files} == {"other.db", "other.db-wal", "other.db-shm"}
            for path in files:
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        engine.dispose()
    finally:
        os.umask(previous)
    bank(sqlite_ctx, Actor.reporter(), 1)
    for path in store_files(database):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path.name


def test_without_secure_delete_the_scan_finds_what_a_deletion_left(
    sqlite_ctx: ServiceContext, database: Path
) -> None:
    """The control: SQLite builds differ in their default; hashwall turns it on itself."""

    @event.listens_for(sqlite_ctx.store.engine, "connect")
    def _off(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA secure_delete = OFF")

    sqlite_ctx.store.engine.dispose()  # new connections, with the listener
    receipt, values = bank(sqlite_ctx, Actor.reporter(), 2)
    withdraw_case(sqlite_ctx, Actor.reporter(), receipt.case_number, pin=receipt.pin)
    assert leftovers(database, [v for item in values for v in item])


# --- PostgreSQL: what stays until VACUUM, and what VACUUM removes ------------------------------


@pytest.fixture
def postgres_ctx(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServiceContext]:
    url = fresh_database_url("postgresql", tmp_path, request)
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.connect() as conn:  # reads raw pages (superuser); installed once per database
        autocommit = conn.execution_options(isolation_level="AUTOCOMMIT")
        autocommit.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pageinspect SCHEMA public")
    yield ServiceContext(Store(engine), Settings(database_url=url), pins=CHEAP_PINS)
    engine.dispose()


def pages(ctx: ServiceContext, table: str) -> list[tuple[bytes, list[bytes]]]:
    """Each page of ``table`` and of its indexes: its raw bytes, and its tuples' data (live or
    dead, as a reader of the data files sees them)."""
    out = []
    with ctx.store.engine.connect() as conn:
        relations = [table] + [
            row[0]
            for row in conn.exec_driver_sql(
                "SELECT indexrelid::regclass::text FROM pg_index "
                f"WHERE indrelid = '{table}'::regclass"
            )
        ]
        for relation in relations:
            count = conn.exec_driver_sql(
                f"SELECT pg_relation_size('{relation}') / current_setting('block_size')::int"
            ).scalar_one()
            for block in range(count):
                raw = conn.exec_driver_sql(
                    f"SELECT public.get_raw_page('{relation}', {block})"
                ).scalar_one()
                tuples = []
                if relation == table:
                    tuples = [
                        bytes(row[0])
                        for row in conn.exec_driver_sql(
                            "SELECT t_data FROM public.heap_page_items("
                            f"public.get_raw_page('{relation}', {block})) WHERE t_data IS NOT NULL"
                        )
                    ]
                out.append((bytes(raw), tuples))
    return out


def in_tuples(ctx: ServiceContext, values: list[str]) -> set[str]:
    return {
        value
        for table in ERASED_TABLES
        for _, tuples in pages(ctx, table)
        for data in tuples
        for value in values
        if value.encode() in data
    }


def in_bytes(ctx: ServiceContext, values: list[str]) -> set[str]:
    return {
        value
        for table in ERASED_TABLES
        for raw, _ in pages(ctx, table)
        for value in values
        if value.encode() in raw
    }


def until_gone(found: Callable[[], set[str]], vacuum: Callable[[], object]) -> None:
    """Vacuum until nothing is found; a bound on a hang, not a measure of speed."""
    deadline = time.monotonic() + 60
    while found():
        assert time.monotonic() < deadline, f"still found after VACUUM: {found()}"
        time.sleep(0.2)
        vacuum()


def test_postgresql_keeps_withdrawn_values_in_dead_rows_until_vacuum_removes_them(
    postgres_ctx: ServiceContext,
) -> None:
    ctx = postgres_ctx
    receipt, values = bank(ctx, Actor.reporter(), 3)
    _, kept = bank(ctx, Actor.reporter(), 1)
    withdrawn = [v for item in values for v in item]
    withdraw_case(ctx, Actor.reporter(), receipt.case_number, pin=receipt.pin)
    # The residual exposure: gone from every table, still in the data files' dead rows.
    assert in_tuples(ctx, withdrawn) == set(withdrawn)
    assert vacuum_erased(ctx.store.engine) == ERASED_TABLES
    # A transaction older than the withdrawal (another session's, on this shared test server)
    # keeps the old rows alive for it: VACUUM removes them once no snapshot can see them.
    until_gone(lambda: in_tuples(ctx, withdrawn), lambda: vacuum_erased(ctx.store.engine))
    assert in_tuples(ctx, kept[0]) == set(kept[0])
    # VACUUM FULL rewrites the tables: no byte of them in the pages either.
    until_gone(lambda: in_bytes(ctx, withdrawn), lambda: vacuum_erased(ctx.store.engine, full=True))
    assert in_bytes(ctx, kept[0]) == set(kept[0])


def test_postgresql_vacuums_in_the_background_after_a_withdrawal(
    postgres_ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "VACUUM_DELAY", 0.0)
    monkeypatch.setattr(engine_module, "VACUUM_SPACING", 0.0)
    ctx = postgres_ctx
    vacuum = erasure_vacuum(ctx.store.engine)
    receipt, values = bank(ctx, Actor.reporter(), 2)
    assert vacuum.runs == 0  # banking erases nothing
    withdrawn = [v for item in values for v in item]
    withdraw_case(ctx, Actor.reporter(), receipt.case_number, pin=receipt.pin)
    assert vacuum.wait_for_run(1, timeout=60)  # a bound on a hang, not a measure of speed

    def again() -> None:  # another session's older snapshot kept them: the next run removes them
        runs = vacuum.runs
        vacuum.request()
        assert vacuum.wait_for_run(runs + 1, timeout=60)

    until_gone(lambda: in_tuples(ctx, withdrawn), again)
