"""Running in an environment (docs/environments.md), with the real CLI on real files: a dev run writes only
its own warehouse, builds only what changed and reads the rest from prod's file without copying it."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path

import duckdb

from flowdeck.engine.backends.duckdb.warehouse import ENVIRONMENT_BLOCK_SIZE
from tests.conftest import CliResult, ledger_rows, run_flowdeck

DAILY_SALES_SQL = "pipelines/daily_sales/daily_sales.sql"


def fingerprint_of_file(path: Path) -> tuple[str, int]:
    """The file's sha256 and its modification time (ns): what "never written" means."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def change_daily_sales(project: Path) -> None:
    """A non-breaking change to the pipeline's last transform: one column more."""
    path = project / DAILY_SALES_SQL
    text = path.read_text()
    assert "AS revenue" in text
    path.write_text(text.replace("AS revenue", "AS revenue,\n    max(amount) AS biggest", 1))


def dev_rows(project: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of ``sql`` on the dev warehouse, opened directly with prod attached read-only, as flowdeck does."""
    connection = duckdb.connect(str(project / ".flowdeck/envs/dev/warehouse.duckdb"), read_only=True)
    try:
        connection.execute(f"ATTACH '{project / '.flowdeck/warehouse.duckdb'}' AS fd_prod (READ_ONLY)")
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def query_json(project: Path, sql: str, *extra: str) -> list[dict[str, object]]:
    result = run_flowdeck("query", sql, "--json", *extra, project=project)
    assert result.returncode == 0, result
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def ok(result: CliResult) -> CliResult:
    assert result.returncode == 0, result
    return result


def test_a_dev_run_builds_only_what_changed_and_leaves_prod_byte_identical(ran_daily_sales: Path) -> None:
    project = ran_daily_sales
    prod_file = project / ".flowdeck/warehouse.duckdb"
    before = fingerprint_of_file(prod_file)
    change_daily_sales(project)

    result = ok(run_flowdeck("run", "daily_sales", "--env", "dev", project=project))

    assert fingerprint_of_file(prod_file) == before, "a dev run wrote prod's warehouse file"
    assert "= unchanged (prod)  orders_clean" in result.stdout + result.stderr
    assert "read from prod" in result.stdout + result.stderr
    dev_file = project / ".flowdeck/envs/dev/warehouse.duckdb"
    # no copy of prod's tables: the environment holds one small table (1,582 rows) and its bookkeeping, a block
    # each (DuckDB's catalogue, _flowdeck's info, prod_links and commits, daily_sales); a table of prod's copied
    # would be one block more at least
    assert dev_file.stat().st_size < 1_000_000
    block_size, blocks = dev_rows(project, "SELECT block_size, total_blocks FROM pragma_database_size() "
                                           "WHERE database_name = current_database()")[0]
    assert block_size == ENVIRONMENT_BLOCK_SIZE and blocks <= 5
    # and what it built is stored compressed: at DuckDB's smaller blocks its integers were kept as they are
    stored = dev_rows(project, "SELECT DISTINCT column_name, compression FROM pragma_storage_info('daily_sales') "
                               "WHERE column_name IN ('orders', 'units', 'revenue') AND segment_type <> 'VALIDITY'")
    assert {column for column, _ in stored} == {"orders", "units", "revenue"}
    assert all(compression != "Uncompressed" for _, compression in stored), stored
    # the contract with `env diff`/`env promote`: commit markers only for what the environment built
    assert dev_rows(project, "SELECT DISTINCT output FROM _flowdeck.commits") == [("daily_sales",)]
    linked = {row[0] for row in dev_rows(project, "SELECT output FROM _flowdeck.prod_links")}
    assert {"raw_orders", "orders_clean", "sales"} <= linked and "daily_sales" not in linked
    kinds = dict(dev_rows(project, "SELECT table_name, table_type FROM information_schema.tables "
                                   "WHERE table_catalog = current_database() AND table_schema = 'main'"))
    assert kinds["orders_clean"] == "VIEW" and kinds["daily_sales"] == "BASE TABLE"

    # an unchanged table reads prod's rows; the changed one the environment's
    assert query_json(project, "SELECT * FROM orders_clean ORDER BY ALL", "--env", "dev") == \
        query_json(project, "SELECT * FROM orders_clean ORDER BY ALL")
    assert "biggest" in query_json(project, "SELECT * FROM daily_sales LIMIT 1", "--env", "dev")[0]
    assert "biggest" not in query_json(project, "SELECT * FROM daily_sales LIMIT 1")[0]

    # the ledger: the run is dev's, its reused steps say they were read from prod, the load ran in prod only
    run = ledger_rows(project, "SELECT * FROM runs ORDER BY created_at DESC LIMIT 1")[0]
    assert run["environment"] == "dev"
    steps = {row["step"]: row for row in ledger_rows(project, "SELECT * FROM steps WHERE run_id = ?", (run["run_id"],))}
    assert steps["orders_clean"]["reuse_reason"] == "prod" and steps["daily_sales"]["reuse_reason"] is None
    assert steps["daily_sales"]["status"] == "succeeded" and steps["export_daily_sales"]["status"] == "skipped"
    shown = json.loads(ok(run_flowdeck("show", run["run_id"], "--json", project=project)).stdout)
    assert shown["environment"] == "dev"
    by_step = {step["step"]: step for step in shown["steps"]}
    assert by_step["orders_clean"]["from_prod"] is True and by_step["daily_sales"]["from_prod"] is False
    assert "in environment dev" in ok(run_flowdeck("show", run["run_id"], project=project)).stdout

    # prod's plan is prod's: what dev built is not prod's current version
    plan = json.loads(ok(run_flowdeck("plan", "daily_sales", "--json", project=project)).stdout)
    assert {step["step"]: step["status"] for step in plan["steps"]}["daily_sales"] == "changed"
    # and dev's plan knows what dev holds
    dev_plan = json.loads(ok(run_flowdeck("plan", "daily_sales", "--env", "dev", "--json", project=project)).stdout)
    statuses = {step["step"]: (step["status"], step["from_prod"]) for step in dev_plan["steps"]}
    assert statuses["daily_sales"] == ("unchanged", False) and statuses["orders_clean"] == ("unchanged", True)
    assert fingerprint_of_file(prod_file) == before


def test_a_second_dev_run_with_nothing_changed_builds_nothing(ran_daily_sales: Path) -> None:
    project = ran_daily_sales
    change_daily_sales(project)
    ok(run_flowdeck("run", "daily_sales", "--env", "dev", project=project))
    dev_file = project / ".flowdeck/envs/dev/warehouse.duckdb"
    before = fingerprint_of_file(dev_file)
    result = ok(run_flowdeck("run", "daily_sales", "--env", "dev", project=project))
    assert "plan: daily_sales:" not in result.stderr
    run = ledger_rows(project, "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")[0]
    built = ledger_rows(project, "SELECT step FROM steps WHERE run_id = ? AND reused_from IS NULL AND status = 'succeeded'",
                        (run["run_id"],))
    assert built == []
    assert fingerprint_of_file(dev_file)[0] == before[0]


def test_a_change_reverted_in_dev_reads_prod_again_and_keeps_no_marker_of_its_own(ran_daily_sales: Path) -> None:
    project = ran_daily_sales
    original = (project / DAILY_SALES_SQL).read_text()
    change_daily_sales(project)
    ok(run_flowdeck("run", "daily_sales", "--env", "dev", project=project))
    (project / DAILY_SALES_SQL).write_text(original)

    result = ok(run_flowdeck("run", "daily_sales", "--env", "dev", project=project))

    assert "= unchanged (prod)  daily_sales" in result.stdout + result.stderr
    assert dev_rows(project, "SELECT count(*) FROM _flowdeck.commits") == [(0,)]
    assert query_json(project, "SELECT * FROM daily_sales ORDER BY ALL", "--env", "dev") == \
        query_json(project, "SELECT * FROM daily_sales ORDER BY ALL")
    # a third run agrees: the environment reads daily_sales from prod now, not what it built before
    again = ok(run_flowdeck("plan", "daily_sales", "--env", "dev", "--json", project=project))
    assert all(step["status"] == "unchanged" for step in json.loads(again.stdout)["steps"])


def test_a_dev_run_before_any_prod_run_builds_everything_in_dev(project: Path) -> None:
    result = ok(run_flowdeck("run", "daily_sales", "--env", "dev", project=project))
    assert "new steps" in result.stderr
    assert not (project / ".flowdeck/warehouse.duckdb").exists(), "a dev run created prod's warehouse"
    assert query_json(project, "SELECT count(*) AS n FROM orders_clean", "--env", "dev") == [{"n": 2962}]
    # prod has published nothing: its plan says every step is new, whatever dev built
    plan = json.loads(ok(run_flowdeck("plan", "daily_sales", "--json", project=project)).stdout)
    assert {step["status"] for step in plan["steps"]} == {"new"}


def test_a_hostile_environment_name_is_refused_in_words(ran_daily_sales: Path) -> None:
    project = ran_daily_sales
    for command in (("run", "daily_sales", "--env", "../x"), ("plan", "daily_sales", "--env", "../x"),
                    ("query", "SELECT 1", "--env", "/tmp/x"), ("runs", "--env", "a/b")):
        result = run_flowdeck(*command, project=project)
        assert result.returncode == 2, result
        assert "not an environment name" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
    assert not (project / ".flowdeck/x").exists() and not (project / ".flowdeck/envs").exists()
    assert ledger_rows(project, "SELECT count(*) AS n FROM runs")[0]["n"] == 1


def test_a_dev_run_killed_after_its_publish_leaves_prod_untouched_and_the_next_one_recovers(ran_daily_sales: Path) -> None:
    project = ran_daily_sales
    prod_file = project / ".flowdeck/warehouse.duckdb"
    before = fingerprint_of_file(prod_file)
    change_daily_sales(project)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FLOWDECK_")}
    environment["FLOWDECK_DEBUG_CRASH_AT"] = "published:daily_sales"
    killed = run_flowdeck("run", "daily_sales", "--env", "dev", project=project, env=environment)
    assert killed.returncode == -signal.SIGKILL, killed
    assert fingerprint_of_file(prod_file) == before

    result = ok(run_flowdeck("run", "daily_sales", "--env", "dev", project=project))
    assert "recovered 1 commit" in result.stderr
    assert fingerprint_of_file(prod_file) == before
    assert "biggest" in query_json(project, "SELECT * FROM daily_sales LIMIT 1", "--env", "dev")[0]
    runs = ledger_rows(project, "SELECT environment, status FROM runs ORDER BY created_at")
    assert [row["environment"] for row in runs] == ["prod", "dev", "dev"]
    assert runs[1]["status"] == "abandoned" and runs[2]["status"] == "succeeded"


def test_runs_lists_the_environment_and_filters_by_it(ran_daily_sales: Path) -> None:
    project = ran_daily_sales
    ok(run_flowdeck("run", "daily_sales", "--env", "dev", project=project))
    listed = json.loads(ok(run_flowdeck("runs", "--json", project=project)).stdout)
    assert [run["environment"] for run in listed] == ["dev", "prod"]
    only_dev = json.loads(ok(run_flowdeck("runs", "--env", "dev", "--json", project=project)).stdout)
    assert [run["environment"] for run in only_dev] == ["dev"]
    assert "daily_sales [dev]" in ok(run_flowdeck("runs", project=project)).stdout


def test_while_a_dev_run_runs_prod_can_still_be_read_by_another_process(ran_daily_sales: Path) -> None:
    """A dev run holds prod's file read-only: another process may read it meanwhile (a writer would not let it)."""
    import subprocess
    import time

    from tests.conftest import FLOWDECK, clean_env

    project = ran_daily_sales
    change_daily_sales(project)
    pipeline = project / "pipelines/daily_sales/pipeline.yaml"
    text = pipeline.read_text()
    pipeline.write_text(text.replace("    sql: daily_sales.sql\n",
                                     "    sql: daily_sales.sql\n    retries: {attempts: 2, backoff: 6s}\n", 1))
    prod_file = project / ".flowdeck/warehouse.duckdb"
    before = fingerprint_of_file(prod_file)
    # the first attempt fails (transiently) before staging: the run then waits 6 s, prod attached, to retry
    process = subprocess.Popen([str(FLOWDECK), "--project", str(project), "run", "daily_sales", "--env", "dev"],
                               env=clean_env(FLOWDECK_DEBUG_FAIL_AT="staging:daily_sales:1"), cwd=project,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ledger_rows(project, "SELECT 1 FROM events WHERE kind = 'step.retrying'"):
            assert process.poll() is None and time.monotonic() < deadline, "the dev run never retried"
            time.sleep(0.2)
        reader = duckdb.connect(str(prod_file), read_only=True)  # not refused: the dev run holds no write lock
        try:
            assert reader.execute("SELECT count(*) FROM orders_clean").fetchone() == (2962,)
        finally:
            reader.close()
        assert process.poll() is None, "the dev run ended before prod was read beside it"
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert fingerprint_of_file(prod_file) == before
