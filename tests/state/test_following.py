"""Publishes and follow state in the ledger: which runs count as a publish, in what order, and since when
an `after:` trigger follows them; an existing ledger learns its past publishes when migrated."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from flowdeck.state import Ledger
from flowdeck.state.ledger import _statements
from flowdeck.state.records import CommitRecord
from flowdeck.state import schema as schema_module
from flowdeck.state.schema import MIGRATIONS
from flowdeck.state.status import RunStatus, StepStatus

PUBLISHES = MIGRATIONS.index(schema_module._PUBLISHES)  # the migration that records past publishes (others follow it)


def finished_run(ledger: Ledger, pipeline: str, status: RunStatus, *, commits: int) -> str:
    """A run of ``pipeline`` that committed ``commits`` tables and ended ``status``."""
    run, _ = ledger.create_run(pipeline, trigger_kind="manual")
    assert ledger.claim_run(run.run_id)
    steps = [(f"s{index}", "extract", f"t{index}") for index in range(max(commits, 1))]
    ledger.add_steps(run.run_id, steps)
    for index in range(commits):
        ledger.step_started(run.run_id, f"s{index}")
        commit = CommitRecord(warehouse_id="w", seq=ledger_seq(ledger) + 1, run_id=run.run_id, step=f"s{index}",
                              output=f"t{index}", kind="publish", data_run_id=run.run_id, base_run_id=None, rows=1,
                              checksum="c", committed_at=0.0)
        ledger.step_finished(run.run_id, f"s{index}", StepStatus.SUCCEEDED, rows=1, commit=commit)
    assert ledger.finish_run(run.run_id, status)
    return run.run_id


def ledger_seq(ledger: Ledger) -> int:
    return int(ledger._query("SELECT IFNULL(MAX(seq), 0) FROM commits")[0][0])


def test_a_publish_is_a_succeeded_run_that_committed_in_the_order_they_finished(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert ledger.last_publish_seq() == 0 and ledger.latest_publishes(["a"]) == {}
        first = finished_run(ledger, "a", RunStatus.SUCCEEDED, commits=2)
        finished_run(ledger, "a", RunStatus.FAILED, commits=1)  # published a table, then failed: not a publish
        finished_run(ledger, "a", RunStatus.SUCCEEDED, commits=0)  # wrote nothing (unchanged, nothing new)
        other = finished_run(ledger, "b", RunStatus.SUCCEEDED, commits=1)
        latest = ledger.latest_publishes(["a", "b", "c"])
        assert set(latest) == {"a", "b"}
        assert (latest["a"].run_id, latest["b"].run_id) == (first, other)
        assert latest["a"].seq < latest["b"].seq == ledger.last_publish_seq()
        assert ledger.publish_of(first) == latest["a"]


def test_a_trigger_follows_publishes_made_after_it_came_into_force(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        finished_run(ledger, "a", RunStatus.SUCCEEDED, commits=1)
        assert ledger.follow_state("b", "after:a") is None
        state = ledger.start_following("b", "after:a", "after a")
        assert state.since == ledger.last_publish_seq() and state.taken_of("a") == state.since
        assert ledger.start_following("b", "after:a", "after a") == state  # taken in once
        assert [event.kind for event in ledger.events() if event.kind == "follow.started"] == ["follow.started"]

        ledger.record_followed("b", "after:a", {"a": 7}, "run-b")
        again = ledger.follow_state("b", "after:a")
        assert again is not None and again.taken == {"a": 7} and again.last_run_id == "run-b"
        ledger.start_following("b", "after:a,c", "after a, c")
        assert ledger.forget_follows("b", ["after:a,c"]) == 1  # the changed trigger's old state goes
        assert ledger.follow_state("b", "after:a") is None and ledger.follow_state("b", "after:a,c") is not None


def test_migrating_an_existing_ledger_records_its_past_publishes(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:  # a ledger of the version before
        for migration in MIGRATIONS[:PUBLISHES]:
            for statement in _statements(migration):
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {PUBLISHES}")
        for run_id, status, ended in (("r1", "succeeded", 2.0), ("r2", "failed", 3.0), ("r0", "succeeded", 1.0)):
            db.execute("INSERT INTO runs (run_id, pipeline, trigger_kind, trigger_key, status, created_at, ended_at) "
                       "VALUES (?, 'a', 'manual', ?, ?, 0, ?)", (run_id, run_id, status, ended))
            db.execute("INSERT INTO commits (warehouse_id, seq, run_id, step, output, kind, data_run_id, checksum, "
                       "committed_at, recorded_at) VALUES ('w', ?, ?, 's', 't', 'publish', ?, 'c', 0, 0)",
                       (int(ended), run_id, run_id))
    with Ledger(path) as ledger:
        rows = ledger._query("SELECT run_id FROM publishes ORDER BY seq")
        assert [row[0] for row in rows] == ["r0", "r1"]  # succeeded ones, in the order they ended
