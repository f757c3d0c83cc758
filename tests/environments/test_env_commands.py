"""`flowdeck env list` and `flowdeck env drop`, with the real CLI on a real project."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ledger_rows, run_flowdeck

from flowdeck.engine.workspace import Workspace


def test_env_list_says_what_each_environment_built_and_reads_from_prod(ran_daily_sales: Path) -> None:
    project = ran_daily_sales
    sql = project / "pipelines/daily_sales/daily_sales.sql"
    sql.write_text(sql.read_text().replace("AS revenue", "AS revenue, 1 AS one", 1))
    assert run_flowdeck("run", "daily_sales", "--env", "dev", project=project).returncode == 0

    listed = run_flowdeck("env", "list", "--json", project=project)
    assert listed.returncode == 0, listed
    by_name = {env["name"]: env for env in json.loads(listed.stdout)}
    assert list(by_name) == ["prod", "dev"]
    assert by_name["dev"]["built"] == ["daily_sales"]
    assert {"raw_orders", "orders_clean", "sales"} <= set(by_name["dev"]["from_prod"])
    assert by_name["dev"]["size_bytes"] < by_name["prod"]["size_bytes"]
    assert by_name["dev"]["last_run"]["status"] == "succeeded" and by_name["prod"]["runs"] == 1
    table = run_flowdeck("env", "list", project=project)
    assert table.returncode == 0 and "dev" in table.stdout and "prod" in table.stdout


def test_env_drop_removes_the_folder_refuses_prod_and_an_active_environment_and_is_audited(ran_daily_sales: Path) -> None:
    project = ran_daily_sales
    assert run_flowdeck("run", "daily_sales", "--env", "dev", project=project).returncode == 0
    folder = project / ".flowdeck/envs/dev"
    assert folder.is_dir()

    refused = run_flowdeck("env", "drop", "prod", "--yes", project=project)
    assert refused.returncode == 2 and "prod cannot be dropped" in refused.stderr
    assert (project / ".flowdeck/warehouse.duckdb").exists()
    unasked = run_flowdeck("env", "drop", "dev", project=project)  # no terminal to confirm on
    assert unasked.returncode == 2 and "--yes" in unasked.stderr and folder.is_dir()
    hostile = run_flowdeck("env", "drop", "../envs", "--yes", project=project)
    assert hostile.returncode == 2 and "not an environment name" in hostile.stderr
    assert "Traceback" not in hostile.stderr and folder.is_dir()

    ws = Workspace.open(project)
    try:  # a run queued in dev (not executed): dev is in use
        queued, _ = ws.submit("daily_sales", environment="dev")
    finally:
        ws.close()
    busy = run_flowdeck("env", "drop", "dev", "--yes", project=project)
    assert busy.returncode == 2 and queued.run_id in busy.stderr and folder.is_dir()
    assert run_flowdeck("cancel", queued.run_id, project=project).returncode == 0

    dropped = run_flowdeck("env", "drop", "dev", "--yes", project=project)
    assert dropped.returncode == 0, dropped
    assert not folder.exists() and (project / ".flowdeck/warehouse.duckdb").exists()
    audit = ledger_rows(project, "SELECT action, target, outcome FROM audit_log WHERE action = 'env.drop' ORDER BY entry_id")
    assert [(row["target"], row["outcome"]) for row in audit] == \
        [("prod", "failed"), ("../envs", "failed"), ("dev", "failed"), ("dev", "ok")]
    # a dropped environment is built again from prod on its next run
    again = run_flowdeck("run", "daily_sales", "--env", "dev", project=project)
    assert again.returncode == 0 and "unchanged (prod)" in again.stdout + again.stderr
