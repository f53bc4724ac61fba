"""docs/deploy.md followed on this machine, command by command, as an operator would.

PostgreSQL (a database of the test's own, created and dropped here; the server is never
reconfigured) and Redis (a key prefix of the test's own) stand in for the production ones. The
replicas get the environment of ``deploy/hashwall.env`` with the store, Redis and secret swapped
for the test's. Then:

1. ``hashwall db upgrade`` (twice: on each release, safe to re-run), the operator's
   organisation, platform, partner and keys;
2. two ``hashwall serve`` replicas on two free ports; a photo banked through one is blocked when
   checked through the other (``hashwall.Client``, as a platform), a different photo is allowed;
   the limiter counts land in Redis;
3. key rotation: the new platform key works, the revoked one is refused;
4. the retention job;
5. the backup of the guide (``pg_dump --format=custom``), restored into a fresh database
   (``pg_restore``); a replica on the restored store answers the same checks and the person's
   case (number and PIN) as before.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL

from hashwall import Client, ImageHashes, hash_file
from hashwall.client import ApiError
from hashwall.settings import Settings
from live_server import free_port, wait_indexed, wait_ready

from support import REPO, encode, postgres_url, skip_needing, textured_rgb

pytestmark = pytest.mark.slow

ENV_FILE = REPO / "deploy" / "hashwall.env"
HASHWALL = Path(sys.executable).parent / "hashwall"


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of a systemd ``EnvironmentFile`` (comments and blanks skipped)."""
    env = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


def answer(server: str, key: str, upload: ImageHashes) -> str:
    """What a platform's check of ``upload`` answers (an error's code if it is refused)."""
    with Client(server, key=key) as hw:
        try:
            return hw.check(upload).decision
        except ApiError as exc:
            return exc.code


