"""The daemon's HTTP endpoint: /metrics parses as Prometheus text and agrees with the ledger."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from daemonkit import Daemon, flowdeck, http_get, make_project, numbers_pipeline, query, runs, write
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow


def test_metrics_parse_and_match_the_ledger(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "fine")
    numbers_pipeline(project, "broken")
    write(project / "pipelines" / "broken" / "total.sql", "SELECT n / 0 AS boom, error('no good') AS e FROM broken_raw\n")
    for pipeline, expected in (("fine", 0), ("fine", 0), ("broken", 1)):
        assert flowdeck(project, "run", pipeline).returncode == expected
    daemon = Daemon(project)
    try:
        address = daemon.address()
        code, body = http_get(f"{address}/metrics")
        status = json.loads(http_get(f"{address}/status")[1])
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    assert code == 200
    families = {family.name: family for family in text_string_to_metric_families(body.decode())}

    finished = Counter((run["pipeline"], run["trigger_kind"], run["status"]) for run in runs(project))
    counted = {(s.labels["pipeline"], s.labels["trigger"], s.labels["status"]): s.value
               for s in families["flowdeck_runs"].samples if s.name == "flowdeck_runs_total"}
    assert counted == {key: float(value) for key, value in finished.items()}
    assert counted[("fine", "manual", "succeeded")] == 2 and counted[("broken", "manual", "failed")] == 1

    durations = families["flowdeck_run_duration_seconds"].samples
    counts = {(s.labels["pipeline"], s.labels["status"]): s.value for s in durations
              if s.name == "flowdeck_run_duration_seconds_count"}
    assert counts == {("fine", "succeeded"): 2.0, ("broken", "failed"): 1.0}
    sums = {(s.labels["pipeline"], s.labels["status"]): s.value for s in durations
            if s.name == "flowdeck_run_duration_seconds_sum"}
    expected_sum = sum(run["ended_at"] - run["started_at"] for run in runs(project, "pipeline = 'fine'"))
    assert sums[("fine", "succeeded")] == pytest.approx(expected_sum)

    last_success = {s.labels["pipeline"]: s.value for s in families["flowdeck_last_success_timestamp_seconds"].samples}
    assert last_success == {"fine": max(run["ended_at"] for run in runs(project, "pipeline = 'fine'"))}

    rows = {(s.labels["pipeline"], s.labels["stage"]): s.value for s in families["flowdeck_rows_processed"].samples
            if s.name == "flowdeck_rows_processed_total"}
    ledger_rows = query(project, "SELECT r.pipeline, s.kind, SUM(s.rows_out) FROM steps s JOIN runs r USING (run_id) "
                                 "WHERE s.status = 'succeeded' GROUP BY 1, 2")
    assert rows == {(pipeline, kind): float(total) for pipeline, kind, total in ledger_rows}
    assert rows[("fine", "extract")] == 50  # the second run kept the unchanged extract: it processed no row

    assert [s.value for s in families["flowdeck_run_queue_depth"].samples] == [0.0]
    assert {s.labels["pipeline"]: s.value for s in families["flowdeck_runs_in_progress"].samples} == \
        {"fine": 0.0, "broken": 0.0}
    assert "flowdeck_build_info" in families and "flowdeck_daemon_problems" in families

    assert status["daemon"]["pid"] == daemon.pid and status["daemon"]["ready"] is True
    assert [error["pipeline"] for error in status["last_errors"]] == ["broken"]
    assert status["running"] == [] and status["queued"] == []
