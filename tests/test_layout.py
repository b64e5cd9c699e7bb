"""The layout stays readable: no import cycle among modules, every module says what it holds."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import grimp
import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
PACKAGES = ("prober", "channels", "scheduler", "storage", "config", "sandbox")


@cache
def _graph() -> grimp.ImportGraph:
    # grimp counts imports made inside functions too: a cycle cannot hide there.
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def strongly_connected(edges: Mapping[str, Iterable[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components with more than one node (the cycles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        # Iterative depth-first search: recursion would fail on long chains.
        work = [(node, iter(edges.get(node, ())))]
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        while work:
            current, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(edges.get(successor, ()))))
                    break
                if successor in on_stack:
                    low[current] = min(low[current], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[current])
                if low[current] == index[current]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == current:
                            break
                    if len(component) > 1:
                        found.append(component)

    for node in list(edges):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert strongly_connected({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [{"a", "b", "c"}]
    assert strongly_connected({"a": ["b"], "b": ["c"]}) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_among_the_modules_of_a_package(package: str) -> None:
    graph = _graph()
    modules = {m for m in graph.modules if m == package or m.startswith(f"{package}.")}
    edges = {
        module: [m for m in graph.find_modules_directly_imported_by(module) if m in modules]
        for module in modules
    }
    assert strongly_connected(edges) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_opens_with_a_sentence_saying_what_it_holds(package: str) -> None:
    silent = []
    for path in sorted((REPOSITORY / package).rglob("*.py")):
        if "migrations/versions" in path.as_posix():
            continue
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        if not docstring or not docstring.strip():
            silent.append(str(path.relative_to(REPOSITORY)))
    assert silent == []
