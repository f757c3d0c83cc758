"""The run ledger: durable settings, migrations, unique trigger keys, atomic state changes."""

from __future__ import annotations

import multiprocessing
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import flowdeck.state.ledger as ledger_module
from flowdeck.state import Ledger, LedgerError
from flowdeck.state.schema import MIGRATIONS, SCHEMA_VERSION


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    with Ledger(tmp_path / "ledger.sqlite") as opened:
        yield opened


def _raw(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    return db


def test_ledger_is_wal_with_full_synchronous_writes(ledger: Ledger) -> None:
    assert ledger._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with closing(_raw(ledger.path)) as other:  # WAL is a property of the file, seen by every reader
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_new_ledger_has_every_migration_applied(ledger: Ledger) -> None:
    assert ledger.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    with closing(_raw(ledger.path)) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "steps", "events", "check_results"} <= tables


def test_older_ledger_is_backed_up_then_migrated_forward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as old:
        run, _ = old.create_run("daily_sales", trigger_kind="manual")
    extra = "CREATE TABLE notes (run_id TEXT REFERENCES runs(run_id), note TEXT NOT NULL);"
    monkeypatch.setattr(ledger_module, "MIGRATIONS", [*MIGRATIONS, extra])
    monkeypatch.setattr(ledger_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with Ledger(path) as upgraded:
        assert upgraded.schema_version == SCHEMA_VERSION + 1
        assert upgraded.get_run(run.run_id) is not None  # nothing lost
        upgraded._db.execute("INSERT INTO notes VALUES (?, 'kept')", (run.run_id,))
    backup = path.with_name(f"ledger.sqlite.v{SCHEMA_VERSION}.bak")
    with closing(_raw(backup)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT run_id FROM runs").fetchall()[0][0] == run.run_id


def test_ledger_newer_than_this_flowdeck_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    with closing(_raw(path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    with pytest.raises(LedgerError, match="newer than this flowdeck knows"):
        Ledger(path)


def test_same_trigger_key_creates_one_run(ledger: Ledger) -> None:
    first, created = ledger.create_run("daily_sales", trigger_kind="schedule", trigger_key="schedule:daily_sales:2026-11-27T06:00")
    again, created_again = ledger.create_run("daily_sales", trigger_kind="schedule",
                                             trigger_key="schedule:daily_sales:2026-11-27T06:00")
    assert (created, created_again) == (True, False)
    assert again.run_id == first.run_id
    assert len(ledger.list_runs()) == 1
    with pytest.raises(sqlite3.IntegrityError):  # the database itself refuses a second row
        ledger._db.execute(
            "INSERT INTO runs (run_id, pipeline, trigger_kind, trigger_key, status, created_at) "
            "VALUES ('other', 'daily_sales', 'schedule', 'schedule:daily_sales:2026-11-27T06:00', 'queued', 0)")


def test_every_run_gets_a_unique_id_and_manual_key(ledger: Ledger) -> None:
    runs = [ledger.create_run("daily_sales", trigger_kind="manual")[0] for _ in range(50)]
    assert len({run.run_id for run in runs}) == 50
    assert all(run.trigger_key == f"manual:{run.run_id}" for run in runs)


def test_state_change_and_its_event_commit_together_or_not_at_all(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    events_before = len(ledger.events(run_id=run.run_id))

    def broken_event(*args: object, **kwargs: object) -> int:
        raise sqlite3.OperationalError("disk I/O error")  # the event cannot be written

    monkeypatch.setattr(Ledger, "_event", broken_event)
    with pytest.raises(sqlite3.OperationalError):
        ledger.claim_run(run.run_id)
    monkeypatch.undo()
    assert ledger.get_run(run.run_id).status == "queued"  # the state change was rolled back with it
    assert len(ledger.events(run_id=run.run_id)) == events_before
    assert ledger.claim_run(run.run_id)
    kinds = [event.kind for event in ledger.events(run_id=run.run_id)]
    assert kinds == ["run.queued", "run.started"]


def test_events_are_append_only(ledger: Ledger) -> None:
    run, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ledger._db.execute("UPDATE events SET message = 'rewritten' WHERE run_id = ?", (run.run_id,))


def test_claim_is_compare_and_set(ledger: Ledger) -> None:
    run, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    assert ledger.claim_run(run.run_id, pid=1, host="a")
    assert not ledger.claim_run(run.run_id, pid=2, host="b")
    assert ledger.get_run(run.run_id).owner_pid == 1


def _claim(path: str, run_id: str, barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.Queue) -> None:
    with Ledger(Path(path)) as ledger:
        barrier.wait()
        results.put(ledger.claim_run(run_id))


def test_only_one_of_many_processes_claims_a_run(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        run, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(4), context.Queue()
    workers = [context.Process(target=_claim, args=(str(path), run.run_id, barrier, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(outcomes) == [False, False, False, True]
    with Ledger(path) as ledger:
        assert [event.kind for event in ledger.events(run_id=run.run_id)].count("run.started") == 1


def _open_new(path: str, barrier: object, results: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    try:
        with Ledger(Path(path)) as ledger:
            results.put(ledger.schema_version)  # type: ignore[attr-defined]
    except Exception as error:  # noqa: BLE001 - reported to the test
        results.put(f"{type(error).__name__}: {error}")  # type: ignore[attr-defined]


def test_processes_creating_the_same_new_ledger_at_once_all_open_it(tmp_path: Path) -> None:
    # A daemon, a console and a CLI started together on a fresh project: before the fix about one
    # such start in four failed with sqlite3's "database is locked" (from switching to WAL).
    context = multiprocessing.get_context("fork")
    for attempt in range(20):
        path = tmp_path / f"attempt-{attempt}" / "ledger.sqlite"
        barrier, results = context.Barrier(6), context.Queue()
        workers = [context.Process(target=_open_new, args=(str(path), barrier, results)) for _ in range(6)]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        assert outcomes == [SCHEMA_VERSION] * 6
        with Ledger(path) as ledger:
            assert ledger._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_finish_cancels_unfinished_steps_and_records_why(ledger: Ledger) -> None:
    run, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    ledger.claim_run(run.run_id)
    ledger.add_steps(run.run_id, [("a", "extract", "a"), ("b", "transform", "b")])
    ledger.step_started(run.run_id, "a")
    assert ledger.finish_run(run.run_id, "failed", "boom")
    assert not ledger.finish_run(run.run_id, "succeeded")  # a finished run stays finished
    assert [(step.step, step.status) for step in ledger.steps_of(run.run_id)] == [("a", "canceled"), ("b", "canceled")]
    assert ledger.get_run(run.run_id).error == "boom"


def test_cancel_of_a_queued_run_is_immediate_and_blocks_a_later_claim(ledger: Ledger) -> None:
    run, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    assert ledger.request_cancel(run.run_id, requested_by="ops").status == "canceled"
    assert not ledger.claim_run(run.run_id)


def test_redactor_masks_every_text_written(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite", redact=lambda text: text.replace("hunter2", "***")) as ledger:
        run, _ = ledger.create_run("daily_sales", trigger_kind="manual")
        ledger.claim_run(run.run_id)
        ledger.log(run.run_id, "connecting with hunter2", payload={"password": "hunter2"})
        ledger.finish_run(run.run_id, "failed", "login hunter2 refused")
    with closing(_raw(tmp_path / "ledger.sqlite")) as db:
        dump = "\n".join(db.iterdump())
    assert "hunter2" not in dump and "***" in dump
