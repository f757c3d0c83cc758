"""Helpers of the rerun-safety tests: the real CLI in subprocesses, and independent ways to look
at tables, files and the ledger."""

from __future__ import annotations

import csv
import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path
from typing import Any

import duckdb

from tests.conftest import copy_example_project

REPO = Path(__file__).resolve().parents[2]


def flowdeck(project: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process; return its exit code and output."""
    environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    environment.pop("FLOWDECK_PROJECT", None)
    return subprocess.run(
        [sys.executable, "-m", "flowdeck.console.cli.main", "--project", str(project), *args],
        cwd=project, env=environment, capture_output=True, text=True, timeout=timeout,
    )


def write_pipeline(project: Path, name: str, yaml_text: str, sql: dict[str, str] | None = None) -> Path:
    """Write a pipeline.yaml (and its SQL files) under pipelines/<name>/."""
    folder = project / "pipelines" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipeline.yaml").write_text(textwrap.dedent(yaml_text))
    for file_name, text in (sql or {}).items():
        (folder / file_name).write_text(textwrap.dedent(text))
    return folder


def write_python_pipeline(project: Path, name: str, module: str, function: str) -> Path:
    """A pipeline of one Python step, both named ``name``, running ``function`` of ``<name>.py`` (``module``)."""
    return write_pipeline(project, name, f"steps:\n  - name: {name}\n    kind: python\n    function: {name}:{function}\n",
                          {f"{name}.py": module})


def write_slow_pipeline(project: Path, name: str = "slow") -> Path:
    """A pipeline of one transform, ``slow``, that runs until it is interrupted (a sum over 30 billion rows)."""
    return write_pipeline(project, name, "steps:\n  - name: slow\n    kind: transform\n    sql: slow.sql\n",
                          {"slow.sql": "SELECT sum(hash(range) % 7) AS n FROM range(30000000000)\n"})


def step_running(project: Path, step: str) -> bool:
    """Whether the ledger shows ``step`` running (False while there is no ledger, or not its tables yet)."""
    try:
        with closing(sqlite3.connect(f"file:{project / '.flowdeck' / 'ledger.sqlite'}?mode=ro", uri=True)) as db:
            return db.execute("SELECT 1 FROM steps WHERE step = ? AND status = 'running'", (step,)).fetchone() is not None
    except sqlite3.Error:
        return False


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    """Write a CSV file (creating its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def sample_orders(project: Path) -> tuple[list[str], list[list[str]]]:
    """The example's raw order feed: header and rows."""
    with open(project / "data" / "sample" / "orders.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def land_deliveries(project: Path, parts: int = 3, overlap: int = 40) -> list[Path]:
    """Split the sample order feed into delivery files in landing/orders/ (consecutive files overlap,
    as re-deliveries do)."""
    header, rows = sample_orders(project)
    size = len(rows) // parts + 1
    written = []
    for index in range(parts):
        chunk = rows[max(index * size - overlap, 0):(index + 1) * size]
        written.append(write_csv(project / "landing" / "orders" / f"delivery_{index:02d}.csv", header, chunk))
    return written


def table_rows(project: Path, table: str) -> list[tuple[Any, ...]]:
    """Every row of a warehouse table, sorted (read with a connection of our own)."""
    connection = duckdb.connect(str(project / ".flowdeck" / "warehouse.duckdb"), read_only=True)
    try:
        return connection.execute(f'SELECT * FROM "{table}" ORDER BY ALL').fetchall()
    finally:
        connection.close()


def warehouse_tables(project: Path) -> list[str]:
    """Names of the tables and views of the warehouse's main schema."""
    connection = duckdb.connect(str(project / ".flowdeck" / "warehouse.duckdb"), read_only=True)
    try:
        return sorted(row[0] for row in connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall())
    finally:
        connection.close()


def sha256_file(path: Path) -> str:
    """The sha256 of a file, computed here."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ledger_rows(project: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a query on the ledger, read with sqlite3 directly."""
    import sqlite3

    connection = sqlite3.connect(project / ".flowdeck" / "ledger.sqlite")
    try:
        return connection.execute(sql, args).fetchall()
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):  # the ledger file exists but its process has not migrated it yet
            return []
        raise
    finally:
        connection.close()


def edit_pipeline(project: Path, name: str, **step_changes: dict[str, Any]) -> None:
    """Change keys of some steps of a pipeline.yaml: ``edit_pipeline(p, "daily_sales", raw_orders={"retries": ...})``."""
    import yaml

    path = project / "pipelines" / name / "pipeline.yaml"
    document = yaml.safe_load(path.read_text())
    for step in document["steps"]:
        step.update(step_changes.get(step["name"], {}))
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def run_in_process(project: Path, pipeline: str, **submit: Any) -> tuple[str, str]:
    """Queue and execute a run in this process through the client API; return (run id, status)."""
    from flowdeck.engine.workspace import Workspace

    workspace = Workspace.open(project)
    try:
        run, _ = workspace.submit(pipeline, **submit)
        return run.run_id, workspace.execute(run.run_id)
    finally:
        workspace.close()


def step_payload(project: Path, run_id: str, step: str) -> dict[str, Any]:
    """The payload of a step's success event (rows, rows read, files read, note...)."""
    import json

    rows = ledger_rows(project, "SELECT payload_json FROM events WHERE run_id = ? AND step = ? AND kind = 'step.succeeded'",
                       (run_id, step))
    assert rows, f"step {step} of run {run_id} did not succeed"
    return json.loads(rows[-1][0])


def portable_rows(project: Path, table: str) -> list[tuple[Any, ...]]:
    """``table_rows`` with the project's folder taken out of file names, to compare two projects."""
    prefix = f"{project}/"  # the same for every row, so taking it out keeps the rows sorted
    return [tuple(value.removeprefix(prefix) if isinstance(value, str) else value for value in row)
            for row in table_rows(project, table)]


def copy_example(root: Path) -> Path:
    """A copy of the bundled example project at ``root``, with an empty landing folder."""
    copy_example_project(root)
    (root / "landing" / "orders").mkdir(parents=True, exist_ok=True)
    return root
