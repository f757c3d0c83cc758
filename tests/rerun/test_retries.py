"""Retries: transient failures are tried again with backoff, terminal ones are not; every attempt
is in the ledger and in `flowdeck show`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from flowdeck.engine.backends.base import FileRead
from flowdeck.engine.backends.duckdb.backend import DuckDBBackend
from flowdeck.engine.errors import StepFailed
from flowdeck.engine.project.config.steps import Retries
from flowdeck.engine.run.executor import backoff_seconds
from tests.rerun.helpers import edit_pipeline, flowdeck, ledger_rows, run_in_process

RETRIES = {"retries": {"attempts": 3, "backoff": "50ms"}}


def attempts(project: Path, run_id: str, step: str) -> list[tuple[int, str, int | None, float | None]]:
    return ledger_rows(project, "SELECT attempt, status, transient, retry_in FROM step_attempts "
                                "WHERE run_id = ? AND step = ? ORDER BY attempt", (run_id, step))


def test_a_transient_failure_injected_once_is_retried_and_the_run_succeeds(project: Path, monkeypatch) -> None:
    edit_pipeline(project, "daily_sales", raw_orders=RETRIES)
    monkeypatch.setenv("FLOWDECK_DEBUG_FAIL_AT", "staging:raw_orders")
    run_id, status = run_in_process(project, "daily_sales")
    assert status == "succeeded"
    assert attempts(project, run_id, "raw_orders") == [(1, "failed", 1, 0.05), (2, "succeeded", None, None)]
    assert ledger_rows(project, "SELECT attempts, status FROM steps WHERE run_id = ? AND step = 'raw_orders'",
                       (run_id,)) == [(2, "succeeded")]
    shown = flowdeck(project, "show", run_id)
    assert "raw_orders attempt 1 failed (transient), retried after 0.05s: injected transient failure" in shown.stdout
    history = {step["step"]: step["attempt_history"] for step in json.loads(flowdeck(project, "show", run_id, "--json").stdout)["steps"]}
    assert [(a["attempt"], a["status"], a["transient"]) for a in history["raw_orders"]] == [(1, "failed", True),
                                                                                            (2, "succeeded", None)]


def test_retries_stop_after_the_last_attempt(project: Path, monkeypatch) -> None:
    edit_pipeline(project, "daily_sales", raw_orders=RETRIES)
    monkeypatch.setenv("FLOWDECK_DEBUG_FAIL_AT", "staging:raw_orders:10")
    run_id, status = run_in_process(project, "daily_sales")
    assert status == "failed"
    assert [row[:3] for row in attempts(project, run_id, "raw_orders")] == [(1, "failed", 1), (2, "failed", 1),
                                                                            (3, "failed", 1)]


def test_without_retries_a_transient_failure_fails_at_once(project: Path, monkeypatch) -> None:
    monkeypatch.setenv("FLOWDECK_DEBUG_FAIL_AT", "staging:raw_orders")
    run_id, status = run_in_process(project, "daily_sales")
    assert status == "failed"
    assert attempts(project, run_id, "raw_orders") == [(1, "failed", 1, None)]


def test_a_sql_error_is_not_retried(project: Path) -> None:
    edit_pipeline(project, "daily_sales", daily_sales=RETRIES)
    sql = project / "pipelines" / "daily_sales" / "daily_sales.sql"
    sql.write_text(sql.read_text().rstrip().rstrip(";") + "\nLIMIT CAST('ten' AS INTEGER)\n")
    run_id, status = run_in_process(project, "daily_sales")
    assert status == "failed"
    assert attempts(project, run_id, "daily_sales") == [(1, "failed", 0, None)]


def test_a_failed_check_is_not_retried(project: Path) -> None:
    edit_pipeline(project, "daily_sales", daily_sales={**RETRIES, "checks": [{"row_count": {"max": 0}}]})
    run_id, status = run_in_process(project, "daily_sales")
    assert status == "failed"
    assert attempts(project, run_id, "daily_sales") == [(1, "failed", 0, None)]


def test_duckdb_io_errors_are_transient_and_sql_errors_terminal(tmp_path: Path) -> None:
    backend = DuckDBBackend(duckdb.connect(str(tmp_path / "w.duckdb")))
    try:
        with pytest.raises(StepFailed) as missing:
            backend.stage_files("run-1", "t", FileRead(paths=[str(tmp_path / "absent" / "*.csv")], format="csv"))
        assert missing.value.transient
        with pytest.raises(StepFailed) as bad_cast:
            backend.stage_query("run-1", "t", "SELECT CAST('x' AS INTEGER) AS n")
        assert not bad_cast.value.transient
    finally:
        backend.close()


def test_backoff_doubles_and_is_capped() -> None:
    policy = Retries(attempts=6, backoff=timedelta(seconds=2), max_backoff=timedelta(seconds=10))
    assert [backoff_seconds(policy, attempt) for attempt in range(1, 6)] == [2, 4, 8, 10, 10]
