"""Shared fixtures: a copy of the bundled example project, the real `flowdeck` CLI run as a
subprocess, and an environment without inherited secrets.

Nothing here depends on the terminal, $HOME or the time of day: every test gets its own
project folder under ``tmp_path`` and a scrubbed environment.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backends import fail

from flowdeck.engine.masking import MASKER

REPO_ROOT = Path(__file__).resolve().parent.parent
# a warm server of the person running the tests is not one under test (tests/cli/conftest.py starts its own): the
# suite's processes look for one in a runtime folder of the suite's (and a FLOWDECK_ variable would be inherited)
os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="fd-tests-")
atexit.register(shutil.rmtree, os.environ["XDG_RUNTIME_DIR"], True)
FLOWDECK = Path(sys.executable).with_name("flowdeck")
# what makes up the example project (the rest of the repository is flowdeck itself)
EXAMPLE_PARTS = ("flowdeck.yaml", "pipelines", "data/sample", "landing")
# variables that would make output depend on the machine running the tests
# MAKEFLAGS and MAKELEVEL come from `make test`; a nested make would print "Entering directory" lines a user never sees.
_SCRUBBED = ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "TERM", "COLUMNS", "LINES", "FLOWDECK_PROJECT",
             "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")


def copy_example_project(target: Path) -> Path:
    """Copy the bundled example project into ``target`` (created) and return it: its configuration,
    pipelines and sample data, and an empty landing folder (runtime files of the checkout left out)."""
    target.mkdir(parents=True, exist_ok=True)
    for part in EXAMPLE_PARTS:
        source = REPO_ROOT / part
        destination = target / part
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            landed = ("*.csv",) if part == "landing" else ()
            shutil.copytree(source, destination,
                            ignore=shutil.ignore_patterns("__pycache__", ".flowdeck", "generated", *landed))
        else:
            shutil.copy2(source, destination)
    return target


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A private copy of the example project (flowdeck.yaml, pipelines/, data/sample/, landing/)."""
    return copy_example_project(tmp_path / "project")


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment the CLI runs with: no colour settings and no project chosen from outside."""
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED}
    env.update(overrides)
    return env


@dataclass
class CliResult:
    """What a `flowdeck` invocation did."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr together, for assertions on words."""
        return self.stdout + self.stderr

    def json(self) -> Any:
        """stdout parsed as JSON."""
        return json.loads(self.stdout)

    def __repr__(self) -> str:  # shown by pytest when an assertion fails
        return f"CliResult({self.args}, rc={self.returncode},\nstdout={self.stdout}\nstderr={self.stderr})"


