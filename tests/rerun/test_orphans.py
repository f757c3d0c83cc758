"""Orphans: runs whose process died are marked abandoned with the reason; what they left behind
(staging tables, half-written files, temporary files) is swept, and `flowdeck cleanup` says what."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowdeck.engine.run.processes import process_identity
from flowdeck.engine.workspace import Workspace
from flowdeck.state import Ledger
from flowdeck.engine.backends.base import run_tag
from tests.rerun.helpers import flowdeck, land_deliveries, ledger_rows, warehouse_tables, write_pipeline


def crash(project: Path, point: str) -> str:
    result = flowdeck(project, "run", "daily_sales", env={"FLOWDECK_DEBUG_CRASH_AT": point})
    assert result.returncode == -signal.SIGKILL
    return ledger_rows(project, "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")[0][0]


def claimed_run(project: Path, pid: int, identity: str | None) -> str:
    project_dir = project / ".flowdeck"
    project_dir.mkdir(exist_ok=True)
    with Ledger(project_dir / "ledger.sqlite") as ledger:
        run, _ = ledger.create_run("daily_sales", trigger_kind="manual")
        assert ledger.claim_run(run.run_id, pid=pid, process_started=identity)
    return run.run_id


def dead_pid() -> int:
    """The pid of a process that has exited (and been waited for)."""
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(finished.stdout)


def test_opening_the_ledger_reaps_nothing_until_it_is_asked_for(project: Path) -> None:
    run_id = claimed_run(project, dead_pid(), identity=None)
    workspace = Workspace.open(project)
    try:
        run = workspace.ledger.get_run(run_id)  # reading the ledger is only reading
        assert run is not None and run.status == "running"
        assert [reaped.run_id for reaped in workspace.reap_orphans()] == [run_id]
        after = workspace.ledger.get_run(run_id)
        assert after is not None and after.status == "abandoned"
    finally:
        workspace.close()


def test_status_reports_a_run_whose_process_died_as_abandoned(project: Path) -> None:
    run_id = claimed_run(project, dead_pid(), identity=None)
    result = flowdeck(project, "status", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["running"] == []
    assert [(run["run_id"], run["status"]) for run in document["last_errors"]] == [(run_id, "abandoned")]
    assert "is gone" in document["last_errors"][0]["error"]


def test_a_run_whose_process_died_is_marked_abandoned_with_the_reason(project: Path) -> None:
    run_id = crash(project, "staged:raw_orders")
    assert flowdeck(project, "runs").returncode == 0  # anything that opens the project notices
    (status, error) = ledger_rows(project, "SELECT status, error FROM runs WHERE run_id = ?", (run_id,))[0]
    assert status == "abandoned" and "its process (pid" in error and "is gone" in error
    steps = dict(ledger_rows(project, "SELECT step, status FROM steps WHERE run_id = ?", (run_id,)))
    assert steps["raw_orders"] == "failed" and steps["daily_sales"] == "canceled", "no step stays running or pending"


def test_a_recycled_pid_is_not_taken_for_the_runs_process(project: Path) -> None:
    alive = os.getpid()  # a live process, but not the one that claimed the run
    recycled = claimed_run(project, alive, identity="1")
    ours = claimed_run(project, alive, identity=process_identity(alive))
    workspace = Workspace.open(project)
    try:
        workspace.reap_orphans()  # asked for where run states must be true, never a side effect of opening
        reaped = {run.run_id for run in workspace.ledger.runs_in_status("abandoned")}
    finally:
        workspace.close()
    assert reaped == {recycled}
    (error,) = ledger_rows(project, "SELECT error FROM runs WHERE run_id = ?", (recycled,))[0]
    assert "that pid now belongs to another process" in error
    assert ledger_rows(project, "SELECT status FROM runs WHERE run_id = ?", (ours,)) == [("running",)]


@pytest.mark.slow
def test_cleanup_removes_what_dead_runs_left_and_reports_it(project: Path) -> None:
    exporting = crash(project, "exporting:export_daily_sales")
    land_deliveries(project, parts=2)
    result = flowdeck(project, "run", "ingest_orders", env={"FLOWDECK_DEBUG_CRASH_AT": "staged:landed_orders"})
    assert result.returncode == -signal.SIGKILL
    staging = ledger_rows(project, "SELECT run_id FROM runs WHERE pipeline = 'ingest_orders'")[0][0]
    stale = project / ".flowdeck" / "tmp" / f"run-{staging}"
    assert stale.is_dir(), "the killed run's private temp folder is left behind"
    stages = [name for name in warehouse_tables(project) if name.startswith("__fd_stage__")]
    partials = list((project / "exports").glob(".daily_sales.parquet.fdpartial-*"))
    assert stages == [f"__fd_stage__landed_orders__{run_tag(staging)}"]
    assert [path.name for path in partials] == [f".daily_sales.parquet.fdpartial-{exporting}"]

    result = flowdeck(project, "cleanup", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["abandoned_runs"] == [staging]  # the first was abandoned when the second run opened the project
    assert report["staging_tables"] == stages
    assert report["partial_files"] == [str(partials[0].relative_to(project))]
    assert report["temp_files"] == [f".flowdeck/tmp/run-{staging}"]
    assert not [name for name in warehouse_tables(project) if name.startswith("__fd_stage__")]
    assert not partials[0].exists() and not stale.exists()
    assert flowdeck(project, "cleanup").stdout.strip() == "nothing to clean up"


def test_cleanup_leaves_the_staging_tables_of_live_runs(project: Path) -> None:
    run_id = claimed_run(project, os.getpid(), process_identity(os.getpid()))
    import duckdb

    warehouse = project / ".flowdeck" / "warehouse.duckdb"
    connection = duckdb.connect(str(warehouse))
    connection.execute(f'CREATE TABLE "__fd_stage__x__{run_tag(run_id)}" AS SELECT 1 AS n')
    connection.execute('CREATE TABLE "__fd_stage__x__19990101_000000_000000" AS SELECT 1 AS n')
    connection.close()
    report = json.loads(flowdeck(project, "cleanup", "--json").stdout)
    assert report["staging_tables"] == ["__fd_stage__x__19990101_000000_000000"]
    assert f"__fd_stage__x__{run_tag(run_id)}" in warehouse_tables(project)


@pytest.mark.slow
def test_a_run_marked_abandoned_while_alive_stops_instead_of_writing_on(project: Path) -> None:
    write_pipeline(project, "slow", """\
        steps:
          - name: big
            kind: transform
          - name: after
            kind: transform
    """, {"big.sql": "SELECT sum(i) AS total FROM range(20000000000) AS t(i)\n",
          "after.sql": "SELECT * FROM big\n"})
    child = subprocess.Popen([sys.executable, "-m", "flowdeck.console.cli.main", "--project", str(project), "run", "slow"],
                             cwd=project, env=dict(os.environ),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.2)
        rows = ledger_rows(project, "SELECT run_id FROM steps WHERE step = 'big' AND status = 'running'") \
            if (project / ".flowdeck" / "ledger.sqlite").exists() else []
        if rows:
            break
    (run_id,) = rows[0]
    with Ledger(project / ".flowdeck" / "ledger.sqlite") as ledger:  # what a reaper that saw no heartbeat does
        assert ledger.mark_abandoned(run_id, "no heartbeat for 200s")
    child.communicate(timeout=30)
    assert child.returncode == 1
    assert ledger_rows(project, "SELECT status FROM runs WHERE run_id = ?", (run_id,)) == [("abandoned",)]
    assert ledger_rows(project, "SELECT count(*) FROM commits") == [(0,)]
    assert "big" not in warehouse_tables(project) and "after" not in warehouse_tables(project)
