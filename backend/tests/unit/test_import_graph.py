"""The package's modules import one another in one direction only.

An import circle works until someone reorders imports; then a module is half-initialised when the
other reads it. Read from the source (every `import`, also inside functions), not by importing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import todo_api

PACKAGE = Path(todo_api.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Each module of the package, and the modules of the package it imports anywhere in it."""
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    targets.add(submodule if submodule in files else node.module)
        graph[name] = {target for target in targets if target in files and target != name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: every path that leads from a module back to itself, once each."""
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    def walk(path: list[str]) -> None:
        for target in sorted(graph[path[-1]]):
            if target == path[0]:
                if frozenset(path) not in seen:
                    seen.add(frozenset(path))
                    found.append([*path, target])
            elif target not in path and target > path[0]:
                walk([*path, target])

    for start in sorted(graph):
        walk([start])
    return found


def test_no_module_of_the_package_imports_itself_back_through_others() -> None:
    graph = _import_graph()

    assert "todo_api.database.url" in graph
    assert _circles(graph) == []


def test_the_circle_finder_reports_a_circle_of_two_modules() -> None:
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": set()}

    assert _circles(graph) == [["a", "b", "a"]]


MAX_LINES = 400


def test_no_module_of_the_package_or_the_benchmark_is_over_400_lines() -> None:
    """A module past 400 lines does more than one job (the limit the restructure set)."""
    bench = PACKAGE.parents[2] / "bench"
    files = [*PACKAGE.rglob("*.py"), *bench.rglob("*.py")]
    assert len(files) > 50
    too_long = {
        str(path.relative_to(PACKAGE.parents[2])): lines
        for path in files
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}
