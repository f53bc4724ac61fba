"""The shared metrics of ``serve --workers N`` forget the live gauges of workers that are gone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hashwall.api.metrics import forget_dead_workers


def test_a_dead_workers_live_gauges_are_dropped_and_its_counters_kept(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: its pid names no process
    here = os.getpid()
    files = [
        f"gauge_liveall_{gone.pid}.db",
        f"gauge_livemax_{gone.pid}.db",
        f"counter_{gone.pid}.db",  # what it counted stays counted
        f"gauge_liveall_{here}.db",
    ]
    for name in files:
        (tmp_path / name).write_bytes(b"")
    forget_dead_workers(str(tmp_path))
    left = sorted(path.name for path in tmp_path.iterdir())
    assert left == sorted([f"counter_{gone.pid}.db", f"gauge_liveall_{here}.db"])
