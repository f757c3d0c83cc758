"""Import cycles among flowdeck's modules, found by reading the source with ``ast`` (nothing is imported).

Three graphs: imports at module level; every import that runs (module level and inside
functions), whose cycles are hidden from a reader of the module headers and still decide which
module finishes loading first; and those plus ``if TYPE_CHECKING:`` imports (never run, but a
cycle there still means two modules know each other). ``python tests/unit/import_cycles.py``
prints the three and exits 1 when the first two have any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ROOTS = ("engine", "state", "console", "themes")  # folders installed as flowdeck.<folder> (setup.py)


@dataclass(frozen=True)
class Edge:
    """``importer`` imports ``imported``, at ``line``; ``deferred`` when the import sits inside a function,
    ``typing`` when it sits in an ``if TYPE_CHECKING:`` block (read by type checkers, never run)."""

    importer: str
    imported: str
    line: int
    deferred: bool
    typing: bool = False


def module_files(root: Path = REPO_ROOT) -> dict[str, Path]:
    """Every flowdeck module name and its file."""
    found: dict[str, Path] = {}
    for folder in ROOTS:
        for path in sorted((root / folder).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(("flowdeck", *parts))] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, deferred: bool = False,
             typing: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    """Import statements, each with whether it sits inside a function body and whether it is for type checkers only."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), deferred, True)
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), deferred, typing)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, deferred, typing
        inside = deferred or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        yield from _imports(node, inside, typing)


def import_edges(root: Path = REPO_ROOT) -> list[Edge]:
    """Every import of one flowdeck module by another."""
    modules = module_files(root)
    edges: list[Edge] = []
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node, deferred, typing in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from the importer's package
                    package = name if is_package else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}" if base else package
                for alias in node.names:  # `from package import module` imports the module
                    targets.append(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
            for target in targets:
                if target in modules and target != name:
                    edges.append(Edge(name, target, node.lineno, deferred, typing))
    return edges


def cycles(edges: list[Edge], *, deferred: bool, typing: bool = False) -> list[list[str]]:
    """Every elementary import cycle, each as its modules in import order, closed on the first one.

    ``deferred``: count imports inside functions too; ``typing``: and imports for type checkers.
    """
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if (deferred or not edge.deferred) and (typing or not edge.typing):
            graph.setdefault(edge.importer, set()).add(edge.imported)
            graph.setdefault(edge.imported, set())
    found: list[list[str]] = []
    for component in _components(graph):
        if len(component) > 1:
            found.extend(_elementary_cycles(graph, component))
    return sorted(found)


def _elementary_cycles(graph: dict[str, set[str]], component: set[str]) -> list[list[str]]:
    """Each cycle of a strongly connected component once, starting at its smallest module (plain DFS:
    the components of an import graph are small)."""
    found: list[list[str]] = []
    for start in sorted(component):
        found.extend(_cycles_through(graph, start, {name for name in component if name >= start}))
    return found


def _cycles_through(graph: dict[str, set[str]], start: str, allowed: set[str]) -> list[list[str]]:
    """The cycles from ``start`` back to it through ``allowed`` modules only."""
    found: list[list[str]] = []
    path = [start]

    def walk(node: str) -> None:
        for child in sorted(graph[node] & allowed):
            if child == start:
                found.append([*path, start])
            elif child not in path:
                path.append(child)
                walk(child)
                path.pop()

    walk(start)
    return found


def _components(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[set[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                result.append(component)
    return result


def main() -> int:
    """Print the module-level and the runtime import cycles; 1 when there is any."""
    edges = import_edges()
    module_level = cycles(edges, deferred=False)
    runtime = cycles(edges, deferred=True)
    typed = cycles(edges, deferred=True, typing=True)
    for title, found in (("module-level import cycles", module_level),
                         ("runtime import cycles (counting imports inside functions)", runtime),
                         ("cycles counting `if TYPE_CHECKING:` imports too", typed)):
        print(f"{title}: {len(found)}")
        for cycle in found:
            print("  " + " -> ".join(name.removeprefix("flowdeck.") for name in cycle))
    return 1 if runtime else 0


if __name__ == "__main__":
    sys.exit(main())
