"""Alert rules, de-duplication, reminders, silences and acknowledgements, on a real ledger.

Notifications here go to the built-in console channel, so what the outbox holds is what would
be sent; time is moved by evaluating at a later ``now`` rather than by sleeping.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from alertkit import flowdeck, make_failing, make_healthy, make_project, write

from flowdeck.engine.alerts.rules import AlertEvaluator
from flowdeck.engine.alerts.routing import deliveries_for
from flowdeck.engine.workspace import Workspace
from flowdeck.engine.project.config.alerts import AlertsConfig
from flowdeck.state import Notification

HOUR = 3600.0


def open_project(root: Path, alerts_yaml: str = "") -> Workspace:
    make_project(root, alerts_yaml)
    return Workspace.open(root)


def fail_run(ws: Workspace, error: str = "step order_totals failed: boom") -> str:
    """A run of `orders` that failed, recorded through the ledger as the executor does."""
    run, _ = ws.submit("orders")
    ws.ledger.claim_run(run.run_id)
    ws.ledger.finish_run(run.run_id, "failed", error)
    return run.run_id


def outbox(ws: Workspace) -> list[Notification]:
    """Every notification, oldest first."""
    return list(reversed(ws.ledger.notifications(limit=1000)))


def evaluate_at(ws: Workspace, now: float) -> None:
    """Run the periodic evaluation as if it were ``now``."""
    rules = AlertEvaluator(ws.project)
    ws.ledger.evaluate_alerts(lambda book: rules.evaluate(book, None), now=now)


def test_a_failure_notifies_once_reminds_after_the_repeat_interval_and_never_after_an_ack(tmp_path: Path) -> None:
    ws = open_project(tmp_path / "p")
    fail_run(ws)
    fail_run(ws)
    assert [(n.channel, n.kind) for n in outbox(ws)] == [("console", "firing")]
    started = ws.alerts()[0].starts_at
    evaluate_at(ws, started + HOUR)
    assert len(outbox(ws)) == 1  # inside the default 4h repeat interval
    evaluate_at(ws, started + 4 * HOUR + 1)
    assert [n.kind for n in outbox(ws)] == ["firing", "reminder"]
    evaluate_at(ws, started + 5 * HOUR)
    assert len(outbox(ws)) == 2  # the reminder restarted the interval
    assert ws.acknowledge_alert(ws.alerts()[0].fingerprint[:6]) is True
    assert ws.acknowledge_alert(ws.alerts()[0].fingerprint) is False
    evaluate_at(ws, started + 20 * HOUR)
    assert len(outbox(ws)) == 2
    assert ws.alerts()[0].acknowledged_by


def test_a_success_resolves_and_a_new_failure_starts_a_new_episode(tmp_path: Path) -> None:
    ws = open_project(tmp_path / "p")
    fail_run(ws)
    ws.deliver_notifications()
    run, _ = ws.submit("orders")
    assert ws.execute(run.run_id) == "succeeded"
    [alert] = ws.alerts(status="resolved")
    assert alert.annotations["resolved_by_run"] == run.run_id
    fail_run(ws)
    assert [n.kind for n in outbox(ws)] == ["firing", "resolved", "firing"]
    assert [n.state for n in outbox(ws)][:2] == ["sent", "sent"]
    [again] = ws.alerts(status="firing")
    assert again.occurrences == 1 and again.acknowledged_at is None
    toasts = [event for event in ws.ledger.events(limit=10000) if event.kind == "alert.toast"]
    assert len(toasts) == 2 and "RESOLVED" in toasts[1].message


def test_a_silenced_pipeline_changes_alert_state_but_notifies_nobody_until_the_silence_ends(tmp_path: Path) -> None:
    ws = open_project(tmp_path / "p")
    ws.silence("orders", 2 * HOUR, comment="known outage")
    fail_run(ws)
    [alert] = ws.alerts()
    assert alert.status == "firing" and alert.silenced_until is not None
    assert outbox(ws) == []
    assert ws.unsilence("orders") == 1
    ws.evaluate_alerts()
    assert [n.kind for n in outbox(ws)] == ["firing"]


def row_count_at_most(ws: Workspace, rows: int) -> None:
    """Make `orders` one extract step with a blocking row-count check."""
    write(ws.project.pipelines_dir / "orders" / "pipeline.yaml", f"""
        steps:
          - name: raw_orders
            kind: extract
            source: {{path: data/orders.csv}}
            checks:
              - row_count: {{max: {rows}}}
        """)
    ws.project.forget()


def test_a_failed_blocking_check_notifies_as_the_check_not_twice(tmp_path: Path) -> None:
    ws = open_project(tmp_path / "p")
    row_count_at_most(ws, 10)  # the CSV has 40 rows
    run, _ = ws.submit("orders")
    assert ws.execute(run.run_id) == "failed"
    assert [(n.kind, n.payload["alert"]["rule"]) for n in outbox(ws)] == [("firing", "check_failed")]
    firing = {alert.rule for alert in ws.alerts(status="firing")}
    assert firing == {"check_failed", "run_failed"}  # both are true; only the cause is told
    row_count_at_most(ws, 1000)
    run, _ = ws.submit("orders")
    assert ws.execute(run.run_id) == "succeeded"
    assert [(n.kind, n.payload["alert"]["rule"]) for n in outbox(ws)] == [("firing", "check_failed"),
                                                                          ("resolved", "check_failed")]
    assert ws.alerts(status="firing") == []


def test_slow_run_rule_fires_for_a_run_made_slow_on_purpose_and_not_for_normal_runs(tmp_path: Path) -> None:
    ws = open_project(tmp_path / "p", """
        alerts:
          rules:
            run_slow: {factor: 3, min_runs: 3, min_duration: 1s}
        """)
    for _ in range(4):
        run, _ = ws.submit("orders")
        assert ws.execute(run.run_id) == "succeeded"
    assert ws.alerts() == []
    usual = max(seconds for _, seconds in ws.ledger.finished_durations("orders"))
    hold = max(4.0, 4 * usual)  # hold the warehouse so the next run waits that long: slow, for a known reason
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(ws.project.warehouse_path)!r}); "
                               f"print('locked', flush=True); time.sleep({hold})"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    slow, _ = ws.submit("orders")
    assert ws.execute(slow.run_id) == "succeeded"
    holder.wait(timeout=60)
    [alert] = ws.alerts()
    assert alert.rule == "run_slow" and alert.status == "firing" and alert.run_id == slow.run_id
    assert "usual" in alert.annotations["description"]
    normal, _ = ws.submit("orders")
    assert ws.execute(normal.run_id) == "succeeded"
    assert ws.alerts(status="firing") == []


def test_a_run_still_running_past_its_deadline_fires_before_it_ends(tmp_path: Path) -> None:
    ws = open_project(tmp_path / "p")
    write(tmp_path / "p" / "pipelines" / "orders" / "pipeline.yaml",
          (tmp_path / "p" / "pipelines" / "orders" / "pipeline.yaml").read_text()
          + "alerts:\n  run_slow: {deadline: 30m}\n  labels: {team: sales}\n")
    ws.project.forget()
    run, _ = ws.submit("orders")
    ws.ledger.claim_run(run.run_id)
    started = ws.ledger.get_run(run.run_id).started_at  # type: ignore[union-attr]
    evaluate_at(ws, started + 29 * 60)
    assert ws.alerts() == []
    evaluate_at(ws, started + 31 * 60)
    [alert] = ws.alerts()
    assert alert.rule == "run_slow" and "deadline" in alert.annotations["description"]
    assert alert.labels == {"pipeline": "orders", "team": "sales"}


def test_missed_slots_stale_data_and_a_dead_daemon_raise_alerts_that_resolve(tmp_path: Path) -> None:
    ws = open_project(tmp_path / "p", """
        alerts:
          rules:
            data_stale: {after: 1h}
            daemon_unhealthy: {after: 0s}
        """)
    slot = 1_900_000_000.0
    ws.ledger.record_tick("orders", slot, "missed", reason="the daemon was down")
    assert {a.rule for a in ws.alerts(status="firing")} == {"schedule_missed"}
    ws.ledger.record_tick("orders", slot + 60, "submitted")
    assert ws.alerts(status="firing") == []

    run, _ = ws.submit("orders")
    assert ws.execute(run.run_id) == "succeeded"
    evaluate_at(ws, time.time() + 2 * HOUR)
    assert {a.rule for a in ws.alerts(status="firing")} == {"data_stale"}
    run, _ = ws.submit("orders")
    assert ws.execute(run.run_id) == "succeeded"
    assert ws.alerts(status="firing") == []

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    ws.ledger.take_daemon_lease("gone", pid=int(dead.stdout), host=socket.gethostname(), http_address=None)
    ws.evaluate_alerts()
    [daemon] = ws.alerts(status="firing")
    assert daemon.rule == "daemon_unhealthy" and daemon.severity == "critical" and "gone" in daemon.summary
    ws.ledger.release_daemon_lease("gone", {})
    ws.evaluate_alerts()
    assert ws.alerts(status="firing") == []


def test_a_broken_rule_never_loses_the_transition_it_reacts_to(tmp_path: Path) -> None:
    ws = open_project(tmp_path / "p")

    def broken(book: object, transition: object) -> None:
        raise RuntimeError("rule bug")

    ws.ledger.set_alert_hook(broken)
    run_id = fail_run(ws)
    assert ws.ledger.get_run(run_id).status == "failed"  # type: ignore[union-attr]
    assert ws.alerts() == [] and outbox(ws) == []
    assert any(event.kind == "alert.error" and "rule bug" in event.message for event in ws.ledger.events(run_id=run_id))


def test_routes_pick_channels_by_severity_and_labels() -> None:
    config = AlertsConfig.model_validate({
        "channels": {"pager": {"type": "sms", "url": "twilio://${secret:TWILIO}"},
                     "mail": {"type": "email", "url": "mailto://${env:SMTP}@example.com"}},
        "routes": [{"match": {"severity": "critical", "team": ["sales", "ops"]}, "channels": ["pager"],
                    "repeat_interval": "30m", "continue": True},
                   {"match": {"severity": ["critical", "warning"]}, "channels": ["mail", "console"]}],
    })
    routed = deliveries_for(config, {"severity": "critical", "team": "sales", "pipeline": "x"})
    assert [(d.channel, d.repeat_interval) for d in routed] == [("pager", 1800.0), ("mail", 4 * HOUR),
                                                               ("console", 4 * HOUR)]
    assert [d.channel for d in deliveries_for(config, {"severity": "critical", "team": "finance"})] == ["mail", "console"]
    assert deliveries_for(config, {"severity": "info"}) == ()


@pytest.mark.parametrize(("channel", "expected"), [
    ("{type: email, url: 'mailto://ops:hunter2secret@smtp.example.com'}", "literal password"),
    ("{type: slack, url: 'slack://T000/B000/XXXXXXXX'}", "${secret:NAME}"),
    ("{type: webhook, url: 'https://example.com/hook'}", "json://"),
    ("{type: console, url: 'json://x'}", "console channel has no url"),
])
def test_channel_configuration_mistakes_are_reported_with_their_place(tmp_path: Path, channel: str,
                                                                     expected: str) -> None:
    root = make_project(tmp_path / "p", f"alerts:\n  channels:\n    ops: {channel}\n")
    result = flowdeck(root, "alerts")
    assert result.returncode == 2
    assert "flowdeck.yaml:" in result.stderr and expected in result.stderr


def test_a_route_to_an_unknown_channel_is_refused(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", "alerts:\n  routes:\n    - channels: [pagerr]\n")
    result = flowdeck(root, "validate")
    assert result.returncode == 2 and "pagerr" in result.stderr


def test_alerts_cli_lists_acknowledges_silences_and_tests(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", "")
    make_failing(root)
    assert flowdeck(root, "run", "orders").returncode == 1
    listed = flowdeck(root, "alerts", "--json")
    import json

    document = json.loads(listed.stdout)
    [alert] = document["alerts"]
    assert alert["rule"] == "run_failed" and alert["labels"] == {"pipeline": "orders"}
    assert flowdeck(root, "alerts", "ack", alert["fingerprint"][:8]).returncode == 0
    assert json.loads(flowdeck(root, "alerts", "--json").stdout)["alerts"][0]["acknowledged_by"]
    silenced = flowdeck(root, "alerts", "silence", "orders", "--for", "2h", "-m", "feed late")
    assert silenced.returncode == 0 and "silenced until" in silenced.stdout
    assert json.loads(flowdeck(root, "alerts", "--json").stdout)["silences"][0]["comment"] == "feed late"
    assert flowdeck(root, "alerts", "silence", "ordres").returncode == 2
    assert flowdeck(root, "alerts", "silence", "orders", "--for", "soon").returncode == 2
    tested = flowdeck(root, "alerts", "test", "console")
    assert tested.returncode == 0 and "delivered to console" in tested.stdout
    assert flowdeck(root, "alerts", "test", "nowhere").returncode == 2
    make_healthy(root)
    assert flowdeck(root, "run", "orders").returncode == 0
    assert json.loads(flowdeck(root, "alerts", "--json").stdout)["alerts"] == []


def test_a_viewer_may_list_alerts_but_not_acknowledge_silence_or_test(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", "roles: {admins: [nobody-here], default: viewer}\n")
    ws = Workspace.open(root)
    run, _ = ws.ledger.create_run("orders", trigger_kind="schedule")  # the daemon's doing, not the viewer's
    ws.ledger.claim_run(run.run_id)
    ws.ledger.finish_run(run.run_id, "failed", "boom")
    ws.close()
    listed = flowdeck(root, "alerts", "--json")
    assert listed.returncode == 0 and '"run_failed"' in listed.stdout
    import json

    fingerprint = json.loads(listed.stdout)["alerts"][0]["fingerprint"]
    for args in (("alerts", "ack", fingerprint[:8]),
                 ("alerts", "silence", "orders", "--for", "1h"), ("alerts", "test", "console")):
        refused = flowdeck(root, *args)
        assert refused.returncode == 3 and "operator" in refused.stderr, (args, refused.stderr)
