"""Imports run one way: core ← accounts ← chat ← chatproject (docs/architecture.md).

Read from the code's own import statements (module level and inside functions), so a new
import that points back up fails here instead of in a reviewer's head.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["core", "accounts", "chat", "chatproject"]


def imported_packages(package: str) -> dict[str, set[str]]:
    """{file: the project packages it imports}, migrations left out."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names & set(ORDER)
    return found


@pytest.mark.parametrize("package", ORDER)
def test_a_package_imports_only_the_packages_below_it(package: str) -> None:
    allowed = set(ORDER[: ORDER.index(package) + 1])
    upward = {path: sorted(names - allowed) for path, names in imported_packages(package).items() if names - allowed}
    assert upward == {}, f"imports that run back up: {upward}"


def test_selectors_never_import_services() -> None:
    for path in (ROOT / "chat" / "selectors").rglob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not any(m.startswith("chat.services") for m in modules), path


def test_services_and_selectors_know_nothing_of_their_callers() -> None:
    """No service or selector imports the REST or socket edges, or takes a `transport`."""
    for folder in ("services", "selectors"):
        for path in (ROOT / "chat" / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
            assert not any(m.startswith(("chat.rest", "chat.ws", "rest_framework")) for m in modules), path
            arguments = {a.arg for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) for a in n.args.kwonlyargs}
            assert "transport" not in arguments, path
