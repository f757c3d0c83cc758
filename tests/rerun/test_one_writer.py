"""One writer: a run waiting for the warehouse says which run and process holds it, in the
terminal and in the ledger, for at most warehouse.lock_timeout."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flowdeck.state import Ledger
from tests.rerun.helpers import flowdeck, ledger_rows

HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(float(sys.argv[2]))"


@contextmanager
def warehouse_held(project: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the warehouse open for ``seconds``."""
    (project / ".flowdeck").mkdir(exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(project / ".flowdeck" / "warehouse.duckdb"), str(seconds)],
                              stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    try:
        yield holder
    finally:
        holder.kill()
        holder.wait()


def set_lock_timeout(project: Path, value: str) -> None:
    path = project / "flowdeck.yaml"
    path.write_text(path.read_text().replace("lock_timeout: 60s", f"lock_timeout: {value}"))


def test_a_run_waits_for_the_holder_names_it_and_gives_up_after_lock_timeout(project: Path) -> None:
    set_lock_timeout(project, "1500ms")
    with warehouse_held(project, 60) as holder:
        result = flowdeck(project, "run", "daily_sales")
    assert result.returncode == 4
    assert f"waiting for the warehouse, held by process {holder.pid}" in result.stderr
    assert f"held by process {holder.pid}, and it did not let go within 2s" in result.stderr
    assert "warehouse.lock_timeout" in result.stderr
    (run_id, status) = ledger_rows(project, "SELECT run_id, status FROM runs")[0]
    assert status == "failed"
    waits = ledger_rows(project, "SELECT message FROM events WHERE run_id = ? AND kind = 'run.waiting'", (run_id,))
    assert waits and f"process {holder.pid}" in waits[0][0]


def test_the_wait_names_the_run_that_holds_the_warehouse(project: Path) -> None:
    set_lock_timeout(project, "1s")
    with warehouse_held(project, 60) as holder:
        with Ledger(project / ".flowdeck" / "ledger.sqlite") as ledger:
            other, _ = ledger.create_run("ingest_orders", trigger_kind="manual")
            ledger.claim_run(other.run_id, pid=holder.pid)
        result = flowdeck(project, "run", "daily_sales")
    assert result.returncode == 4
    assert f"held by run {other.run_id} of ingest_orders (pid {holder.pid})" in result.stderr


def test_a_run_that_waits_less_than_lock_timeout_goes_on_and_succeeds(project: Path) -> None:
    with warehouse_held(project, 120) as holder:
        run = subprocess.Popen([sys.executable, "-m", "flowdeck.console.cli.main", "--project", str(project), "run", "daily_sales"],
                               cwd=project, env=dict(os.environ), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _waiting_recorded(project):
            time.sleep(0.1)
        holder.kill()  # the holder lets go; the run goes on
        _, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    assert f"waiting for the warehouse, held by process {holder.pid}" in stderr


def _waiting_recorded(project: Path) -> bool:
    if not (project / ".flowdeck" / "ledger.sqlite").exists():
        return False
    try:
        rows = ledger_rows(project, "SELECT count(*) FROM events WHERE kind = 'run.waiting'")
    except sqlite3.Error:  # the ledger is being created
        return False
    return bool(rows) and rows[0][0] > 0  # no rows: the ledger is not migrated yet


def test_two_runs_at_once_take_turns_and_both_succeed(project: Path) -> None:
    environment = dict(os.environ)
    # --force: both runs publish (without it the second would find every step unchanged and write nothing)
    command = [sys.executable, "-m", "flowdeck.console.cli.main", "--project", str(project), "run", "daily_sales",
               "--force"]
    runs = [subprocess.Popen(command, cwd=project, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    codes = [run.wait(timeout=120) for run in runs]
    assert codes == [0, 0]
    assert ledger_rows(project, "SELECT count(*) FROM runs WHERE status = 'succeeded'") == [(2,)]
    assert ledger_rows(project, "SELECT count(*) FROM commits WHERE output = 'daily_sales'") == [(2,)]
