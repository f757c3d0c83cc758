"""A pipeline name is a folder directly under pipelines/, never a path: nothing from outside the
project is ever read, planned or run, whoever gives the name (CLI, console, a ledger row).

The attack these tests repeat: an operator writes a pipeline.yaml in a folder of their own
outside the project (a step named like a published table, a parameter defaulting to a secret)
and asks flowdeck to run it by a relative or absolute path.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import clean_env, ledger_rows, run_flowdeck, warehouse_rows
from flowdeck.engine.workspace import Workspace
from flowdeck.engine.errors import NotFound

OUTSIDE_PIPELINE = """\
params:
  k:
    type: string
    default: ${env:FD_TEST_STOLEN}
steps:
  - name: daily_sales
    kind: transform
"""
STOLEN = "hunter2-stolen-value"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A pipeline folder of the attacker's own, beside (not inside) the project."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text(OUTSIDE_PIPELINE)
    (folder / "daily_sales.sql").write_text("SELECT '$k' AS loot\n")
    return folder


def hostile_names(project: Path, outside: Path) -> list[str]:
    """Ways of naming the outside folder: relative to pipelines/, to the project, and absolute."""
    return ["../../elsewhere", "../elsewhere", "pipelines/../../elsewhere", str(outside),
            "daily_sales/../../../elsewhere", "daily_sales/", "./daily_sales", "daily_sales\n"]


def test_a_pipeline_named_by_a_path_is_refused_by_every_command(project: Path, outside: Path) -> None:
    env = clean_env(FD_TEST_STOLEN=STOLEN)
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 0
    published = warehouse_rows(project, "SELECT count(*) FROM daily_sales")
    for name in hostile_names(project, outside):
        for command in (["run", name], ["run", name, "--detach"], ["validate", name], ["graph", name],
                        ["stats", name], ["alerts", "silence", name, "--for", "1h"]):
            result = run_flowdeck(*command, project=project, env=env)
            assert result.returncode == 2, result
            assert "is not a pipeline name" in result.output, result
            assert "Traceback" not in result.output and STOLEN not in result.output, result
    runs = ledger_rows(project, "SELECT pipeline FROM runs")
    assert {row["pipeline"] for row in runs} == {"daily_sales"}  # nothing from outside was even queued
    assert warehouse_rows(project, "SELECT count(*) FROM daily_sales") == published
    assert warehouse_rows(project, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'loot'") == [(0,)]


def test_the_engine_gate_refuses_a_path_before_reading_anything(project: Path, outside: Path) -> None:
    ws = Workspace.open(project)
    try:
        for name in hostile_names(project, outside):
            with pytest.raises(NotFound, match="is not a pipeline name"):
                ws.project.pipeline(name)
            with pytest.raises(NotFound, match="is not a pipeline name"):
                ws.pipeline_files(name)
            with pytest.raises(NotFound, match="is not a pipeline name"):
                ws.submit(name)
        assert ws.project.pipeline("daily_sales").folder == project / "pipelines" / "daily_sales"
    finally:
        ws.close()


def test_a_queued_run_whose_row_names_a_path_fails_in_the_worker_without_running_it(
        project: Path, outside: Path) -> None:
    """A row written into the ledger by hand (anyone who can write the file) is checked again
    by the process that executes it: the run fails in words and nothing from outside runs."""
    ws = Workspace.open(project)
    try:
        record, _ = ws.ledger.create_run(str(outside), trigger_kind="manual", params={}, options={},
                                         requested_by="mallory")
    finally:
        ws.close()
    worker = subprocess.run([sys.executable, "-m", "flowdeck.engine.run.worker", "--project", str(project), record.run_id],
                            env=clean_env(FD_TEST_STOLEN=STOLEN), capture_output=True, text=True, timeout=120)
    assert worker.returncode != 0, worker
    run = ledger_rows(project, "SELECT status, error FROM runs WHERE run_id = ?", (record.run_id,))[0]
    assert run["status"] == "failed"
    assert "is not a pipeline name" in run["error"]
    events = ledger_rows(project, "SELECT message FROM events WHERE run_id = ?", (record.run_id,))
    assert not any(STOLEN in (event["message"] or "") for event in events)
    if (project / ".flowdeck" / "warehouse.duckdb").exists():
        assert warehouse_rows(
            project, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'loot'") == [(0,)]
