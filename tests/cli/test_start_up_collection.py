"""Garbage collection is held while a flowdeck process starts and resumed as its command begins its work
(engine/startup.py): a run's steps, in the foreground and in a detached worker, and every other command
run with the collector on, what the start created frozen out of its sight (real CLI processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT, clean_env, entry_point_probe, ledger_rows, run_flowdeck, warehouse_rows
from tests.rerun.helpers import write_python_pipeline

# the step reports the collector as the process running it has it: on, and how many objects were frozen
FUNCTIONS = """\
import gc

import pyarrow as pa


def collector() -> pa.Table:
    return pa.table({"enabled": [gc.isenabled()], "frozen": [gc.get_freeze_count()]})
"""

# the console script's entry point in a process of its own; then how it left the collector
ENTRY = entry_point_probe('{"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}', imports="import gc")


def _probe_project(project: Path) -> Path:
    write_python_pipeline(project, "probe", FUNCTIONS, "collector")
    return project


def _collector_seen_by_the_step(project: Path) -> tuple[bool, int]:
    [(enabled, frozen)] = warehouse_rows(project, "SELECT enabled, frozen FROM probe")
    return bool(enabled), int(frozen)


def test_a_foreground_runs_steps_run_with_the_collector_on_after_a_start_without_it(project: Path) -> None:
    _probe_project(project)
    result = run_flowdeck("run", "probe", "--force", project=project)
    assert result.returncode == 0, result
    enabled, frozen = _collector_seen_by_the_step(project)
    assert enabled  # resumed before the run executes: a long run is collected as before
    assert frozen > 1000  # what the start imported was frozen when the hold ended (it never ran without a hold)
    # the ledger, opened before the hold ended (so frozen: no collection at exit closes it), was closed by the
    # command: its write-ahead log checkpointed into the file and removed, as an exit used to do
    assert not (project / ".flowdeck" / "ledger.sqlite-wal").exists()


def test_a_detached_workers_steps_run_with_the_collector_on(project: Path) -> None:
    _probe_project(project)
    queued = run_flowdeck("run", "probe", "--detach", project=project)
    assert queued.returncode == 0, queued
    [run] = ledger_rows(project, "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")
    followed = run_flowdeck("logs", run["run_id"], "--follow", project=project)  # returns once the run ends
    assert followed.returncode == 0, followed
    [finished] = ledger_rows(project, "SELECT status FROM runs WHERE run_id = ?", (run["run_id"],))
    assert finished["status"] == "succeeded"
    enabled, frozen = _collector_seen_by_the_step(project)
    assert enabled and frozen > 1000  # the worker (python -m flowdeck.engine.run.worker) held and resumed it too


def test_other_commands_resume_the_collector_as_they_are_dispatched(project: Path) -> None:
    for arguments in (["validate"], ["runs", "--json"], ["run", "no_such_pipeline"]):
        completed = subprocess.run([sys.executable, "-c", ENTRY, "--project", str(project), *arguments],
                                   cwd=REPO_ROOT, env=clean_env(), capture_output=True, text=True, timeout=120)
        state = json.loads(completed.stdout.strip().splitlines()[-1])
        if arguments[0] == "run":  # refused before its execution: the short process ends still holding it
            assert state["exit"] == 2 and not state["enabled"], completed.stderr
        else:
            assert state["exit"] in (0, None), completed.stderr
            assert state["enabled"] and state["frozen"] > 1000, arguments


def test_resuming_without_a_hold_leaves_a_collector_turned_off_elsewhere_off() -> None:
    probe = ("import gc; from flowdeck.engine.startup import hold_collection, resume_collection\n"
             "gc.disable(); hold_collection(); resume_collection()\n"  # off before us: not ours to turn on
             "print(gc.isenabled(), gc.get_freeze_count())")
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert completed.stdout.split() == ["False", "0"]
