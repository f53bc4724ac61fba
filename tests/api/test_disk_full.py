"""A full disk under the SQLite store: clean refusals, nothing half-written, and back by itself.

The store lives on a small tmpfs mounted by the test (root only; skipped otherwise), filled to
the last byte. Writes answer ``503 store_unavailable`` with ``Retry-After`` (never a 500); a
check of a banked photo never answers ``allow`` (it answers from the store, or refuses); the
failed writes leave nothing behind; once space is freed, writes work again without a restart.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from hashwall.store.tables import cases

from app_harness import Api, check_json, hashes_of, item_json, jpeg, photo, running_api


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs of the test's own."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
        check=False,
        capture_output=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    """Write a file until the file system is full (to the last byte); return it."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        size = 1 << 16
        while size:
            try:
                os.write(fd, b"\0" * size)
            except OSError:
                size //= 2
    finally:
        os.close(fd)
    return filler


def _cases(api: Api) -> int:
    with api.ctx.store.read() as repo:
        return int(repo.conn.execute(select(func.count()).select_from(cases)).scalar_one())


def _create(api: Api, seed: int) -> Any:
    body = {"items": [item_json(hashes_of(jpeg(photo(seed))))]}
    return api.post(
        "/v1/cases", "intake_a", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )


def test_a_full_disk_refuses_writes_cleanly_and_recovers_without_a_restart(
    small_disk: Path,
) -> None:
    with running_api(f"sqlite:///{small_disk / 'hashwall.db'}") as api:
        banked = _create(api, 3)
        assert banked.status_code == 201, banked.text
        api.catch_up()
        with api.ctx.store.engine.connect() as conn:  # an empty WAL: every commit needs space
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        filler = _fill(small_disk)

        for seed in (4, 5, 6):
            refused = _create(api, seed)
            assert refused.status_code == 503, refused.text
            assert refused.json()["code"] == "store_unavailable"
            assert "Retry-After" in refused.headers
        assert _cases(api) == 1  # nothing half-written
        check = api.post("/v1/check", "feed", json=check_json(hashes_of(jpeg(photo(3)))))
        assert check.status_code in (200, 503), check.text
        if check.status_code == 200:
            assert check.json()["decision"] == "block"
        else:
            assert check.json()["code"] == "store_unavailable"

        filler.unlink()
        created = _create(api, 7)
        assert created.status_code == 201, created.text
        assert _cases(api) == 2
        with api.ctx.store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