def libpq_url(url: URL) -> str:
    """The URL as pg_dump, pg_restore and psql take it."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_databases(base: str, count: int) -> Iterator[list[URL]]:
    """``count`` new, empty PostgreSQL databases on the test server, dropped afterwards."""
    base_url = make_url(base).set(drivername="postgresql+psycopg")
    names = [f"hashwall_deploy_{secrets.token_hex(4)}" for _ in range(count)]
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield [base_url.set(database=name) for name in names]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def redis_url() -> str:
    """The test Redis, or skip when none answers."""
    import redis

    url = os.environ.get("HASHWALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except redis.RedisError as exc:
        skip_needing("needs Redis", f"{url}: {exc}")
    return url


class Operator:
    """Runs ``hashwall`` commands with the replicas' environment, as the guide's operator."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir

    def run(self, *args: str, ok: tuple[int, ...] = (0,), **env: str) -> str:
        result = subprocess.run(
            [str(HASHWALL), *args],
            check=False,
            env={**self.env, **env},
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode in ok, (
            f"hashwall {' '.join(args[:2])} exited {result.returncode}: {result.stderr[-2000:]}"
        )
        return result.stdout

    def json(self, *args: str, **env: str) -> dict[str, object]:
        document: dict[str, object] = json.loads(self.run(*args, "--json", **env))
        return document

    @contextmanager
    def replicas(self, database: URL, count: int) -> Iterator[list[str]]:
        """``count`` ``hashwall serve`` processes on free ports, ready; stopped afterwards."""
        env = {**self.env, "HASHWALL_DATABASE_URL": database.render_as_string(False)}
        started: list[tuple[subprocess.Popen[bytes], str]] = []
        try:
            for _ in range(count):
                port = free_port()
                log = (self.workdir / f"serve-{port}.log").open("wb")
                argv = [str(HASHWALL), "serve", "--host", "127.0.0.1", "--port", str(port)]
                process = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
                started.append((process, f"http://127.0.0.1:{port}"))
            for process, url in started:
                wait_ready(url, timeout=120, process=process)
            yield [url for _, url in started]
        finally:
            for process, _ in started:
                process.terminate()
            for process, _ in started:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def test_the_deployment_guide_runs_and_a_restored_backup_answers_the_same(tmp_path: Path) -> None:
    base = postgres_url()
    redis_at = redis_url()
    for tool in ("pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            skip_needing("needs PostgreSQL", f"{tool} is not on PATH")
    import redis

    # The environment file of deploy/, with this machine's store, Redis and secret.
    file_env = read_env_file(ENV_FILE)
    prefix = str(Settings.model_config.get("env_prefix", "")).upper()
    unknown = [n for n in file_env if n.removeprefix(prefix).lower() not in Settings.model_fields]
    assert not unknown, f"deploy/hashwall.env sets variables that are not settings: {unknown}"
    redis_prefix = f"hashwall-deploy-{secrets.token_hex(4)}:"
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefix)}
    env.update(file_env)
    env.update(
        HASHWALL_REDIS_URL=redis_at,
        HASHWALL_REDIS_PREFIX=redis_prefix,
        HASHWALL_LIMITS_SECRET=secrets.token_hex(32),
    )
    banked, other = tmp_path / "banked.jpg", tmp_path / "other.jpg"
    banked.write_bytes(encode(textured_rgb(640, 480, seed=11), "JPEG", quality=90))
    other.write_bytes(encode(textured_rgb(640, 480, seed=12), "JPEG", quality=90))
    banked_upload = hash_file(banked, fast=True, orientations=True)
    other_upload = hash_file(other, fast=True, orientations=True)
    limiter = redis.Redis.from_url(redis_at)

    with fresh_databases(base, 2) as (store, restored):
        op = Operator({**env, "HASHWALL_DATABASE_URL": store.render_as_string(False)}, tmp_path)
        # 1. Schema and tenants.
        op.run("db", "upgrade")
        op.run("db", "upgrade")
        assert op.json("db", "current")["up_to_date"] is True
        op.run("org", "add", "Social Co")
        op.run("platform", "add", "feed", "--org", "Social Co")
        op.run("partner", "add", "Helpline")
        intake = str(op.json("key", "create", "--role", "intake", "--partner", "Helpline")["key"])
        platform = op.json("key", "create", "--role", "platform", "--platform", "feed")

        with op.replicas(store, 2) as (first, second):
            # 2. Bank through one replica, check through the other.
            case = op.json("case", "create", str(banked), "--server", first, "--key", intake)
            assert [item["status"] for item in case["items"]] == ["accepted"]  # type: ignore[index]
            wait_indexed(second, 1)
            key = str(platform["key"])
            assert answer(second, key, banked_upload) == "block"
            assert answer(second, key, other_upload) == "allow"
            assert answer(first, key, banked_upload) == "block"
            assert list(limiter.scan_iter(f"{redis_prefix}*")), "the replicas left Redis unused"

            # 3. Key rotation: a new key, then the old one revoked.
            new_key = op.json("key", "create", "--role", "platform", "--platform", "feed")
            rotated = str(new_key["key"])
            assert answer(first, rotated, banked_upload) == "block"
            op.run("key", "revoke", str(platform["id"]))
            assert answer(second, rotated, banked_upload) == "block"
            deadline = time.monotonic() + 10  # key caches drop it within the poll interval
            while answer(second, key, other_upload) != "invalid_key":
                assert time.monotonic() < deadline, "a revoked key still answers"
                time.sleep(0.1)

        # 4. The retention job (nothing old enough yet: nothing deleted, no error).
        op.run("retention", "run", "--json")

        # 5. Backup with the guide's command, restore into a fresh database.
        dump = tmp_path / "hashwall.dump"
        subprocess.run(
            ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", libpq_url(store)],
            check=True,
            timeout=120,
        )
        subprocess.run(
            [
                "pg_restore",
                "--no-owner",
                "--exit-on-error",
                f"--dbname={libpq_url(restored)}",
                dump,
            ],
            check=True,
            timeout=120,
        )
        restored_env = {**env, "HASHWALL_DATABASE_URL": restored.render_as_string(False)}
        again = Operator(restored_env, tmp_path)
        assert again.json("db", "current")["up_to_date"] is True
        with again.replicas(restored, 1) as [replica]:
            assert httpx.get(f"{replica}/readyz", timeout=5).json()["index_size"] == 1
            assert answer(replica, rotated, banked_upload) == "block"
            assert answer(replica, rotated, other_upload) == "allow"
            assert answer(replica, key, other_upload) == "invalid_key"
            with Client(replica) as person:
                status = person.case_status(str(case["case_number"]), str(case["pin"]))
            assert status.status == "active"
            assert [item.item_ref for item in status.items] == [
                item["item_ref"]
                for item in case["items"]  # type: ignore[attr-defined]
            ]
    for key in limiter.scan_iter(f"{redis_prefix}*"):
        limiter.delete(key)
