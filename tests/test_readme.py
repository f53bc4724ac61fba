"""The README's examples run, so they cannot rot."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from support import REPO, encode, require_shared_data, textured_rgb

README = (REPO / "README.md").read_text()
HASHWALL = str(Path(sys.executable).parent / "hashwall")


def _console_commands() -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", README, flags=re.S)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """photo.jpg, rotated.jpg (the same picture turned 90 degrees), photos/ with three files."""
    pixels = textured_rgb(400, 300, seed=3)
    (tmp_path / "photo.jpg").write_bytes(encode(pixels, "JPEG", quality=90))
    (tmp_path / "rotated.jpg").write_bytes(encode(np.rot90(pixels).copy(), "JPEG", quality=80))
    (tmp_path / "photos").mkdir()
    for i in range(3):
        (tmp_path / "photos" / f"p{i}.png").write_bytes(encode(textured_rgb(seed=10 + i), "PNG"))
    return tmp_path


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(command)
    assert argv[0] == "hashwall"
    return subprocess.run(
        [HASHWALL, *argv[1:]], check=False, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_readme_has_examples() -> None:
    commands = _console_commands()
    assert any(c.startswith("hashwall hash") for c in commands)
    assert any(c.startswith("hashwall compare") for c in commands)
    assert _python_blocks()


@pytest.mark.parametrize(
    "command", [c for c in _console_commands() if not c.startswith("hashwall bench")]
)
def test_readme_cli_example_runs(command: str, workdir: Path) -> None:
    result = _run(command, workdir)
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize(
    "command", [c for c in _console_commands() if c.startswith("hashwall bench")]
)
def test_readme_bench_example_runs(command: str, tmp_path: Path) -> None:
    # The examples name a folder of real photographs, photos/: the reference corpus's wallpapers.
    (tmp_path / "photos").symlink_to(require_shared_data("photos", "wallpapers"))
    result = _run(command, tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout


def test_readme_python_example_runs(workdir: Path) -> None:
    for block in _python_blocks():
        result = subprocess.run(
            [sys.executable, "-c", block],
            check=False,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "PdqHash(" in result.stdout
