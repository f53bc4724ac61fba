"""The layers import one way (DESIGN.md, layers): a module imports nothing of a layer above it.

Read from the source with ``ast`` (every import, including those inside functions and under
``TYPE_CHECKING``), so that a forbidden import fails here even when nothing runs it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hashwall"

#: What each layer may not import (top-level packages or modules of hashwall).
FORBIDDEN: dict[str, frozenset[str]] = {
    "domain": frozenset(
        {
            "media",
            "sandbox",
            "hashing",
            "index",
            "store",
            "service",
            "wire",
            "api",
            "web",
            "cli",
            "client",
            "bench",
            "eval",
            "settings",
        }
    ),
    "store": frozenset({"service", "wire", "api", "web", "cli", "client", "bench", "eval"}),
    "service": frozenset({"wire", "api", "web", "cli", "client", "bench", "eval"}),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every hashwall module the file at ``path`` imports, absolute, with its line."""
    return imported_modules(path.read_text(), _module_name(path), path.name == "__init__.py")


def imported_modules(
    source: str, module: str, is_package: bool, *, everything: bool = False
) -> list[tuple[int, str]]:
    """Every hashwall module (``everything``: every module) ``source`` (the text of ``module``)
    imports, absolute, with its line; relative imports are resolved against its package."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            found.append((node.lineno, name))
    return [(line, n) for line, n in found if everything or n.split(".")[0] == "hashwall"]


def _layer_files(layer: str) -> list[Path]:
    root = SRC / layer
    return sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    upward = [
        f"{path.relative_to(SRC.parent)}:{line} imports {name}"
        for path in _layer_files(layer)
        for line, name in _imports(path)
        if name.split(".")[1:2] and name.split(".")[1] in FORBIDDEN[layer]
    ]
    assert upward == []


#: Libraries only the store speaks: the service and the domain know no database.
DATABASE_LIBRARIES = frozenset({"sqlalchemy", "psycopg", "alembic"})


@pytest.mark.parametrize("layer", ["domain", "service"])
def test_only_the_store_speaks_to_the_database(layer: str) -> None:
    found = [
        f"{path.relative_to(SRC.parent)}:{line} imports {name}"
        for path in _layer_files(layer)
        for line, name in imported_modules(
            path.read_text(), _module_name(path), path.name == "__init__.py", everything=True
        )
        if name.split(".")[0] in DATABASE_LIBRARIES
    ]
    assert found == []


def test_the_domain_imports_only_itself_and_the_errors() -> None:
    outside = [
        f"{path.relative_to(SRC.parent)}:{line} imports {name}"
        for path in _layer_files("domain")
        for line, name in _imports(path)
        if not (name == "hashwall.errors" or name.startswith("hashwall.domain"))
    ]
    assert outside == []


def test_the_checker_sees_upward_imports() -> None:
    """The checks above can fail: relative, absolute and function-level imports are all seen."""
    source = (
        "from ..service import check\n"
        "import hashwall.api.app\n"
        "import json\n"
        "def f():\n"
        "    from .events import Event\n"
    )
    found = [name for _, name in imported_modules(source, "hashwall.store.example", False)]
    assert found == ["hashwall.service", "hashwall.api.app", "hashwall.store.events"]


def test_importing_the_domain_loads_nothing_else_of_hashwall() -> None:
    probe = (
        "import sys, hashwall.domain\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('hashwall')))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    allowed = {"hashwall", "hashwall._version", "hashwall.errors"}
    assert [m for m in loaded if m not in allowed and not m.startswith("hashwall.domain")] == []
    assert "hashwall.domain.actors" in loaded


def _load_time_imports(path: Path) -> set[str]:
    """The hashwall modules ``path`` imports when it is loaded: its top-level imports, not
    those under ``TYPE_CHECKING`` or inside functions. ``from package import module`` counts
    as an import of the module (the package is its parent, being loaded already)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    modules = {_module_name(p) for p in SRC.rglob("*.py")}
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - (node.level - 1)]
                    base = ".".join([*parts, node.module] if node.module else parts)
                submodules = {f"{base}.{a.name}" for a in node.names} & modules
                found.update(submodules or {base})

    visit(ast.parse(path.read_text()).body)
    return {name for name in found if name in modules and name != module}


def test_no_module_imports_itself_back() -> None:
    """No circle of load-time imports anywhere in hashwall (each one works only by luck of
    order, and hides which layer is below which)."""
    graph = {_module_name(p): _load_time_imports(p) for p in SRC.rglob("*.py")}
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            walk(start, [start])
    assert circles == []
