"""The SDK installs without the server: ``pip install hashwall`` brings httpx and pydantic, and
``hashwall.client`` (with ``hashwall.wire``) imports nothing else.

Two ways, a fast one and a real one:

- in this interpreter's environment, a child Python whose imports of anything outside the
  standard library and the distributions of ``requirements/sdk.txt`` fail, as they would in an
  SDK-only install: the client imports, and the ``hashwall`` command says to install
  ``hashwall[server]`` instead of a traceback;
- (slow: it installs from the package index) a fresh venv given ``requirements/sdk.txt`` with
  hashes checked and hashwall without extras: the client imports there, numba, fastapi and
  psycopg do not, and the ``hashwall`` command prints the same advice.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import venv
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from support import REPO

LOCKS = REPO / "requirements"
SERVER_ONLY = ("numba", "fastapi", "psycopg", "redis", "sqlalchemy", "typer", "numpy")


def _pins(lock: Path) -> dict[str, str]:
    """``{normalised distribution name: version}`` of a pip-compile lock file."""
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        found = re.match(r"([A-Za-z0-9._-]+)==([^ \\]+)", line)
        if found:
            pins[_normalise(found[1])] = found[2]
    return pins


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _sdk_import_names() -> list[str]:
    """The top-level import names of the SDK lock's distributions, as installed here."""
    sdk = set(_pins(LOCKS / "sdk.txt"))
    return sorted(
        module
        for module, dists in packages_distributions().items()
        if any(_normalise(d) in sdk for d in dists)
    )


#: A child Python in which only the standard library, ``allowed`` and hashwall import.
_CONFINED = textwrap.dedent(
    """
    import importlib.abc, importlib.machinery, json, site, sys

    allowed = set(json.loads(sys.argv[1])) | {"hashwall"}
    installed = tuple(site.getsitepackages())

    class OnlyTheSdk(importlib.abc.MetaPathFinder):
        # Refuse what is installed in site-packages unless it is the SDK lock's.

        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            if top in sys.stdlib_module_names or top in allowed:
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            places = [spec.origin, *(spec.submodule_search_locations or ())] if spec else []
            where = next((p for p in places if p), "")
            if not where.startswith(installed):
                return None  # the standard library's private modules, a test's own files
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    sys.meta_path.insert(0, OnlyTheSdk())
    """
)


def _confined(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CONFINED + textwrap.dedent(code), json.dumps(_sdk_import_names())],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_locks_agree_and_the_sdk_lock_holds_no_server_package() -> None:
    sdk, server, dev = (_pins(LOCKS / f"{name}.txt") for name in ("sdk", "server", "dev"))
    assert {"httpx", "pydantic"} <= set(sdk)
    assert not {_normalise(name) for name in SERVER_ONLY} & set(sdk)
    assert set(sdk) <= set(server) <= set(dev)
    for name, version in server.items():
        assert dev[name] == version, name


def test_the_client_imports_with_only_the_sdk_lock() -> None:
    done = _confined(
        """
        import hashwall, hashwall.client, hashwall.wire
        for name in ("numba", "fastapi", "psycopg", "numpy"):
            try:
                __import__(name)
            except ModuleNotFoundError:
                continue
            raise SystemExit(f"{name} imported")
        print(hashwall.Client.__name__, "httpx" in sys.modules)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Client", "True"]


def test_the_command_without_the_server_extra_says_what_to_install() -> None:
    done = _confined(
        """
        sys.argv = ["hashwall", "--help"]
        from hashwall.cli.entry import main
        main()
        """
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "pip install 'hashwall[server]'" in done.stderr


def test_the_confinement_refuses_a_server_package() -> None:
    """The check above can fail: under the same confinement a server module does not import."""
    done = _confined("import hashwall.cli.main")
    assert done.returncode != 0
    assert "ModuleNotFoundError" in done.stderr


@pytest.mark.slow
def test_a_fresh_venv_with_the_sdk_lock_runs_the_client(tmp_path: Path) -> None:
    env_dir = tmp_path / "sdk-venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"

    def pip(*args: str) -> None:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *args],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    pip("--no-deps", "--require-hashes", "-r", str(LOCKS / "sdk.txt"))
    pip("--no-deps", str(REPO))
    probe = subprocess.run(
        [
            str(python),
            "-c",
            textwrap.dedent(
                """
                import importlib.util, hashwall.client
                print(hashwall.client.Client.__name__)
                for name in ("numba", "fastapi", "psycopg", "numpy", "typer"):
                    print(name, importlib.util.find_spec(name) is not None)
                """
            ),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split("\n", 1)[0] == "Client"
    assert "True" not in probe.stdout.split("\n", 1)[1], probe.stdout

    command = subprocess.run(
        [str(env_dir / "bin" / "hashwall"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert command.returncode == 1
    assert "pip install 'hashwall[server]'" in command.stderr
