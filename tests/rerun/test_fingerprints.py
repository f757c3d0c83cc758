"""Fingerprints with real processes, a real DuckDB warehouse and a real ledger: a rerun of an unchanged
pipeline writes nothing, a change reruns what it reaches and nothing else, `flowdeck plan` says why."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tests.rerun.helpers import edit_pipeline, flowdeck, ledger_rows, sha256_file, table_rows, write_pipeline

TABLES = ("raw_orders", "raw_customers", "raw_products", "orders_clean", "sales", "daily_sales")
STEPS = ("raw_orders", "raw_customers", "raw_products", "orders_clean", "sales", "check_orders_reference_customers",
         "daily_sales", "export_daily_sales")
EXPORT = Path("exports") / "daily_sales.parquet"


def run(project: Path, *args: str) -> str:
    """Run daily_sales (or what ``args`` say) through the CLI; return the new run's id."""
    result = flowdeck(project, "run", *(args or ("daily_sales",)))
    assert result.returncode == 0, result.stdout + result.stderr
    return newest_run(project)


def newest_run(project: Path) -> str:
    return ledger_rows(project, "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")[0][0]


def statuses(project: Path, run_id: str) -> dict[str, str]:
    """steps[].status of `flowdeck show --json`."""
    shown = flowdeck(project, "show", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    return {step["step"]: step["status"] for step in json.loads(shown.stdout)["steps"]}


def ran(project: Path, run_id: str) -> set[str]:
    return {step for step, status in statuses(project, run_id).items() if status != "unchanged"}


def commits(project: Path) -> list[tuple[object, ...]]:
    return ledger_rows(project, "SELECT seq, run_id, step, output, checksum FROM commits ORDER BY seq")


def warehouse_markers(project: Path) -> int:
    import duckdb

    connection = duckdb.connect(str(project / ".flowdeck" / "warehouse.duckdb"), read_only=True)
    try:
        return int(connection.execute("SELECT count(*) FROM _flowdeck.commits").fetchone()[0])  # type: ignore[index]
    finally:
        connection.close()


def planned(project: Path, *args: str) -> dict[str, dict[str, object]]:
    result = flowdeck(project, "plan", "daily_sales", "--json", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return {step["step"]: step for step in json.loads(result.stdout)["steps"]}


def test_an_unchanged_rerun_writes_nothing_and_leaves_every_table_and_file_byte_identical(project: Path) -> None:
    first = run(project)
    tables = {table: table_rows(project, table) for table in TABLES}
    before, markers = commits(project), warehouse_markers(project)
    export_sha, export_mtime = sha256_file(project / EXPORT), (project / EXPORT).stat().st_mtime_ns

    result = flowdeck(project, "run", "daily_sales")
    assert result.returncode == 0, result.stderr
    assert "8 steps unchanged" in result.stderr
    second = newest_run(project)
    assert statuses(project, second) == {step: "unchanged" for step in STEPS}
    assert commits(project) == before and warehouse_markers(project) == markers  # no new commit anywhere
    assert {table: table_rows(project, table) for table in TABLES} == tables
    assert (sha256_file(project / EXPORT), (project / EXPORT).stat().st_mtime_ns) == (export_sha, export_mtime)
    assert ledger_rows(project, "SELECT count(*) FROM check_results WHERE run_id = ?", (second,)) == [(0,)]  # checks not rerun
    # each unchanged step names the run whose output it kept, and carries the same fingerprint
    reused = dict(ledger_rows(project, "SELECT step, reused_from FROM steps WHERE run_id = ?", (second,)))
    assert set(reused.values()) == {first}
    assert ledger_rows(project, "SELECT count(*) FROM steps a JOIN steps b USING (step) WHERE a.run_id = ? "
                                "AND b.run_id = ? AND a.fingerprint = b.fingerprint", (first, second)) == [(8,)]
    assert "unchanged" in flowdeck(project, "show", second).stdout


def test_new_bytes_in_an_input_file_rerun_its_reader_and_downstream_a_touched_mtime_does_not(project: Path) -> None:
    run(project)
    customers = project / "data" / "sample" / "customers.csv"
    stat = customers.stat()
    os.utime(customers, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # same bytes, new time
    assert ran(project, run(project)) == set()
    # the checksum was verified once for the new time and is remembered: no more reading
    assert ledger_rows(project, "SELECT mtime_ns FROM file_checksums WHERE path = 'data/sample/customers.csv'") == \
        [(stat.st_mtime_ns + 5_000_000_000,)]

    lines = customers.read_text().splitlines()
    customers.write_text("\n".join([*lines, lines[-1].replace("300,Customer 300", "301,Customer 301")]) + "\n")
    plan = planned(project)
    assert plan["raw_customers"]["reasons"] == ["input file data/sample/customers.csv changed"]
    assert plan["raw_orders"]["status"] == "unchanged"
    rerun = run(project)
    assert ran(project, rerun) == {"raw_customers", "sales", "check_orders_reference_customers", "daily_sales",
                                   "export_daily_sales"}
    assert statuses(project, rerun)["raw_customers"] == "succeeded"


def test_changing_only_the_last_transform_reruns_only_it_and_what_reads_it(project: Path) -> None:
    run(project)
    sql = project / "pipelines" / "daily_sales" / "daily_sales.sql"
    # comments, spacing and letter case are not changes
    sql.write_text("/* reformatted */\n" + sql.read_text().replace("    ", "  ").replace("sum(", "SUM("))
    assert ran(project, run(project)) == set()

    sql.write_text(sql.read_text().replace("SUM(amount)", "round(SUM(amount), 1)"))
    plan = planned(project)
    assert plan["daily_sales"]["status"] == "changed" and plan["daily_sales"]["reasons"] == ["SQL changed"]
    assert plan["export_daily_sales"]["reasons"] == ["upstream step `daily_sales` changed"]
    assert {name for name, step in plan.items() if step["runs"]} == {"daily_sales", "export_daily_sales"}
    assert ran(project, run(project)) == {"daily_sales", "export_daily_sales"}


def test_a_configuration_change_reruns_the_step_and_a_description_does_not(project: Path) -> None:
    run(project)
    edit_pipeline(project, "daily_sales", orders_clean={"description": "typed orders, one a line"})
    assert ran(project, run(project)) == set()
    edit_pipeline(project, "daily_sales", orders_clean={"checks": [{"not_null": ["order_id"]}]})
    assert planned(project)["orders_clean"]["reasons"] == ["configuration changed"]
    assert "orders_clean" in ran(project, run(project))


def test_force_and_always_run_rebuild(project: Path) -> None:
    run(project)
    before = len(commits(project))
    plan = planned(project, "--force")
    assert {step["status"] for step in plan.values()} == {"forced"}
    forced = run(project, "daily_sales", "--force")
    assert ran(project, forced) == set(STEPS)
    assert len(commits(project)) == before + len(TABLES)

    edit_pipeline(project, "daily_sales", daily_sales={"always_run": True})
    assert planned(project)["daily_sales"]["reasons"] == ["always_run: true"]
    assert ran(project, run(project)) == {"daily_sales", "export_daily_sales"}


def test_sql_that_is_not_deterministic_is_never_skipped(project: Path) -> None:
    write_pipeline(project, "stamped", """
        steps:
          - name: stamp
            kind: transform
            sql: stamp.sql
          - name: stamped_orders
            kind: transform
            sql: stamped_orders.sql
        """, {"stamp.sql": "SELECT now() AS stamped_at, count(*) AS n FROM raw_orders\n",
              "stamped_orders.sql": "SELECT stamped_at FROM stamp\n"})
    run(project)
    run(project, "stamped")
    plan = json.loads(flowdeck(project, "plan", "stamped", "--json").stdout)
    assert [(s["step"], s["status"], s["reasons"]) for s in plan["steps"]] == [
        ("stamp", "non-deterministic", ["non-deterministic: now()"]),
        ("stamped_orders", "changed", ["upstream step `stamp` is non-deterministic"]),
    ]
    again = run(project, "stamped")
    assert statuses(project, again) == {"stamp": "succeeded", "stamped_orders": "succeeded"}


def test_a_crash_after_publishing_keeps_the_fingerprint_through_reconciliation(project: Path) -> None:
    run(project)
    sql = project / "pipelines" / "daily_sales" / "daily_sales.sql"
    sql.write_text(sql.read_text().replace("sum(amount)", "round(sum(amount), 1)"))
    killed = flowdeck(project, "run", "daily_sales", env={"FLOWDECK_DEBUG_CRASH_AT": "published:daily_sales"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    crashed = newest_run(project)

    after = run(project)  # reconciles first: the marker carried the fingerprint
    assert ledger_rows(project, "SELECT reconciled, fingerprint IS NOT NULL FROM commits WHERE run_id = ? "
                                "AND step = 'daily_sales'", (crashed,)) == [(1, 1)]
    assert statuses(project, after)["daily_sales"] == "unchanged"
    assert ran(project, after) == {"export_daily_sales"}  # the export never ran in the crashed run


def test_a_resumed_run_still_runs_what_its_parent_left(project: Path) -> None:
    run(project)
    sql = project / "pipelines" / "daily_sales" / "daily_sales.sql"
    sql.write_text(sql.read_text().replace("sum(amount)", "round(sum(amount), 1)"))
    killed = flowdeck(project, "run", "daily_sales", env={"FLOWDECK_DEBUG_CRASH_AT": "staged:daily_sales"})
    assert killed.returncode == -signal.SIGKILL
    crashed = newest_run(project)
    resumed = flowdeck(project, "run", "--resume", crashed)
    assert resumed.returncode == 0, resumed.stderr
    shown = statuses(project, newest_run(project))
    assert shown["daily_sales"] == "succeeded" and shown["export_daily_sales"] == "succeeded"
    assert ran(project, run(project)) == set()  # and what the resume published is recorded as current
