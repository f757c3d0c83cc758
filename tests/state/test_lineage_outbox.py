"""The ledger's OpenLineage outbox: the migration that adds it to an existing ledger, keys that
make queuing idempotent, claims with a lease, retries and giving up."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

import flowdeck.state.ledger as ledger_module
from flowdeck.state import Ledger
from flowdeck.state.schema import MIGRATIONS, SCHEMA_VERSION

OUTBOX = next(index for index, migration in enumerate(MIGRATIONS) if "CREATE TABLE lineage_outbox" in migration)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    with Ledger(tmp_path / "ledger.sqlite") as opened:
        yield opened


def _event(run_id: str, key: str, kind: str = "START") -> tuple[str, str, str, str, dict[str, object]]:
    return (f"{run_id}:{key}", run_id, "shop.daily_sales", kind, {"eventType": kind, "key": key})


def test_a_ledger_from_before_the_outbox_is_upgraded_and_keeps_its_runs(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ledger.sqlite"
    monkeypatch.setattr(ledger_module, "MIGRATIONS", MIGRATIONS[:OUTBOX])
    monkeypatch.setattr(ledger_module, "SCHEMA_VERSION", OUTBOX)
    with Ledger(path) as old:  # the ledger the previous flowdeck made, with a finished run
        run, _ = old.create_run("daily_sales", trigger_kind="manual")
        old.record_lineage(run.run_id, "orders_clean", output="orders_clean", output_kind="table", output_checksum=None,
                           inputs=[("raw_orders", "table", None)])
    with closing(sqlite3.connect(path)) as db:
        assert "lineage_outbox" not in {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    monkeypatch.undo()
    with Ledger(path) as upgraded:
        assert upgraded.schema_version == SCHEMA_VERSION
        assert upgraded.get_run(run.run_id) is not None  # nothing lost
        assert [record.input for record in upgraded.lineage_of_run(run.run_id)] == ["raw_orders"]
        assert upgraded.queue_lineage_events([_event(run.run_id, "run:START")]) == 1
        assert [event.event_key for event in upgraded.lineage_events(run.run_id)] == [f"{run.run_id}:run:START"]
    assert path.with_name(f"ledger.sqlite.v{OUTBOX}.bak").exists()  # copied aside before migrating


def test_queuing_an_event_again_is_a_no_op(ledger: Ledger) -> None:
    run, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    assert ledger.queue_lineage_events([_event(run.run_id, "run:START"), _event(run.run_id, "step:a:START")]) == 2
    assert ledger.queue_lineage_events([_event(run.run_id, "run:START"), _event(run.run_id, "run:COMPLETE", "COMPLETE")]) == 1
    assert [event.event_type for event in ledger.lineage_events(run.run_id)] == ["START", "START", "COMPLETE"]


def test_a_claim_is_held_until_its_lease_ends_then_taken_again(ledger: Ledger) -> None:
    run, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    ledger.queue_lineage_events([_event(run.run_id, "run:START")])
    (claimed,) = ledger.claim_lineage_events("sender-a", lease_seconds=0.2)
    assert claimed.attempts == 1
    assert ledger.claim_lineage_events("sender-b", lease_seconds=60) == []  # held by a
    time.sleep(0.3)  # a died mid-delivery: its lease ends
    (again,) = ledger.claim_lineage_events("sender-b", lease_seconds=60)
    assert (again.id, again.attempts) == (claimed.id, 2)
    assert not ledger.lineage_event_sent(claimed.id, "sender-a")  # a's late answer changes nothing
    assert ledger.lineage_event_sent(again.id, "sender-b")
    assert ledger.claim_lineage_events("sender-c", lease_seconds=60) == []  # sent: never again
    assert ledger.next_lineage_due() is None


def test_a_refused_event_waits_for_its_retry_and_a_given_up_one_is_kept_with_the_reason(ledger: Ledger) -> None:
    run, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    ledger.queue_lineage_events([_event(run.run_id, "run:START"), _event(run.run_id, "run:FAIL", "FAIL")])
    first, second = ledger.claim_lineage_events("sender", lease_seconds=60)
    assert ledger.lineage_event_failed(first.id, "sender", "HTTP 503", retry_at=time.time() + 3600)
    assert ledger.lineage_event_failed(second.id, "sender", "HTTP 400", retry_at=None)
    assert ledger.claim_lineage_events("sender", lease_seconds=60) == []  # not due yet; the other given up
    assert ledger.next_lineage_due() == pytest.approx(time.time() + 3600, abs=5)
    events = {event.event_type: event for event in ledger.lineage_events(run.run_id)}
    assert (events["START"].state, events["START"].last_error) == ("pending", "HTTP 503")
    assert (events["FAIL"].state, events["FAIL"].last_error) == ("failed", "HTTP 400")


def test_an_event_waiting_for_its_retry_holds_up_the_ones_queued_after_it(ledger: Ledger) -> None:
    run, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    ledger.queue_lineage_events([_event(run.run_id, "run:START")])
    (first,) = ledger.claim_lineage_events("sender", lease_seconds=60)
    ledger.lineage_event_failed(first.id, "sender", "HTTP 503", retry_at=time.time() + 0.3)
    ledger.queue_lineage_events([_event(run.run_id, "step:a:START"), _event(run.run_id, "step:a:COMPLETE", "COMPLETE")])
    assert ledger.claim_lineage_events("sender", lease_seconds=60) == []  # the catalog would get them out of order
    time.sleep(0.4)
    claimed = ledger.claim_lineage_events("sender", lease_seconds=60)
    assert [event.event_key.split(":", 1)[1] for event in claimed] == ["run:START", "step:a:START", "step:a:COMPLETE"]


def test_pruning_a_run_removes_its_delivered_events_and_keeps_those_still_waiting(ledger: Ledger) -> None:
    run, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    assert ledger.claim_run(run.run_id) and ledger.finish_run(run.run_id, "failed", "boom")
    ledger.queue_lineage_events([_event(run.run_id, "run:START"), _event(run.run_id, "run:FAIL", "FAIL")])
    (started,) = ledger.claim_lineage_events("sender", lease_seconds=60, limit=1)
    assert ledger.lineage_event_sent(started.id, "sender")
    ledger.prune(runs_before=time.time() + 1, events_before=None, audit_before=None, lineage_before=None)
    assert ledger.get_run(run.run_id) is None
    assert [event.event_type for event in ledger.lineage_events(run.run_id)] == ["FAIL"]  # the catalog still waits for it
