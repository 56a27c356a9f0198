"""The dependency rule (docs/architecture.md): imports run one way, and core has no cycles.

Every import counts, read from the source with `ast`: module level, inside functions (lazy),
under `if TYPE_CHECKING:`, relative, and `import_module("...")` / `__import__("...")` with a
literal name. A lazy or type-only import still says "this module knows that one".
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "verticals", "dashboards", "pipelines")
DYNAMIC = frozenset({"import_module", "__import__"})


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    path: Path
    line: int
    target: str  # dotted name as imported (for `from a import b`: a.b; b may be an attribute)

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_in(source: str, importer: str, path: Path, is_package: bool = False
               ) -> Iterator[Import]:
    """Every import in `source`, wherever it sits in the module."""
    package = importer if is_package else importer.rpartition(".")[0]
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(importer, path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parents = package.split(".")
                anchor = ".".join(parents[:len(parents) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                yield Import(importer, path, node.lineno,
                             base if alias.name == "*" else f"{base}.{alias.name}")
        elif isinstance(node, ast.Call) and node.args:
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(
                node.func, "id", None)
            first = node.args[0]
            if called in DYNAMIC and isinstance(first, ast.Constant) \
                    and isinstance(first.value, str):
                yield Import(importer, path, node.lineno, first.value.partition(":")[0])


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                found[module_name(path)] = path
    return found


@cache
def all_imports() -> tuple[Import, ...]:
    return tuple(imp for name, path in modules().items()
                 for imp in imports_in(path.read_text(), name, path, path.name == "__init__.py"))


def top(name: str) -> str:
    return name.split(".", 1)[0]


def violations(importers: str, forbidden: set[str]) -> list[str]:
    return [str(imp) for imp in all_imports()
            if top(imp.importer) == importers and top(imp.target) in forbidden]


def test_the_parser_sees_every_kind_of_import() -> None:
    source = '''
from __future__ import annotations
from typing import TYPE_CHECKING
import core.store.engine as engine
from . import sibling
from ..models import boosting
if TYPE_CHECKING:
    from dashboards.context import PageContext
def later():
    from pipelines.score import score
    import importlib
    return importlib.import_module("verticals.finance.credit_scoring:TASK"), __import__("json")
'''
    path = ROOT / "core" / "kinds" / "example.py"
    found = {imp.target for imp in imports_in(source, "core.kinds.example", path)}
    assert {"core.store.engine", "core.kinds.sibling", "core.models.boosting",
            "dashboards.context.PageContext", "pipelines.score.score",
            "verticals.finance.credit_scoring", "json"} <= found
    assert modules()["core.task"] == ROOT / "core" / "task.py"
    assert any(imp.importer == "core.task" for imp in all_imports())


def test_core_imports_nothing_from_verticals_dashboards_or_pipelines() -> None:
    assert violations("core", {"verticals", "dashboards", "pipelines"}) == []


def test_verticals_import_neither_pipelines_nor_dashboards() -> None:
    assert violations("verticals", {"pipelines", "dashboards"}) == []


def test_dashboards_and_pipelines_never_import_each_other() -> None:
    assert violations("dashboards", {"pipelines"}) + violations("pipelines", {"dashboards"}) == []


def test_dashboards_and_pipelines_reach_tasks_through_the_registry() -> None:
    """No vertical by name: Tasks (and their pages) come from core.task's registry."""
    assert violations("dashboards", {"verticals"}) + violations("pipelines", {"verticals"}) == []


def resolve(target: str, known: dict[str, Path]) -> list[str]:
    """The modules an import runs: the longest known prefix of `target` and its packages."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in known:
            return [".".join(parts[:i]) for i in range(1, end + 1) if ".".join(parts[:i]) in known]
    return []


def core_graph() -> dict[str, set[str]]:
    known = {name: path for name, path in modules().items() if top(name) == "core"}
    graph: dict[str, set[str]] = {name: set() for name in known}
    for imp in all_imports():
        if imp.importer in graph:
            # A module "imports" its own packages just by being imported: not an edge.
            own = {imp.importer.rsplit(".", i)[0] for i in range(imp.importer.count(".") + 1)}
            graph[imp.importer] |= set(resolve(imp.target, known)) - own
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path back to its start) per strongly connected component (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_through(graph, component) for component in components]


def _path_through(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside it."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return component


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c", "a"], ["e", "e"]]


def test_core_modules_have_no_import_cycle() -> None:
    found = [" -> ".join(cycle) for cycle in cycles(core_graph())]
    assert found == [], "import cycles among core modules (lazy and TYPE_CHECKING imports count)"
