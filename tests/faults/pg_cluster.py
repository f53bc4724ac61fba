"""A PostgreSQL cluster of the test's own, to freeze, stop and restart without touching any other.

:func:`private_cluster` runs ``initdb`` and ``pg_ctl`` (as the ``postgres`` user when the tests
run as root) in a new temporary directory, on a free port, listening on 127.0.0.1 only, with
``fsync=off`` (a test cluster: nothing to keep). The machine's own PostgreSQL is never used.
Skipped when the PostgreSQL server binaries are not installed.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from live_server import free_port


def _bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@dataclass(frozen=True)
class Cluster:
    """A running private cluster."""

    port: int
    data: Path
    bindir: Path
    run_as: tuple[str, ...]

    @property
    def url(self) -> str:
        """The database URL of its ``postgres`` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def postmaster(self) -> int:
        """The postmaster's pid (the first line of ``postmaster.pid``)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def processes(self) -> list[int]:
        """The postmaster and its children (backends, checkpointer, WAL writer...)."""
        root = self.postmaster()
        pids = [root]
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the process ended meanwhile
            if int(fields[1]) == root:
                pids.append(int(Path(stat).parent.name))
        return pids

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Every process of the cluster stopped (SIGSTOP): connections hang, nothing answers;
        continued (SIGCONT) on the way out, whatever happened."""
        pids = self.processes()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    def pg_ctl(self, *args: str) -> None:
        """Run ``pg_ctl`` on this cluster (as its owner)."""
        subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        """Start (or start again) the server, and wait until it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self.pg_ctl("-o", options, "-l", str(self.data / "server.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``, or ``immediate`` as a crash)."""
        self.pg_ctl("-m", mode, "-w", "stop")


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    """A new cluster on a free port, removed afterwards."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip("needs the PostgreSQL server binaries (initdb, pg_ctl)")
    run_as: tuple[str, ...] = ()
    root = Path(tempfile.mkdtemp(prefix="hashwall-pg-"))
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as postgres
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            pytest.skip("running as root needs a postgres user to own the test cluster")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        run_as = ("runuser", "-u", "postgres", "--")
    data = root / "data"
    cluster = Cluster(free_port(), data, bindir, run_as)
    try:
        subprocess.run(
            [
                *run_as,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.start()
        try:
            yield cluster
        finally:
            with suppress(OSError, ValueError):  # never leave it stopped
                for pid in cluster.processes():
                    os.kill(pid, signal.SIGCONT)
            with suppress(subprocess.CalledProcessError):  # already stopped
                cluster.stop("immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)
