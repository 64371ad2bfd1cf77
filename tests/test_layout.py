"""The house rules that keep one feature in one place: who may import whom, and short functions.

README's "Layout" states these rules; this test keeps them true.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "adapters", "redirector", "suo")

# What each top-level package may import from the others (README "Layout").
MAY_IMPORT: dict[str, set[str]] = {
    "bot": {"bot"},
    "redirector": {"redirector", "bot"},
    "adapters": {"adapters", "bot"},
    "suo": {"suo", "bot", "adapters", "redirector"},
}
# Storage is reached through the core: adapters never open or query it themselves.
FORBIDDEN_MODULES: dict[str, tuple[str, ...]] = {"adapters": ("bot.storage",)}
MAX_FUNCTION_LINES = 60


def _modules() -> Iterator[tuple[str, Path, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _imported(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def test_each_package_imports_only_what_the_layout_allows() -> None:
    wrong = []
    for package, path, tree in _modules():
        for line, module in _imported(tree):
            top = module.split(".")[0]
            forbidden = FORBIDDEN_MODULES.get(package, ())
            if (top in PACKAGES and top not in MAY_IMPORT[package]) or any(
                module == f or module.startswith(f + ".") for f in forbidden
            ):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert wrong == []


def test_no_production_function_is_longer_than_sixty_lines() -> None:
    long = []
    for _, path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                assert node.end_lineno is not None
                lines = node.end_lineno - start + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert long == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_says_what_it_owns(package: str) -> None:
    missing = [
        str(path.relative_to(ROOT))
        for found, path, tree in _modules()
        if found == package and path.stat().st_size and ast.get_docstring(tree) is None
    ]
    assert missing == []
