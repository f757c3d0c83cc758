"""Checkpoints: resume a failed run from its first unfinished step; rerun from a step downstream."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.rerun.helpers import flowdeck, ledger_rows, run_in_process, sha256_file, table_rows, warehouse_tables

DOWNSTREAM_OF_ORDERS_CLEAN = {"orders_clean", "sales", "check_orders_reference_customers", "daily_sales",
                              "export_daily_sales"}


def break_daily_sales(project: Path) -> str:
    """Make daily_sales fail when it runs (a value that cannot be cast); return the original SQL."""
    path = project / "pipelines" / "daily_sales" / "daily_sales.sql"
    original = path.read_text()
    path.write_text(original.rstrip().rstrip(";") + "\nLIMIT CAST('not a number' AS INTEGER)\n")
    return original


def steps_of(project: Path, run_id: str) -> dict[str, tuple[str, str | None]]:
    return {step: (status, reused) for step, status, reused in
            ledger_rows(project, "SELECT step, status, reused_from FROM steps WHERE run_id = ?", (run_id,))}


def test_resume_continues_a_failed_run_from_its_failed_step_reusing_what_published(project: Path) -> None:
    assert flowdeck(project, "run", "daily_sales").returncode == 0
    clean = table_rows(project, "daily_sales")
    clean_export = sha256_file(project / "exports" / "daily_sales.parquet")
    shutil.rmtree(project / ".flowdeck")
    shutil.rmtree(project / "exports")

    original = break_daily_sales(project)
    failed = flowdeck(project, "run", "daily_sales")
    assert failed.returncode == 1
    (failed_id,) = ledger_rows(project, "SELECT run_id FROM runs")[0]
    (project / "pipelines" / "daily_sales" / "daily_sales.sql").write_text(original)

    resumed = flowdeck(project, "run", "--resume", failed_id[:12])
    assert resumed.returncode == 0, resumed.stderr
    (resumed_id,) = ledger_rows(project, "SELECT run_id FROM runs WHERE parent_run_id = ?", (failed_id,))[0]
    steps = steps_of(project, resumed_id)
    before = steps_of(project, failed_id)
    done_before = {name for name, (status, _) in before.items() if status == "succeeded"}
    assert done_before and {name for name, (_, reused) in steps.items() if reused == failed_id} == done_before
    assert steps["daily_sales"] == ("succeeded", None) and steps["export_daily_sales"] == ("succeeded", None)
    assert table_rows(project, "daily_sales") == clean
    assert sha256_file(project / "exports" / "daily_sales.parquet") == clean_export
    for table in ("raw_orders", "orders_clean"):  # published once, by the failed run, and not again
        assert ledger_rows(project, "SELECT run_id FROM commits WHERE output = ?", (table,)) == [(failed_id,)]


def test_from_step_reruns_that_step_and_everything_downstream_only(project: Path) -> None:
    assert run_in_process(project, "daily_sales")[1] == "succeeded"
    result = flowdeck(project, "run", "daily_sales", "--from", "orders_clean")
    assert result.returncode == 0, result.stderr
    (rerun,) = ledger_rows(project, "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")[0]
    assert set(steps_of(project, rerun)) == DOWNSTREAM_OF_ORDERS_CLEAN
    assert ledger_rows(project, "SELECT count(*) FROM commits WHERE output = 'raw_orders'") == [(1,)]
    assert ledger_rows(project, "SELECT count(*) FROM commits WHERE output = 'orders_clean'") == [(2,)]


def test_from_step_whose_upstream_never_ran_fails_clearly(project: Path) -> None:
    result = flowdeck(project, "run", "daily_sales", "--from", "orders_clean")
    assert result.returncode == 1
    assert "reads table `raw_orders` (from step `raw_orders`), which does not exist yet" in result.stderr
    assert "flowdeck run daily_sales" in result.stderr


def test_resume_rewrites_an_export_whose_file_changed_since(project: Path) -> None:
    path = project / "pipelines" / "daily_sales" / "pipeline.yaml"
    text = path.read_text()
    path.write_text(text + "\n  - name: always_fails\n    kind: check\n    table: daily_sales\n"
                           "    checks:\n      - row_count: {max: 0}\n")
    assert flowdeck(project, "run", "daily_sales").returncode == 1
    (failed,) = ledger_rows(project, "SELECT run_id FROM runs")[0]
    assert steps_of(project, failed)["export_daily_sales"][0] == "succeeded"
    export = project / "exports" / "daily_sales.parquet"
    good = sha256_file(export)
    export.write_bytes(b"damaged")
    path.write_text(text)

    assert flowdeck(project, "run", "--resume", failed).returncode == 0
    (resumed,) = ledger_rows(project, "SELECT run_id FROM runs WHERE parent_run_id = ?", (failed,))[0]
    steps = steps_of(project, resumed)
    assert steps["export_daily_sales"] == ("succeeded", None), "a damaged export is written again, not reused"
    assert steps["daily_sales"] == ("succeeded", failed)
    assert "always_fails" not in steps
    assert sha256_file(export) == good


@pytest.mark.parametrize(("args", "words"), [
    (("run", "--resume", "20990101-000000-abcdef"), ["no run with id 20990101-000000-abcdef", "flowdeck runs"]),
    (("run", "daily_sales", "--from", "orders_cleen"), ["has no step `orders_cleen`", "did you mean `orders_clean`?"]),
    (("run",), ["which pipeline?", "--resume RUN_ID"]),
])
def test_bad_rerun_requests_exit_2_and_change_nothing(project: Path, args: tuple[str, ...], words: list[str]) -> None:
    assert run_in_process(project, "daily_sales")[1] == "succeeded"
    before = (ledger_rows(project, "SELECT * FROM runs"), ledger_rows(project, "SELECT count(*) FROM events"),
              warehouse_tables(project))
    result = flowdeck(project, *args)
    assert result.returncode == 2, result.stderr
    for word in words:
        assert word in result.stderr
    after = (ledger_rows(project, "SELECT * FROM runs"), ledger_rows(project, "SELECT count(*) FROM events"),
             warehouse_tables(project))
    assert after == before


def test_a_succeeded_run_cannot_be_resumed_and_a_run_is_resumed_once(project: Path) -> None:
    assert run_in_process(project, "daily_sales")[1] == "succeeded"
    (succeeded,) = ledger_rows(project, "SELECT run_id FROM runs")[0]
    refused = flowdeck(project, "run", "--resume", succeeded)
    assert refused.returncode == 2 and "only a failed, abandoned or canceled run can be resumed" in refused.stderr
    assert "--from STEP" in refused.stderr

    original = break_daily_sales(project)
    failed, status = run_in_process(project, "daily_sales")
    assert status == "failed"
    assert flowdeck(project, "run", "--resume", failed).returncode == 1  # still broken: the resume fails too
    (child,) = ledger_rows(project, "SELECT run_id FROM runs WHERE parent_run_id = ?", (failed,))[0]
    again = flowdeck(project, "run", "--resume", failed)
    assert again.returncode == 2
    assert f"already resumed by run {child}" in again.stderr and f"--resume {child}" in again.stderr
    (project / "pipelines" / "daily_sales" / "daily_sales.sql").write_text(original)
    assert flowdeck(project, "run", "--resume", child).returncode == 0
    (grandchild,) = ledger_rows(project, "SELECT run_id FROM runs WHERE parent_run_id = ?", (child,))[0]
    reused = dict(ledger_rows(project, "SELECT step, reused_from FROM steps WHERE run_id = ?", (grandchild,)))
    # raw_orders was unchanged in the failed run: the run that actually ran it is the first one
    assert reused["raw_orders"] == succeeded, "a step reused twice points at the run that actually ran it"


def test_resuming_a_run_killed_before_its_first_step_runs_every_step(project: Path) -> None:
    """A run killed while it waited for the warehouse had recorded no step: its resume must not 'succeed' empty."""
    warehouse = project / ".flowdeck" / "warehouse.duckdb"
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    holder = duckdb.connect(str(warehouse))  # another writer: the run waits for it before planning its steps
    try:
        waiting = subprocess.Popen(
            [sys.executable, "-m", "flowdeck.console.cli.main", "--project", str(project), "run", "daily_sales"],
            cwd=project, env={**os.environ, "NO_COLOR": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not _waited(project):
            assert time.monotonic() < deadline and waiting.poll() is None, "the run never waited for the warehouse"
            time.sleep(0.1)
        waiting.send_signal(signal.SIGKILL)
        waiting.wait()
    finally:
        holder.close()
    (killed,) = ledger_rows(project, "SELECT run_id FROM runs")[0]
    assert ledger_rows(project, "SELECT count(*) FROM steps WHERE run_id = ?", (killed,)) == [(0,)]

    resumed = flowdeck(project, "run", "--resume", killed)
    assert resumed.returncode == 0, resumed.stderr
    (resumed_id,) = ledger_rows(project, "SELECT run_id FROM runs WHERE parent_run_id = ?", (killed,))[0]
    statuses = {status for _, (status, _) in steps_of(project, resumed_id).items()}
    assert len(steps_of(project, resumed_id)) == 8 and statuses == {"succeeded"}
    assert table_rows(project, "daily_sales")


def _waited(project: Path) -> bool:
    """Whether a run recorded that it waits for the warehouse (event `run.waiting`)."""
    if not (project / ".flowdeck" / "ledger.sqlite").exists():
        return False
    return bool(ledger_rows(project, "SELECT 1 FROM events WHERE kind = 'run.waiting'"))
