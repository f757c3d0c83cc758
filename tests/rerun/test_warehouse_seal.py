"""The warehouse's seal (engine/backends/duckdb/seal.py), with the real CLI, a real DuckDB file and a real ledger:
a rerun that finds every step unchanged opens no DuckDB while the file is as the last run left it, and any
change to the file, or a ledger that lacks a commit in it, sends the run through the warehouse as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from tests.conftest import entry_point_probe
from tests.rerun.helpers import REPO, flowdeck, ledger_rows
from tests.rerun.test_one_writer import set_lock_timeout, warehouse_held

STEPS = {"raw_orders", "raw_customers", "raw_products", "orders_clean", "sales", "check_orders_reference_customers",
         "daily_sales", "export_daily_sales"}
WAREHOUSE = Path(".flowdeck") / "warehouse.duckdb"

# the console script's own entry point, then what it imported
ENTRY = entry_point_probe('{"modules": sorted(sys.modules)}')


def run(project: Path) -> str:
    """`flowdeck run daily_sales`; the new run's id."""
    result = flowdeck(project, "run", "daily_sales")
    assert result.returncode == 0, result.stdout + result.stderr
    return str(ledger_rows(project, "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")[0][0])


def ran(project: Path, run_id: str) -> set[str]:
    """The steps of the run that were not reused as unchanged."""
    rows = ledger_rows(project, "SELECT step, coalesce(reuse_reason, status) FROM steps WHERE run_id = ?", (run_id,))
    assert {step for step, _ in rows} == STEPS
    return {step for step, how in rows if how != "unchanged"}


def test_an_unchanged_rerun_opens_no_warehouse_and_imports_only_what_it_uses(project: Path) -> None:
    run(project)
    assert (project / ".flowdeck" / "warehouse.duckdb.seal").is_file()  # the run sealed what it closed
    environment = {**os.environ, "NO_COLOR": "1"}
    environment.pop("FLOWDECK_PROJECT", None)
    completed = subprocess.run([sys.executable, "-c", ENTRY, "--project", str(project), "run", "daily_sales"],
                               cwd=REPO, env=environment, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["exit"] == 0, completed.stderr
    second = str(ledger_rows(project, "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")[0][0])
    assert ran(project, second) == set()
    modules = set(result["modules"])
    # no DuckDB (the seal answered), no parser, no console, no click beside typer's own copy
    assert not {name.split(".")[0] for name in modules} & {"duckdb", "sqlglot", "textual", "click"}
    assert "typer._adapters" not in modules  # typer's pydantic adapters: text and flags are taken as given
    assert {name for name in modules if name.startswith("flowdeck.console.cli.commands_")} == {
        "flowdeck.console.cli.commands_runs"}  # only the module of the command that ran


def test_a_table_dropped_behind_flowdecks_back_breaks_the_seal(project: Path) -> None:
    run(project)
    assert ran(project, run(project)) == set()  # under the seal
    connection = duckdb.connect(str(project / WAREHOUSE))
    connection.execute("DROP TABLE daily_sales")
    connection.close()
    assert ran(project, run(project)) == {"daily_sales", "export_daily_sales"}
    assert ran(project, run(project)) == set()  # and sealed again


def test_a_warehouse_replaced_by_a_copy_breaks_the_seal(project: Path) -> None:
    run(project)
    warehouse = project / WAREHOUSE
    copy = warehouse.with_name("copy.duckdb")
    copy.write_bytes(warehouse.read_bytes())
    connection = duckdb.connect(str(copy))
    connection.execute("DROP VIEW sales")
    connection.close()
    os.replace(copy, warehouse)  # same name, other file (its own inode), one object fewer
    assert ran(project, run(project)) == {"sales", "daily_sales", "export_daily_sales"}


def test_a_ledger_that_lacks_the_last_commit_does_not_believe_the_seal(project: Path) -> None:
    run(project)
    (seq, step) = ledger_rows(project, "SELECT seq, step FROM commits ORDER BY seq DESC LIMIT 1")[0]
    ledger = project / ".flowdeck" / "ledger.sqlite"
    import sqlite3

    connection = sqlite3.connect(ledger)
    with connection:  # as if the ledger had missed that commit (restored from before it)
        connection.execute("DELETE FROM commits WHERE seq = ?", (seq,))
    connection.close()
    run(project)
    # the run opened the warehouse and its janitor reconciled the commit from the warehouse's marker
    assert ledger_rows(project, "SELECT step, reconciled FROM commits WHERE seq = ?", (seq,)) == [(step, 1)]


def test_an_unchanged_run_waits_for_a_process_holding_the_warehouse_as_any_run_does(project: Path) -> None:
    run(project)
    set_lock_timeout(project, "1s")
    with warehouse_held(project, 60) as holder:  # holds it open and writes nothing: the file still matches its seal
        result = flowdeck(project, "run", "daily_sales")
    assert result.returncode == 4, result.stderr
    assert f"waiting for the warehouse, held by process {holder.pid}" in result.stderr
    assert ran(project, run(project)) == set()  # let go: under the seal again
