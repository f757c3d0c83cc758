"""A schedule's identity in the ledger is a stable key, and ledgers that stored descriptions keep meaning it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import flowdeck.state.ledger as ledger_module
from flowdeck.engine.plan.slots import describe_schedule, schedule_identity
from flowdeck.engine.project.config.pipeline import Schedule
from flowdeck.state import Ledger
from flowdeck.state import schema as schema_module
from flowdeck.state.schema import MIGRATIONS, SCHEMA_VERSION

PARIS_SIX = Schedule(cron="0 6 * * *", timezone="Europe/Paris")
QUARTER = Schedule(interval=900)
WEEKDAYS = Schedule(cron="*/5 8-18 * * 1-5")


def ledger_before_schedule_keys(path: Path, monkeypatch: pytest.MonkeyPatch, rows: dict[str, tuple[str, float]]) -> None:
    """A ledger as the release before stable keys left it: ``schedule_state.spec`` holds descriptions."""
    keys = MIGRATIONS.index(schema_module._SCHEDULE_KEYS)  # later migrations (audit anchors, aggregates) come after it
    with monkeypatch.context() as before:
        before.setattr(ledger_module, "MIGRATIONS", MIGRATIONS[:keys])
        before.setattr(ledger_module, "SCHEMA_VERSION", keys)
        Ledger(path).close()
    with closing(sqlite3.connect(path)) as db, db:
        db.executemany("INSERT INTO schedule_state (pipeline, spec, since) VALUES (?, ?, ?)",
                       [(pipeline, spec, since) for pipeline, (spec, since) in rows.items()])


def test_upgrading_keeps_when_each_unchanged_schedule_came_into_force(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger_before_schedule_keys(path, monkeypatch, {
        "daily": ("cron '0 6 * * *' (Europe/Paris)", 1000.0),
        "quarterly": ("every 900s", 2000.0),
        "weekdays": ("cron '*/5 8-18 * * 1-5' (UTC)", 3000.0),
        "edited": ("cron '0 7 * * *' (UTC)", 4000.0),
    })
    with Ledger(path) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION
        for pipeline, schedule, since in (("daily", PARIS_SIX, 1000.0), ("quarterly", QUARTER, 2000.0),
                                          ("weekdays", WEEKDAYS, 3000.0)):
            assert ledger.schedule_since(pipeline, schedule_identity(schedule), describe_schedule(schedule)) == since
        restarted = ledger.schedule_since("edited", schedule_identity(PARIS_SIX), describe_schedule(PARIS_SIX))
        assert restarted > 4000.0  # a schedule that changed while flowdeck was upgraded starts afresh
        changes = [event.message for event in ledger.events() if event.kind == "schedule.changed"]
    assert changes == ["schedule of edited is now cron '0 6 * * *' (Europe/Paris)"]


def test_rewording_a_description_does_not_restart_the_schedule(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        since = ledger.schedule_since("daily", schedule_identity(PARIS_SIX), describe_schedule(PARIS_SIX))
        assert ledger.schedule_since("daily", schedule_identity(PARIS_SIX), "every day at six, Paris time") == since
        ledger.schedule_since("daily", schedule_identity(Schedule(cron="0 6 * * *")), "6:00 UTC")  # another zone
        changes = [event.message for event in ledger.events() if event.kind == "schedule.changed"]
    assert changes == ["schedule of daily is now cron '0 6 * * *' (Europe/Paris)", "schedule of daily is now 6:00 UTC"]


def test_identities_name_what_decides_the_slots() -> None:
    assert schedule_identity(PARIS_SIX) == "cron:Europe/Paris:0 6 * * *"
    assert schedule_identity(QUARTER) == "interval:900"
    assert schedule_identity(Schedule(interval=900, catchup="all")) == schedule_identity(QUARTER)
