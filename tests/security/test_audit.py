"""The audit log: append-only, hash-chained, and any hand edit is found by `flowdeck audit verify`."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from security_helpers import cli

from flowdeck.engine.workspace import Workspace
from flowdeck.engine.governance.retention import prune


def audited_project(project: Path) -> Path:
    """Three audited actions, done in-process (the CLI goes through the same Workspace methods)."""
    workspace = Workspace.open(project)
    first, _ = workspace.submit("daily_sales")
    workspace.execute(first.run_id)
    workspace.cancel("last")
    second, _ = workspace.submit("daily_sales", {"since": "2026-11-01"})
    workspace.execute(second.run_id)
    workspace.close()
    return project / ".flowdeck" / "ledger.sqlite"


def test_actions_are_recorded_with_who_where_what_and_outcome(project: Path) -> None:
    audited_project(project)
    entries = json.loads(cli(project, "audit", "--json", check=0).stdout)
    assert [(e["action"], e["target"], e["outcome"], e["source"]) for e in entries] == [
        ("run", "daily_sales", "ok", "cli"), ("cancel", "last", "ok", "cli"), ("run", "daily_sales", "ok", "cli")]
    assert all(e["actor"] == Workspace.open(project).user for e in entries)
    assert entries[0]["prev_hash"] == entries[1]["hash"]
    verified = cli(project, "audit", "verify", check=0)
    assert "audit log intact: 3 entries" in verified.stdout


def test_the_ledger_refuses_updates_and_deletes_of_the_audit_log(project: Path) -> None:
    ledger = audited_project(project)
    with sqlite3.connect(ledger) as db:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE audit_log SET actor = 'mallory'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM audit_log")


def test_editing_a_row_by_hand_after_dropping_the_trigger_is_detected(project: Path) -> None:
    ledger = audited_project(project)
    with sqlite3.connect(ledger) as db:  # what an attacker with the file would do
        db.execute("DROP TRIGGER audit_log_refuses_update")
        db.execute("UPDATE audit_log SET actor = 'mallory' WHERE entry_id = 2")
    result = cli(project, "audit", "verify", check=1)
    assert "entry 2 was changed after it was written" in result.stdout
    verdict = json.loads(cli(project, "audit", "verify", "--json", check=1).stdout)
    assert verdict["intact"] is False and verdict["checked"] == 3


def test_removing_an_entry_is_detected(project: Path) -> None:
    ledger = audited_project(project)
    with sqlite3.connect(ledger) as db:
        db.execute("DROP TRIGGER audit_log_refuses_delete")
        db.execute("DELETE FROM audit_log WHERE entry_id = 2")
    result = cli(project, "audit", "verify", check=1)
    assert "entries 2..2 are missing" in result.stdout
    assert "entry 3 does not follow the entry before it" in result.stdout


def test_removing_the_oldest_entries_outside_retention_is_detected(project: Path) -> None:
    ledger = audited_project(project)
    with sqlite3.connect(ledger) as db:
        db.execute("UPDATE audit_gate SET open = 1")
        db.execute("DELETE FROM audit_log WHERE entry_id = 1")
    assert "entries 1..1 are missing and no retention run removed them" in cli(project, "audit", "verify", check=1).stdout


def test_retention_removes_old_entries_and_the_chain_still_verifies(project: Path) -> None:
    audited_project(project)
    workspace = Workspace.open(project)
    later = time.time() + workspace.project.config.retention.audit.total_seconds() + 60  # type: ignore[union-attr]
    report = prune(workspace.project, workspace.ledger, now=later)
    assert report.removed["audit"] == 3
    entries = workspace.audit_entries()
    assert [e.action for e in entries] == ["audit.pruned"] and entries[0].details["removed"] == 3
    workspace.audit("schedule.change", "daily_sales", details={"enabled": False})
    assert workspace.verify_audit().intact and workspace.verify_audit().checked == 2
