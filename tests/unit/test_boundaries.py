"""The architecture's import rules, checked in fresh interpreters (DESIGN.md §1).

engine/ and state/ never load textual; state/ imports nothing else from this repository;
a headless run (in-process or through the CLI) never loads textual; and the costly parsers
are only loaded when there is parsing to do.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT, clean_env, run_flowdeck

HEADLESS_MODULES = ["flowdeck.engine", "flowdeck.engine.workspace", "flowdeck.engine.plan.planner", "flowdeck.engine.plan.describe", "flowdeck.engine.run.executor",
                    "flowdeck.engine.run.worker", "flowdeck.engine.operations.scaffold", "flowdeck.engine.backends.duckdb.backend",
                    "flowdeck.engine.alerts.rules", "flowdeck.engine.project.editing", "flowdeck.state"]


def _modules_after(code: str, cwd: Path = REPO_ROOT) -> set[str]:
    """Run ``code`` in a fresh interpreter; return the names in its sys.modules at the end."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    completed = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True,
                               env=clean_env(), timeout=120)
    assert completed.returncode == 0, completed.stderr
    return set(json.loads(completed.stdout.strip().splitlines()[-1]))


def _top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_importing_the_engine_does_not_load_textual() -> None:
    loaded = _modules_after("\n".join(f"import {module}" for module in HEADLESS_MODULES))
    assert "textual" not in _top_level(loaded)


def test_headless_run_does_not_load_textual(project: Path) -> None:
    loaded = _modules_after(
        "from flowdeck.engine.workspace import Workspace\n"
        f"ws = Workspace.open({str(project)!r})\n"
        "record, _ = ws.submit('daily_sales')\n"
        "assert ws.execute(record.run_id) == 'succeeded'\n"
    )
    assert "textual" not in _top_level(loaded)


def test_cli_run_does_not_load_textual(project: Path) -> None:
    loaded = _modules_after(
        "from flowdeck.console.cli.main import app\n"
        "try:\n"
        f"    app(['--project', {str(project)!r}, 'run', 'daily_sales'])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
    )
    assert "textual" not in _top_level(loaded)


def _imported_names(path: Path) -> list[str]:
    """Every module name an ``import`` or ``from ... import`` in ``path`` names, at any depth."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def _within(name: str, *packages: str) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def test_state_imports_nothing_else_from_the_repository() -> None:
    loaded = _modules_after("import flowdeck.state, flowdeck.state.ledger, flowdeck.state.records, flowdeck.state.schema")
    assert not [name for name in loaded if _within(name, "flowdeck.engine", "flowdeck.console", "textual")]
    for path in (REPO_ROOT / "state").glob("*.py"):
        for name in _imported_names(path):
            assert not _within(name, "flowdeck.engine", "flowdeck.console"), f"{path.name} imports {name}"


def test_engine_never_imports_the_console() -> None:
    for path in (REPO_ROOT / "engine").rglob("*.py"):
        for name in _imported_names(path):
            assert not _within(name, "flowdeck.console", "textual"), f"{path} imports {name}"


def test_unchanged_sql_is_not_parsed_again(project: Path) -> None:
    """Once analysed, validating and running unchanged pipelines loads neither sqlglot nor (for validate) DuckDB."""
    assert run_flowdeck("validate", project=project).returncode == 0  # analyses and remembers every SQL file
    validate = _modules_after(
        "from flowdeck.console.cli.main import app\n"
        "try:\n"
        f"    app(['--project', {str(project)!r}, 'validate'])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
    )
    assert not _top_level(validate) & {"sqlglot", "duckdb", "textual"}
    run = _modules_after(
        "from flowdeck.console.cli.main import app\n"
        "try:\n"
        f"    app(['--project', {str(project)!r}, 'run', 'daily_sales'])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
    )
    assert "sqlglot" not in _top_level(run)


def test_help_loads_no_engine_heavyweights() -> None:
    loaded = _modules_after(
        "from flowdeck.console.cli.main import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
    )
    assert not _top_level(loaded) & {"duckdb", "sqlglot", "pydantic", "yaml", "textual"}