def run_flowdeck(
    *args: str,
    project: Path | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> CliResult:
    """Run the installed `flowdeck` command (with ``--project`` when given) and capture what it printed."""
    command = [str(FLOWDECK), *(["--project", str(project)] if project is not None else []), *args]
    completed = subprocess.run(
        command,
        cwd=cwd or (project if project is not None else REPO_ROOT),
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return CliResult(command, completed.returncode, completed.stdout, completed.stderr)


def entry_point_probe(report: str, imports: str = "") -> str:
    """A ``python -c`` script: the console script's ``main.run()`` in a process of its own, with the arguments
    given after the script, then one JSON line, ``{"exit": its exit code, **report}``: ``report`` is a Python
    expression of a dict, evaluated as the command left it (``imports`` made first)."""
    return (f"import json, sys\n{imports}\nfrom flowdeck.console.cli.main import run\n"
            "sys.argv = ['flowdeck', *sys.argv[1:]]\ncode = None\n"
            "try:\n    run()\nexcept SystemExit as exit:\n    code = exit.code\n"
            f"print(json.dumps({{'exit': code, **{report}}}))\n")


@pytest.fixture
def flowdeck(project: Path) -> Callable[..., CliResult]:
    """``flowdeck("run", "daily_sales")``: the CLI on this test's copy of the example project."""

    def invoke(*args: str, **kwargs: Any) -> CliResult:
        return run_flowdeck(*args, project=project, **kwargs)

    return invoke


# -- looking at the results from outside -------------------------------------------------------


def ledger_rows(project: Path, sql: str, args: tuple[Any, ...] = (), runtime_dir: str = ".flowdeck") -> list[dict[str, Any]]:
    """Rows of a query on the project's ledger, opened read-only (not through flowdeck)."""
    path = project / runtime_dir / "ledger.sqlite"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute(sql, args).fetchall()]


def warehouse_rows(project: Path, sql: str, runtime_dir: str = ".flowdeck") -> list[tuple[Any, ...]]:
    """Rows of a query on the project's warehouse, opened read-only with DuckDB directly."""
    import duckdb

    connection = duckdb.connect(str(project / runtime_dir / "warehouse.duckdb"), read_only=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def warehouse_snapshot(project: Path) -> dict[str, Any]:
    """Every table and view of the warehouse with its full, ordered content (to prove nothing changed)."""
    import duckdb

    connection = duckdb.connect(str(project / ".flowdeck" / "warehouse.duckdb"), read_only=True)
    try:
        relations = connection.execute(
            "SELECT table_schema, table_name, table_type FROM information_schema.tables ORDER BY ALL"
        ).fetchall()
        snapshot: dict[str, Any] = {}
        for schema, name, kind in relations:
            rows = connection.execute(f'SELECT * FROM "{schema}"."{name}" ORDER BY ALL').fetchall()
            snapshot[f"{schema}.{name} ({kind})"] = rows
        return snapshot
    finally:
        connection.close()


def assert_consistent(project: Path, runtime_dir: str = ".flowdeck") -> None:
    """The ledger and the warehouse agree and hold no half-done work.

    No run is left queued or running, every step of a finished run is final, every run has
    its queued/started/finished events, no staging table is left in the warehouse, and every
    step the ledger says published has its commit marker in the warehouse.
    """
    runs = ledger_rows(project, "SELECT * FROM runs", runtime_dir=runtime_dir)
    for run in runs:
        assert run["status"] in ("succeeded", "failed", "canceled", "abandoned"), run
        assert run["ended_at"] is not None, run
        kinds = [row["kind"] for row in ledger_rows(
            project, "SELECT kind FROM events WHERE run_id = ? ORDER BY event_id", (run["run_id"],), runtime_dir)]
        assert kinds[0] == "run.queued" and f"run.{run['status']}" in kinds, kinds
        steps = ledger_rows(project, "SELECT * FROM steps WHERE run_id = ?", (run["run_id"],), runtime_dir)
        assert all(step["status"] in ("succeeded", "failed", "skipped", "canceled") for step in steps), steps
    integrity = ledger_rows(project, "PRAGMA integrity_check", runtime_dir=runtime_dir)
    assert list(integrity[0].values()) == ["ok"]
    if not (project / runtime_dir / "warehouse.duckdb").exists():
        return
    leftovers = warehouse_rows(
        project, "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '__fd_stage__%'", runtime_dir)
    assert leftovers == [], f"staging leftovers: {leftovers}"
    markers = {(run_id, step) for run_id, step in warehouse_rows(
        project, "SELECT run_id, step FROM _flowdeck.commits", runtime_dir)}
    published = ledger_rows(project, """SELECT run_id, step FROM steps
                                        WHERE status = 'succeeded' AND output IS NOT NULL
                                        AND reused_from IS NULL""", runtime_dir=runtime_dir)
    for row in published:
        assert (row["run_id"], row["step"]) in markers, f"no commit marker for {row}"


@pytest.fixture
def ran_daily_sales(project: Path) -> Iterator[Path]:
    """The example project after one successful `flowdeck run daily_sales`."""
    result = run_flowdeck("run", "daily_sales", project=project)
    assert result.returncode == 0, result
    yield project


@pytest.fixture
def no_inherited_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No keyring backend, no master key or credentials, no FLOWDECK_ setting or secret from the
    environment (in this process and its subprocesses); an empty masker before and after."""
    for name in list(os.environ):
        if name.startswith("FLOWDECK_") or name in ("CREDENTIALS_DIRECTORY", "PYTHON_KEYRING_BACKEND"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    MASKER.forget_all()
    yield
    keyring.set_keyring(previous)
    MASKER.forget_all()
