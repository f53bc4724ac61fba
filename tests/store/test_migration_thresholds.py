"""Migration 0004: a platform's PDQ radius (``pdq_threshold``) becomes its entry in the
per-type ``thresholds`` map, and back; the keys and matches that point at the platform stay."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from hashwall.store import migrate
from hashwall.store.repo import Store

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def _platform_at_0003(engine: Engine, name: str, radius: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO organisations (name, created_at) VALUES (:n, :t)"),
            {"n": f"{name} Co", "t": NOW},
        )
        org = conn.execute(
            text("SELECT id FROM organisations WHERE name = :n"), {"n": f"{name} Co"}
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO platforms (organisation_id, name, pdq_threshold, reveal_distance,"
                " reveal_orientation, unvouched_answer, video_upload_percent,"
                " video_bank_percent, retention_days, created_at)"
                " VALUES (:o, :n, :r, false, false, 'review', 50, 50, 90, :t)"
            ),
            {"o": org, "n": name, "r": radius, "t": NOW},
        )
        platform = conn.execute(
            text("SELECT id FROM platforms WHERE name = :n"), {"n": name}
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO api_keys (key_id, secret_hash, role, scopes, platform_id,"
                " created_at) VALUES (:k, 'x', 'platform', :s, :p, :t)"
            ),
            {"k": f"key-{name}", "s": json.dumps(["check"]), "p": platform, "t": NOW},
        )


def test_existing_platforms_keep_their_pdq_radius_in_the_map(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine, "0003")
    _platform_at_0003(empty_engine, "strict", 12)
    _platform_at_0003(empty_engine, "loose", 31)
    migrate.upgrade(empty_engine)
    assert migrate.schema_diff(empty_engine) == []
    with Store(empty_engine).read() as repo:
        strict, loose = repo.get_platform("strict"), repo.get_platform("loose")
        assert strict is not None and strict.policy.thresholds == {"pdq": 12}
        assert loose is not None and loose.policy.thresholds == {"pdq": 31}
        key = repo.get_api_key("key-strict")
        assert key is not None and key.platform_id == strict.id
    with empty_engine.connect() as conn:
        if empty_engine.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []

    migrate.downgrade(empty_engine, "0003")
    with empty_engine.connect() as conn:
        radii = dict(conn.execute(text("SELECT name, pdq_threshold FROM platforms")).all())
    assert radii == {"strict": 12, "loose": 31}
    migrate.upgrade(empty_engine)
    assert migrate.schema_diff(empty_engine) == []
