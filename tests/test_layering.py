"""The layers import one way (DESIGN.md, layers): a module imports nothing of a layer above it.

Read from the source with ``ast`` (every import, including those inside functions and under
``TYPE_CHECKING``), so that a forbidden import fails here even when nothing runs it.
"""

from __future__ import annotations

import ast
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


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """Every hashwall module ``source`` (the text of ``module``) imports, absolute, with its
    line; relative imports are resolved against ``module``'s package."""
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
    return [(line, name) for line, name in found if name.split(".")[0] == "hashwall"]


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
