"""A run's process ends without the interpreter's teardown once Python's exit has run (engine/startup.py):
every exit handler still runs, the status is the command's, and nothing the run opened is left open
(real CLI processes: the console script, ``python -m`` and the detached worker)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO_ROOT, clean_env, entry_point_probe, ledger_rows, run_flowdeck
from tests.rerun.helpers import write_pipeline, write_python_pipeline

# An exit handler (Python's exit runs it) and an object freed only by the teardown (its module's globals are
# cleared then); each says so on stderr, through a write bound while the module still has it.
FUNCTIONS = """\
import atexit
import os

import pyarrow as pa

atexit.register(lambda write=os.write: write(2, b"exit handlers ran\\n"))


class Witness:
    def __del__(self, write=os.write):
        write(2, b"torn down\\n")


witness = Witness()


def one_row() -> pa.Table:
    return pa.table({"x": [1]})
"""

FAILING = """\
steps:
  - name: broken
    kind: transform
    sql: broken.sql
"""

# the entry point as a caller in its own process uses it (a test): no quick exit registered
IN_PROCESS = entry_point_probe("{}")


def _witness_project(project: Path) -> Path:
    write_python_pipeline(project, "witness", FUNCTIONS, "one_row")
    return project


def _left_open(project: Path) -> list[str]:
    """Files a process leaves beside the ledger and the warehouse when it did not close them."""
    state = project / ".flowdeck"
    return sorted(path.name for path in state.iterdir() if path.name.endswith(("-wal", "-shm", ".wal")))


def test_a_run_ends_after_the_exit_handlers_without_the_teardown(project: Path) -> None:
    _witness_project(project)
    result = run_flowdeck("run", "witness", "--force", project=project)
    assert result.returncode == 0, result
    assert "exit handlers ran" in result.stderr  # Python's exit ran as ever
    assert "torn down" not in result.stderr  # then the process ended: no module was cleared
    assert "succeeded" in result.stdout + result.stderr  # what the run printed was flushed before the end
    assert _left_open(project) == []  # the ledger's -wal/-shm and DuckDB's log: closed before it


def test_a_caller_of_run_in_its_own_process_keeps_the_teardown(project: Path) -> None:
    # the witness above is real: without the quick exit the teardown frees it
    _witness_project(project)
    completed = subprocess.run([sys.executable, "-c", IN_PROCESS, "--project", str(project), "run", "witness", "--force"],
                               cwd=REPO_ROOT, env=clean_env(), capture_output=True, text=True, timeout=120)
    assert json.loads(completed.stdout.splitlines()[-1])["exit"] == 0, completed.stderr
    assert "exit handlers ran" in completed.stderr and "torn down" in completed.stderr


def test_a_failed_run_exits_1_and_closes_what_it_opened(project: Path) -> None:
    write_pipeline(project, "broken", FAILING, {"broken.sql": "SELECT error('the step fails as it runs') AS x\n"})
    completed = subprocess.run([sys.executable, "-m", "flowdeck.console.cli.main", "--project", str(project), "run",
                                "broken"], cwd=REPO_ROOT, env=clean_env(), capture_output=True, text=True, timeout=120)
    assert completed.returncode == 1, completed.stderr
    assert "the step fails as it runs" in completed.stderr + completed.stdout
    assert _left_open(project) == []


def test_a_command_that_leaves_closing_to_the_teardown_is_not_cut_short(project: Path) -> None:
    # `runs` opens the ledger and leaves it to the exit: its -wal and -shm must still go (a viewer's read needs it)
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 0
    listed = run_flowdeck("runs", project=project)
    assert listed.returncode == 0, listed
    assert _left_open(project) == []


def test_a_detached_worker_ends_after_its_exit_handlers_without_the_teardown(project: Path) -> None:
    _witness_project(project)
    queued = run_flowdeck("run", "witness", "--force", "--detach", project=project)
    assert queued.returncode == 0, queued
    [run] = ledger_rows(project, "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")
    assert run_flowdeck("logs", run["run_id"], "--follow", project=project).returncode == 0
    worker_log = project / ".flowdeck" / "logs" / f"worker-{run['run_id']}.log"
    for _ in range(100):  # the run's end is recorded before the worker's exit handlers write
        if "exit handlers ran" in worker_log.read_text():
            break
        time.sleep(0.1)
    assert "exit handlers ran" in worker_log.read_text()
    assert "torn down" not in worker_log.read_text()
    [finished] = ledger_rows(project, "SELECT status FROM runs WHERE run_id = ?", (run["run_id"],))
    assert finished["status"] == "succeeded"
