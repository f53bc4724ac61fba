"""What the interop tests share: the ``threatexchange`` package (skip without it, fail under
``CI=true``) and its CLI run in a home directory of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

NEED = "needs the threatexchange package"
HINT = "pip install -e '.[interop]' (threatexchange==1.2.17)"


def require_threatexchange() -> None:
    """Skip the running test when ``threatexchange`` is not importable; under ``CI=true``, where
    nothing may be missing, fail instead."""
    try:
        import threatexchange  # noqa: F401
    except ImportError as exc:
        message = f"{NEED}: {exc}; {HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@dataclass(frozen=True)
class TxCli:
    """The ``threatexchange`` command with HOME (its config and fetched state) in ``home``."""

    home: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``threatexchange ARGS`` non-interactively; with ``check``, exit code 0 or fail."""
        done = subprocess.run(
            [sys.executable, "-m", "threatexchange", *args],
            check=False,
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
        )
        if check:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def match_lines(self, content_type: str, path: Path) -> list[str]:
        """The lines ``threatexchange match CONTENT_TYPE FILE`` prints (none: no match)."""
        return [line for line in self.run("match", content_type, str(path)).stdout.splitlines()]


def tx_cli(home: Path, **env: str) -> TxCli:
    """A ``threatexchange`` CLI in a fresh home directory (no ``TX_*`` credentials inherited)."""
    home.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TX_", "HASHWALL_"))}
    return TxCli(home, {**base, "HOME": str(home), **env})
