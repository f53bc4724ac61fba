"""The files of deploy/ and the commands of docs/deploy.md name commands, options and settings
that exist (a renamed command or setting breaks this test, not a deployment)."""

from __future__ import annotations

import re
import shlex

import pytest
from typer.testing import CliRunner

from hashwall.cli.main import app
from hashwall.settings import Settings

from support import REPO

DEPLOY = REPO / "deploy"
GUIDE = REPO / "docs" / "deploy.md"
HASHWALL_BIN = "/opt/hashwall/venv/bin/hashwall"


def exec_starts() -> list[list[str]]:
    """The hashwall arguments of every ``ExecStart=`` in deploy/ (``%i``: a port)."""
    found = []
    for unit in sorted(DEPLOY.glob("*.service")):
        for line in unit.read_text(encoding="utf-8").splitlines():
            if line.startswith("ExecStart="):
                argv = shlex.split(line.removeprefix("ExecStart=").replace("%i", "8001"))
                assert argv[0] == HASHWALL_BIN, f"{unit.name}: {argv[0]}"
                found.append(argv[1:])
    return found


def guide_commands() -> list[list[str]]:
    """The ``hw ...`` lines (the operator's hashwall commands) of the guide's shell blocks."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S):
        for raw in block.splitlines():
            line = raw.split("  #", 1)[0].strip()
            if line.startswith("hw ") and "sudo" not in line:
                commands.append(shlex.split(line)[1:])
    return commands


def accepted(argv: list[str]) -> bool:
    """Whether hashwall parses ``argv`` (asked for its help, so nothing runs)."""
    result = CliRunner().invoke(app, [*argv, "--help"])
    return result.exit_code == 0


def test_the_units_run_commands_hashwall_has() -> None:
    commands = exec_starts()
    assert [argv[:2] for argv in commands] == [["retention", "run"], ["serve", "--host"]]
    for argv in commands:
        assert accepted(argv), argv


def test_every_command_of_the_guide_is_one_hashwall_has() -> None:
    commands = guide_commands()
    assert ["db", "upgrade"] in commands and len(commands) >= 10
    for argv in commands:
        assert accepted(argv), argv


@pytest.mark.parametrize("argv", [["retention", "purge"], ["key", "list", "--all-of-them"]])
def test_a_command_or_option_hashwall_lacks_is_caught(argv: list[str]) -> None:
    assert not accepted(argv)


def test_the_environment_file_sets_only_settings() -> None:
    prefix = str(Settings.model_config.get("env_prefix", "")).upper()
    names = [
        line.split("=", 1)[0]
        for line in (DEPLOY / "hashwall.env").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "HASHWALL_DATABASE_URL" in names and "HASHWALL_TRUSTED_PROXIES" in names
    unknown = [n for n in names if n.removeprefix(prefix).lower() not in Settings.model_fields]
    assert not unknown
