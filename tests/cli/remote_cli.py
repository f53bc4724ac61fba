"""The commands that talk to a server, as a user runs them (``case``, ``check``, ``feed``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import typer
from typer.testing import CliRunner, Result

from hashwall.cli.case import case_app
from hashwall.cli.check import check_command
from hashwall.cli.feed import feed_app

from support import encode, textured_rgb

runner = CliRunner()


def remote_app() -> typer.Typer:
    """The ``hashwall`` app with the remote commands (as cli/main.py registers them)."""
    app = typer.Typer(pretty_exceptions_enable=False)
    app.add_typer(case_app, name="case")
    app.command("check")(check_command)
    app.add_typer(feed_app, name="feed")
    return app


APP = remote_app()


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Invoke the app; never a traceback."""
    result = runner.invoke(APP, list(args), input=input, env=env)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def json_lines(result: Result) -> list[dict[str, Any]]:
    """Every line of stdout as a JSON object."""
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def write_pictures(folder: Path) -> dict[str, Path]:
    """photo.jpg, rotated.jpg (the same picture turned and re-encoded), other.jpg, broken.jpg."""
    pixels = textured_rgb(400, 300, seed=5)
    files = {
        "photo": encode(pixels, "JPEG", quality=92),
        "rotated": encode(np.ascontiguousarray(np.rot90(pixels)), "JPEG", quality=80),
        "other": encode(textured_rgb(400, 300, seed=77), "JPEG", quality=92),
        "broken": b"\xff\xd8\xff\xe0 not really a jpeg",
    }
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, data in files.items():
        paths[name] = folder / f"{name}.jpg"
        paths[name].write_bytes(data)
    return paths
