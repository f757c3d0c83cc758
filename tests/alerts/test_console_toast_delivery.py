"""An open console's toasts (the console channel), delivered on every poll: one cheap question while none wait.

On a real ledger, with a second connection standing for another process (the daemon, a run), as
the console's poll asks (``Workspace.deliver_console_notifications``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alertkit import make_project

from flowdeck.engine.alerts.channels import TOAST_EVENT
from flowdeck.engine.workspace import Workspace
from flowdeck.state import Ledger


def toasts(ledger_path: Path) -> list[str]:
    """The toast events the console shows, oldest first (read independently of the console's connection)."""
    with sqlite3.connect(ledger_path) as db:
        return [row[0] for row in db.execute("SELECT message FROM events WHERE kind = ? ORDER BY rowid", (TOAST_EVENT,))]


def test_an_idle_console_asks_one_question_a_poll_and_still_toasts_what_any_process_queues_at_the_next(
        tmp_path: Path) -> None:
    ws = Workspace.open(make_project(tmp_path / "p", ""), source="console")
    ledger_path = ws.project.ledger_path
    first = ws.deliver_console_notifications()
    assert first.idle and first.attempted == 0
    statements: list[str] = []
    ws.ledger._db.set_trace_callback(statements.append)  # every statement the console's connection runs
    assert ws.deliver_console_notifications().attempted == 0
    assert ws.deliver_console_notifications().attempted == 0
    assert statements == ["PRAGMA data_version", "PRAGMA data_version"]  # no pass: nothing waits, nothing written

    # another process queues a toast: the very next ask delivers it
    with Ledger(ledger_path) as other:
        other.enqueue_notification("console", "test", {"summary": "from the daemon"}, dedup_key="t-1")
    statements.clear()
    report = ws.deliver_console_notifications()
    assert [notification.dedup_key for notification in report.sent] == ["t-1"]
    assert len(statements) > 2  # a full pass: release, due, claim, mark
    assert len(toasts(ledger_path)) == 1

    # quiet again after one pass that finds nothing (the toast it wrote is its own write)
    ws.deliver_console_notifications()
    statements.clear()
    ws.deliver_console_notifications()
    assert statements == ["PRAGMA data_version"]

    # the console's own connection queues one (an alert its reaping raised): delivered at the next ask too
    ws.ledger.enqueue_notification("console", "test", {"summary": "raised here"}, dedup_key="t-2")
    assert [notification.dedup_key for notification in ws.deliver_console_notifications().sent] == ["t-2"]
    assert len(toasts(ledger_path)) == 2


def test_while_a_notification_waits_for_a_retry_every_ask_is_a_full_pass(tmp_path: Path) -> None:
    ws = Workspace.open(make_project(tmp_path / "p", ""), source="console")
    ws.deliver_console_notifications()
    with Ledger(ws.project.ledger_path) as other:  # a sender of another process holds a claim on a toast
        other.enqueue_notification("console", "test", {"summary": "being sent"}, dedup_key="t-1")
        assert other.claim_notifications("1@elsewhere#abc", lease_seconds=120, limit=1, channels=["console"])
    statements: list[str] = []
    ws.ledger._db.set_trace_callback(statements.append)
    for _ in range(3):
        statements.clear()
        report = ws.deliver_console_notifications()
        assert not report.idle and report.attempted == 0  # claimed elsewhere: not ours to send
        assert len(statements) > 1  # looked each time: the claim's lease may end, its sender may die
