"""The daemon's alert sender: notifications of the runs it executes are delivered by the daemon itself."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from daemonkit import Daemon, flowdeck, http_get, make_project, numbers_pipeline, wait_for, write
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "alerts"))
from alertkit import HttpReceiver  # noqa: E402

pytestmark = pytest.mark.slow


def test_the_daemon_delivers_the_alert_of_a_run_it_executed_and_counts_it(tmp_path: Path) -> None:
    with HttpReceiver() as hook:
        project = make_project(tmp_path / "project")
        with open(project / "flowdeck.yaml", "a") as config:
            config.write(f"alerts:\n  channels:\n    hook: {{type: webhook, url: 'json://127.0.0.1:{hook.port}/'}}\n"
                         "  routes:\n    - channels: [hook]\n")
        numbers_pipeline(project, "broken")
        write(project / "pipelines" / "broken" / "total.sql", "SELECT error('no good') AS e FROM broken_raw\n")
        daemon = Daemon(project)
        try:
            address = daemon.address()
            queued = flowdeck(project, "run", "broken", "--detach")
            assert queued.returncode == 0 and "daemon" in queued.stdout, queued.stdout + queued.stderr
            [body] = wait_for(lambda: hook.accepted() or None, 60, what="the webhook to receive the alert")
            assert body["flowdeck"]["pipeline"] == "broken" and body["flowdeck"]["rule"] == "run_failed"
            assert "no good" in body["message"]
            metrics = wait_for(lambda: (lambda body: body if b'state="sent"' in body else None)(
                http_get(f"{address}/metrics")[1]), 30, what="the daemon to mark the notification sent")
            assert daemon.terminate() == 0
        finally:
            daemon.stop_quietly()
    assert len(hook.requests) == 1  # the worker left it to the daemon; nobody sent it twice
    families = {family.name: family for family in text_string_to_metric_families(metrics.decode())}
    firing = {(s.labels["rule"], s.labels["severity"]): s.value for s in families["flowdeck_alerts_firing"].samples}
    assert firing == {("run_failed", "critical"): 1.0}
    sent = {(s.labels["channel"], s.labels["state"]): s.value for s in families["flowdeck_alert_notifications"].samples
            if s.name.endswith("_total")}
    assert sent == {("hook", "sent"): 1.0}
