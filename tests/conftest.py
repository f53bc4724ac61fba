"""Shared fixtures. Helpers live in ``tests/support.py`` (importable as ``support``)."""

from __future__ import annotations

import pytest

from support import NEEDS, encode, textured_rgb


@pytest.fixture
def photo_jpeg() -> bytes:
    """A 320x240 textured JPEG."""
    return encode(textured_rgb(), "JPEG", quality=90)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per need at the end of a run (``N tests need PostgreSQL: set ...``), instead of
    a line per skipped test; other skips are listed with their reasons."""
    counts: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        need = next((n for n in NEEDS if reason.startswith(n)), reason)
        counts[need] = counts.get(need, 0) + 1
    if not counts:
        return
    terminalreporter.section("skipped, and what to set to run them", sep="-")
    for need, count in sorted(counts.items(), key=lambda kv: -kv[1]):
        hint = f": {NEEDS[need]}" if need in NEEDS else ""
        terminalreporter.write_line(f"{count} skipped, {need}{hint}")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile hashwall's PDQ kernels once (or load them from numba's cache) before any test
    starts decoder workers: on a fresh checkout every worker would compile them itself, all at
    once, and on a busy machine miss its start-up limit (seen: 120 s at a load of 15)."""
    from hashwall.hashing import fast

    fast.warm_up()
