"""Alerts delivered to real receivers on 127.0.0.1: an SMTP server and an HTTP webhook."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alertkit import HttpReceiver, SmtpServer, flowdeck, make_failing, make_healthy, make_project, wait_until

from flowdeck.engine.workspace import Workspace

pytestmark = pytest.mark.slow

SMTP_PASSWORD = "pw-for-the-smtp-relay-81f3"


def email_alerts(port: int) -> str:
    return f"""
        alerts:
          channels:
            oncall:
              type: email
              url: "mailto://flowdeck:${{env:FD_TEST_SMTP_PASSWORD}}@127.0.0.1:{port}?mode=insecure&from=flowdeck@example.com&to=oncall@example.com"
          routes:
            - match: {{severity: critical}}
              channels: [oncall]
        """


def test_failing_pipeline_sends_one_email_and_one_more_when_it_resolves(tmp_path: Path) -> None:
    env = {"FD_TEST_SMTP_PASSWORD": SMTP_PASSWORD}
    with SmtpServer(SMTP_PASSWORD) as smtp:
        root = make_project(tmp_path / "project", email_alerts(smtp.port))
        make_failing(root)
        first = flowdeck(root, "run", "orders", env=env)
        assert first.returncode == 1, first.stderr
        assert len(smtp.messages) == 1
        failed_run = _runs(root)[0]
        text = smtp.texts()[0]
        assert "FIRING" in text
        for fact in ("orders", "order_totals", "amount_typo", failed_run):
            assert fact in text, f"{fact!r} missing from the email:\n{text}"
        assert smtp.logins == ["flowdeck"]

        again = flowdeck(root, "run", "orders", env=env)  # fails again, well inside the 4h repeat interval
        assert again.returncode == 1
        assert len(smtp.messages) == 1

        make_healthy(root)
        fixed = flowdeck(root, "run", "orders", env=env)
        assert fixed.returncode == 0, fixed.stderr
        assert len(smtp.messages) == 2
        resolved = smtp.texts()[1]
        assert "RESOLVED" in resolved and "orders" in resolved and "succeeded" in resolved


def test_webhook_is_retried_while_the_receiver_fails_and_delivered_once_it_recovers(tmp_path: Path) -> None:
    with HttpReceiver() as hook:
        hook.status = 500
        root = make_project(tmp_path / "project", f"""
            alerts:
              channels:
                hook:
                  type: webhook
                  url: "json://127.0.0.1:{hook.port}/flowdeck"
              routes:
                - channels: [hook]
              retry: {{initial: 0.2s, max: 1s}}
            """)
        make_failing(root)
        assert flowdeck(root, "run", "orders").returncode == 1
        assert [status for *_, status in hook.requests] == [500]  # the end of the run tried once

        ws = Workspace.open(root)
        for _ in range(2):  # the receiver is still down: each due retry fails and is put back
            wait_until(lambda: ws.deliver_notifications().attempted, what="a due retry")
        pending = ws.notifications(states=("pending",))
        assert len(pending) == 1 and pending[0].attempts == 3 and "500" in (pending[0].last_error or "")

        hook.status = 200
        report = wait_until(lambda: ws.deliver_notifications().sent, what="delivery after recovery")
        assert len(report) == 1
        assert ws.deliver_notifications().attempted == 0  # nothing left: sent once, not again
        bodies = hook.accepted()
        assert len(bodies) == 1
        sent = bodies[0]["flowdeck"]
        assert sent["status"] == "firing" and sent["pipeline"] == "orders" and sent["rule"] == "run_failed"
        assert sent["step"] == "order_totals" and sent["run_id"] == _runs(root)[0]
        assert "amount_typo" in bodies[0]["message"]
        [row] = ws.ledger.notifications(states=("sent",))
        outcomes = [attempt[4] for attempt in ws.ledger.notification_attempts(row.id)]
        assert outcomes == ["failed", "failed", "failed", "sent"]
        ws.close()


def test_a_pipeline_failing_again_inside_the_repeat_interval_sends_nothing_new(tmp_path: Path) -> None:
    with HttpReceiver() as hook:
        root = make_project(tmp_path / "project", f"""
            alerts:
              channels:
                hook: {{type: webhook, url: "json://127.0.0.1:{hook.port}/"}}
              routes:
                - channels: [hook]
                  repeat_interval: 1h
            """)
        make_failing(root)
        for _ in range(3):
            assert flowdeck(root, "run", "orders").returncode == 1
        assert len(hook.accepted()) == 1
        ws = Workspace.open(root)
        [alert] = ws.alerts()
        assert alert.rule == "run_failed" and alert.occurrences == 3 and alert.status == "firing"
        ws.close()


def _runs(root: Path) -> list[str]:
    """Run ids, newest first (read straight from the ledger file)."""
    with sqlite3.connect(root / ".flowdeck" / "ledger.sqlite") as db:
        return [row[0] for row in db.execute("SELECT run_id FROM runs ORDER BY created_at DESC")]
