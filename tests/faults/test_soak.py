"""Soak: N replicas on one PostgreSQL under checks, creation and withdrawal churn, one killed.

For ``HASHWALL_SOAK_SECONDS`` (default 20) against ``HASHWALL_SOAK_REPLICAS`` (default 3)
``hashwall serve`` processes on a PostgreSQL cluster of the test's own: a partner banks photos
(one case each) and withdraws some; platforms check banked, withdrawn and never-banked photos on
random replicas; half-way, one replica is killed (SIGKILL) and started again. During the run, a
check must never ``block`` a photo whose withdrawal was acknowledged before the check was sent,
nor ``allow`` one acknowledged as banked more than :data:`SETTLE` seconds before (the index may
lag an addition by its poll interval; a withdrawal is final when acknowledged). At the end every
banked and withdrawn photo is checked on every replica and compared with the store.

Run it for 10 minutes::

    HASHWALL_SOAK_SECONDS=600 python -m pytest tests/faults/test_soak.py -m slow -s
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from pg_cluster import private_cluster
from sqlalchemy import select

from hashwall.client import ApiError, Client, ConnectionFailed
from hashwall.hashing.image import ImageHashes, hash_image
from hashwall.store.engine import make_engine
from hashwall.store.tables import items as items_table
from live_server import free_port, prepare_store, server_env, wait_ready

from support import encode, textured_rgb

#: Seconds after which a banked photo must be found by every replica.
SETTLE = 2.0


@dataclass
class Replica:
    """One ``hashwall serve`` process on its port."""

    database_url: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [sys.executable, "-m", "hashwall.cli.serve", "--port", str(self.port)]
        argv += ["--log-level", "warning", "--no-access-log"]
        self.process = subprocess.Popen(argv, env=server_env(self.database_url))
        wait_ready(self.url, process=self.process)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def replicas(database_url: str, count: int) -> Iterator[list[Replica]]:
    started = [Replica(database_url) for _ in range(count)]
    try:
        for replica in started:
            replica.start()
        yield started
    finally:
        for replica in started:
            replica.stop()


@dataclass
class Photo:
    hashes: ImageHashes
    case_number: str | None = None
    item_ref: str | None = None
    banked_at: float | None = None  # acknowledged (monotonic)
    withdrawn_at: float | None = None  # acknowledged (monotonic)
    withdraw_sent: bool = False


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    checks: int = 0
    created: int = 0
    withdrawn: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1


def _photos(count: int, seed: int) -> list[Photo]:
    return [
        Photo(hash_image(encode(textured_rgb(160, 120, seed=seed + i), "JPEG", quality=90)))
        for i in range(count)
    ]


@pytest.mark.slow
def test_soak_every_replica_agrees_with_the_store() -> None:
    seconds = float(os.environ.get("HASHWALL_SOAK_SECONDS", "20"))
    count = int(os.environ.get("HASHWALL_SOAK_REPLICAS", "3"))
    rng = random.Random(19)
    pool = _photos(int(40 + seconds * 4), seed=1000)
    never = _photos(20, seed=90_000)
    tally = Tally()
    stop = threading.Event()

    with private_cluster() as cluster:
        keys = prepare_store(cluster.url)
        with replicas(cluster.url, count) as fleet:
            urls = [r.url for r in fleet]

            def create() -> None:
                for photo in pool:
                    if stop.is_set():
                        return
                    try:
                        with Client(rng.choice(urls), key=keys["intake"], timeout=10) as c:
                            made = c.create_case([photo.hashes])
                    except (ApiError, ConnectionFailed) as exc:
                        tally.error(f"create: {type(exc).__name__}")
                        continue
                    photo.case_number = made.case_number
                    photo.item_ref = made.items[0].item_ref
                    photo.banked_at = time.monotonic()
                    with tally.lock:
                        tally.created += 1

            def withdraw() -> None:
                while not stop.wait(0.3):
                    banked = [p for p in pool if p.banked_at and not p.withdraw_sent]
                    if len(banked) < 3 or tally.withdrawn * 2 >= tally.created:
                        continue  # about half stays banked, for the comparison at the end
                    photo = rng.choice(banked)
                    assert photo.case_number is not None
                    photo.withdraw_sent = True
                    try:
                        with Client(rng.choice(urls), key=keys["intake"], timeout=10) as c:
                            c.withdraw(photo.case_number)
                    except (ApiError, ConnectionFailed) as exc:
                        tally.error(f"withdraw: {type(exc).__name__}")
                        continue
                    photo.withdrawn_at = time.monotonic()
                    with tally.lock:
                        tally.withdrawn += 1

            def check(worker: int) -> None:
                local = random.Random(worker)
                clients = {u: Client(u, key=keys["feed"], timeout=10, retries=0) for u in urls}
                try:
                    checking(local, clients)
                finally:
                    for client in clients.values():
                        client.close()

            def checking(local: random.Random, clients: dict[str, Client]) -> None:
                while not stop.is_set():
                    photo = local.choice(pool + never)
                    sent = time.monotonic()
                    banked, withdrawn = photo.banked_at, photo.withdrawn_at
                    url = local.choice(urls)
                    try:
                        answer = clients[url].check(photo.hashes).decision
                    except (ApiError, ConnectionFailed) as exc:
                        tally.error(f"check: {type(exc).__name__}")
                        time.sleep(0.05)
                        continue
                    with tally.lock:
                        tally.checks += 1
                        if withdrawn is not None and withdrawn < sent and answer != "allow":
                            tally.violations.append(f"withdrawn, answered {answer} by {url}")
                        if (
                            banked is not None
                            and not photo.withdraw_sent
                            and sent - banked > SETTLE
                            and answer == "allow"
                        ):
                            tally.violations.append(f"banked, answered allow by {url}")

            threads = [
                threading.Thread(target=create, daemon=True),
                threading.Thread(target=withdraw, daemon=True),
                *(threading.Thread(target=check, args=(i,), daemon=True) for i in range(4)),
            ]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            stop.wait(seconds / 2)
            fleet[-1].kill()  # half-way: one replica killed, then started again
            killed_at = time.monotonic() - started
            fleet[-1].start()
            stop.wait(max(0.0, seconds - (time.monotonic() - started)))
            stop.set()
            for thread in threads:
                thread.join(timeout=60)

            # The end: every replica answers every banked and withdrawn photo as the store says.
            time.sleep(SETTLE)
            engine = make_engine(cluster.url)
            try:
                with engine.connect() as conn:
                    states = dict(
                        conn.execute(select(items_table.c.item_ref, items_table.c.state)).all()
                    )
            finally:
                engine.dispose()
            compared = 0
            for photo in pool:
                if photo.item_ref is None:
                    continue
                want = "block" if states[photo.item_ref] == "active" else "allow"
                for url in urls:
                    with Client(url, key=keys["feed"], timeout=10) as c:
                        got = c.check(photo.hashes).decision
                    compared += 1
                    if got != want:
                        tally.violations.append(
                            f"end: {photo.item_ref} is {states[photo.item_ref]}, {url} said {got}"
                        )

    active = sum(1 for state in states.values() if state == "active")
    print(  # the soak's report (pytest -s shows it)
        f"\nsoak: {seconds:.0f} s, {count} replicas on PostgreSQL, replica {count} killed at "
        f"{killed_at:.0f} s and restarted; {tally.checks} checks, {tally.created} cases created, "
        f"{tally.withdrawn} withdrawn; errors {tally.errors or 'none'}; end: {compared} answers "
        f"compared with the store ({active} items active, {len(states) - active} not); "
        f"violations: {len(tally.violations)}"
    )
    for line in tally.violations[:20]:
        print("  ", line)
    assert tally.created > 0 and tally.withdrawn > 0 and tally.checks > 0
    assert not tally.violations
