"""The data path's layers (docs/development.md): the run lifecycle → steps → backends and connectors
→ SQL, with no import cycles, read from the source by tests/unit/import_cycles.py (imports inside
functions count; ``if TYPE_CHECKING:`` imports count where said)."""

from __future__ import annotations

from tests.unit.import_cycles import Edge, cycles, import_edges

EDGES = import_edges()
DATA_PATH = ("flowdeck.engine.steps", "flowdeck.engine.connectors", "flowdeck.engine.backends", "flowdeck.engine.sql")
# The run lifecycle picks the engine and opens its backend in one module; until that choice lives
# behind the Backend interface, it may import the backends' own modules (and nothing else may).
PICKS_THE_ENGINE = {"flowdeck.engine.run.backend_factory"}


def _within(name: str, *packages: str) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def _imports(importer: tuple[str, ...], imported: tuple[str, ...]) -> list[Edge]:
    return [edge for edge in EDGES if _within(edge.importer, *importer) and _within(edge.imported, *imported)]


def test_no_import_cycle_runs_anywhere() -> None:
    """Not in the engine, the ledger or the console, not even through an import inside a function."""
    assert len({edge.importer for edge in EDGES}) > 150, "the import graph is missing most of flowdeck's modules"
    found = cycles(EDGES, deferred=True)
    assert not found, "\n".join(" -> ".join(cycle) for cycle in found)


def test_no_data_path_module_imports_one_that_imports_it_back_even_for_type_checkers() -> None:
    found = [cycle for cycle in cycles(EDGES, deferred=True, typing=True)
             if any(_within(name, *DATA_PATH) for name in cycle)]
    assert not found, "\n".join(" -> ".join(cycle) for cycle in found)


def test_backends_and_connectors_never_import_steps_or_the_run_lifecycle() -> None:
    edges = _imports(("flowdeck.engine.backends", "flowdeck.engine.connectors"),
                     ("flowdeck.engine.steps", "flowdeck.engine.run"))
    assert not edges, edges


def test_steps_never_import_the_run_lifecycle() -> None:
    edges = _imports(("flowdeck.engine.steps",), ("flowdeck.engine.run", "flowdeck.engine.workspace"))
    assert not edges, edges


def test_only_the_backends_import_a_backends_own_modules() -> None:
    internals = ("flowdeck.engine.backends.duckdb.backend", "flowdeck.engine.backends.spark")
    edges = [edge for edge in _imports(("flowdeck",), internals)
             if not _within(edge.importer, "flowdeck.engine.backends") and edge.importer not in PICKS_THE_ENGINE]
    assert not edges, edges
