"""Run and step statuses: one enum each, the values the ledger's schema allows, stored and printed as before."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from flowdeck.state import Ledger
from flowdeck.state.schema import RUN_STATUSES, STEP_STATUSES
from flowdeck.state.status import (
    RUN_FAILURES,
    RUN_FINISHED,
    RUN_LIVE,
    RUN_RESUMABLE,
    STEP_FINISHED,
    RunStatus,
    StepStatus,
)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    with Ledger(tmp_path / "ledger.sqlite") as opened:
        yield opened


def test_the_enums_hold_exactly_what_the_schema_allows() -> None:
    assert tuple(RunStatus) == RUN_STATUSES
    assert tuple(StepStatus) == STEP_STATUSES


def test_the_schema_refuses_a_status_the_enum_does_not_have(ledger: Ledger) -> None:
    record, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    with closing(sqlite3.connect(ledger.path)) as db:
        for status in RunStatus:  # every member is a value the ledger stores
            db.execute("UPDATE runs SET status = ? WHERE run_id = ?", (status, record.run_id))
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("UPDATE runs SET status = 'reused' WHERE run_id = ?", (record.run_id,))


def test_every_run_status_is_live_or_finished_never_both() -> None:
    assert set(RUN_LIVE) | set(RUN_FINISHED) == set(RunStatus)
    assert not set(RUN_LIVE) & set(RUN_FINISHED)
    assert set(RUN_RESUMABLE) == set(RUN_FINISHED) - {RunStatus.SUCCEEDED}
    assert set(RUN_FAILURES) < set(RUN_RESUMABLE) and RunStatus.CANCELED not in RUN_FAILURES
    assert set(STEP_FINISHED) == set(StepStatus) - {StepStatus.PENDING, StepStatus.RUNNING}


def test_records_read_back_carry_the_enums_and_keep_their_stored_and_json_values(ledger: Ledger) -> None:
    record, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    assert record.status is RunStatus.QUEUED
    ledger.add_steps(record.run_id, [("raw_orders", "extract", "raw_orders"), ("daily_sales", "transform", None)])
    assert ledger.claim_run(record.run_id)
    ledger.step_started(record.run_id, "raw_orders")
    ledger.step_finished(record.run_id, "raw_orders", StepStatus.FAILED, error="boom")
    ledger.step_finished(record.run_id, "daily_sales", StepStatus.SKIPPED, error="an upstream step failed")
    assert ledger.finish_run(record.run_id, RunStatus.FAILED, "step raw_orders failed")

    run = ledger.get_run(record.run_id)
    assert run is not None and run.status is RunStatus.FAILED and run.finished
    steps = {step.step: step for step in ledger.steps_of(record.run_id)}
    assert steps["raw_orders"].status is StepStatus.FAILED
    assert steps["daily_sales"].status is StepStatus.SKIPPED
    assert [attempt.status for attempt in ledger.attempts_of(record.run_id)] == [StepStatus.FAILED]
    assert isinstance(ledger.attempts_of(record.run_id)[0].status, StepStatus)

    # what --json prints and what the ledger stores are the plain words, as before the enums
    assert json.dumps(run.to_json()["status"]) == '"failed"'
    assert json.dumps([step.to_json()["status"] for step in steps.values()]) == '["failed", "skipped"]'
    assert f"{run.status}" == str(run.status) == "failed"
    with closing(sqlite3.connect(ledger.path)) as db:
        stored = db.execute("SELECT status, typeof(status) FROM runs WHERE run_id = ?", (record.run_id,)).fetchone()
        events = [row[0] for row in db.execute("SELECT kind FROM events WHERE run_id = ? ORDER BY event_id",
                                               (record.run_id,))]
    assert stored == ("failed", "text")
    assert events == ["run.queued", "run.started", "step.started", "step.failed", "step.skipped", "run.failed"]


def test_status_counts_and_filters_take_the_enum_and_the_stored_word_alike(ledger: Ledger) -> None:
    record, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    assert [run.run_id for run in ledger.runs_in_status(*RUN_LIVE)] == [record.run_id]
    assert [run.run_id for run in ledger.list_runs(status=RunStatus.QUEUED)] == [record.run_id]
    counts = ledger.status_counts("daily_sales")["daily_sales"]
    assert counts == {"queued": 1} and all(isinstance(status, RunStatus) for status in counts)
    assert json.dumps(counts) == '{"queued": 1}'
