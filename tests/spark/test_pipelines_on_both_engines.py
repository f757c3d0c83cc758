"""The example pipelines give the same tables, files and checks on DuckDB and on local Spark."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flowdeck.engine.workspace import Workspace
from flowdeck.engine.errors import CheckFailed

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]


def run(project: Path, pipeline: str, engine: str, *, force: bool = False) -> tuple[Workspace, str, str]:
    """Queue and execute one run in this process (``force``: every step runs, whatever its fingerprint says);
    return the workspace, run id and final status."""
    workspace = Workspace.open(project)
    record, _ = workspace.submit(pipeline, options={"engine": engine, **({"force": True} if force else {})})
    return workspace, record.run_id, workspace.execute(record.run_id)


def published(workspace: Workspace, table: str, engine: str) -> list[tuple[Any, ...]]:
    """A published table's rows, read back through the engine that wrote it, sorted."""
    if engine == "duckdb":
        return sorted(workspace.query(f"SELECT * FROM {table}", limit=100_000, engine="duckdb").rows, key=repr)
    from flowdeck.engine.backends.spark.backend import open_spark_backend

    backend = open_spark_backend(workspace.project)
    try:
        return sorted(backend.query(f"SELECT * FROM {table}", limit=100_000).rows, key=repr)
    finally:
        backend.close()


def file_rows(path: Path) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]]]:
    """An exported Parquet file's schema and rows, read with DuckDB."""
    connection = duckdb.connect()
    try:
        schema = [(row[0], row[1]) for row in connection.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall()]
        rows = connection.execute(f"SELECT * FROM '{path}' ORDER BY ALL").fetchall()
    finally:
        connection.close()
    return schema, rows


def test_daily_sales_gives_the_same_tables_file_and_checks_on_both_engines(example_project: Path, local_spark: Any) -> None:
    export = example_project / "exports" / "daily_sales.parquet"
    duck, duck_run, duck_status = run(example_project, "daily_sales", "duckdb")
    assert duck_status == "succeeded"
    duck_file = file_rows(export)
    export.unlink()
    spark, spark_run, spark_status = run(example_project, "daily_sales", "spark")
    assert spark_status == "succeeded", spark.ledger.get_run(spark_run)
    spark_schema, spark_rows = file_rows(export)
    duck_schema, duck_rows = duck_file
    assert spark_rows == duck_rows  # the same rows in the exported file
    # ... and the same column types, except DuckDB's HUGEINT integer sum (a DOUBLE in Parquet), BIGINT on Spark
    assert [c for c in spark_schema if c[0] != "units"] == [c for c in duck_schema if c[0] != "units"]
    assert dict(spark_schema)["units"] == "BIGINT"
    for table in ("orders_clean", "daily_sales"):
        assert published(spark, table, "spark") == published(duck, table, "duckdb")

    ledger = spark.ledger
    assert {step.engine for step in ledger.steps_of(duck_run)} == {"duckdb"}
    assert {step.engine for step in ledger.steps_of(spark_run)} == {"spark"}
    assert [(s.step, s.rows_out) for s in ledger.steps_of(spark_run)] == [
        (s.step, s.rows_out) for s in ledger.steps_of(duck_run)]
    checks = lambda run_id: sorted((c.step, c.check_name, c.status, c.failing_rows) for c in ledger.checks_of(run_id))  # noqa: E731
    assert checks(spark_run) == checks(duck_run)

    # the engine's measures mean the same on both; only DuckDB estimates query progress
    measures = lambda run_id: [(view.record.step, view.rows_in, view.bytes_in)  # noqa: E731
                               for view in spark.run_metrics(run_id).steps]
    assert measures(spark_run) == measures(duck_run)
    spark_metrics = spark.run_metrics(spark_run)
    assert spark_metrics.resources and not spark_metrics.progress
    [export_step] = [view for view in spark_metrics.steps if view.record.kind == "load"]
    assert export_step.bytes_out == export.stat().st_size


def test_ingest_orders_reads_globbed_files_with_their_names_the_same_way(example_project: Path, local_spark: Any) -> None:
    landing = example_project / "landing" / "orders"
    lines = (example_project / "data" / "sample" / "orders.csv").read_text().splitlines()
    (landing / "delivery-1.csv").write_text("\n".join(lines[:400]) + "\n")
    (landing / "delivery-2.csv").write_text("\n".join([lines[0], *lines[300:700]]) + "\n")
    duck, _, duck_status = run(example_project, "ingest_orders", "duckdb")
    spark, _, spark_status = run(example_project, "ingest_orders", "spark")
    assert (duck_status, spark_status) == ("succeeded", "succeeded")
    rows = published(spark, "ingested_orders", "spark")
    assert rows == published(duck, "ingested_orders", "duckdb")
    assert {row[-1] for row in rows} == {str(landing / "delivery-1.csv"), str(landing / "delivery-2.csv")}


def test_a_failing_check_on_spark_publishes_nothing_and_keeps_the_previous_version(
        example_project: Path, local_spark: Any) -> None:
    workspace, _, status = run(example_project, "daily_sales", "spark")
    assert status == "succeeded"
    before = published(workspace, "daily_sales", "spark")
    pipeline = example_project / "pipelines" / "daily_sales" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text().replace("WHERE revenue < 0", "WHERE revenue > 0"))
    workspace, run_id, status = run(example_project, "daily_sales", "spark")
    assert status == "failed"
    failed = {step.step: step for step in workspace.ledger.steps_of(run_id)}["daily_sales"]
    assert failed.status == "failed" and "revenue_not_negative failed" in (failed.error or "")
    assert published(workspace, "daily_sales", "spark") == before
    versions = list((example_project / ".flowdeck" / "spark-warehouse" / "tables" / "daily_sales").iterdir())
    assert len(versions) == 1, "the staged version of the failed run was removed"
    assert CheckFailed.exit_code == 1


def test_a_step_failing_on_spark_is_counted_by_spark_error_class(example_project: Path, local_spark: Any) -> None:
    pipeline = example_project / "pipelines" / "bad_cast"
    pipeline.mkdir()
    (pipeline / "pipeline.yaml").write_text(
        "steps:\n"
        "  - {name: raw_orders, kind: extract, source: {path: data/sample/orders.csv, options: {all_varchar: true}}}\n"
        "  - {name: statuses, kind: transform, sql: statuses.sql}\n")
    (pipeline / "statuses.sql").write_text("SELECT CAST(status AS INTEGER) AS status FROM raw_orders ORDER BY status\n")
    kinds = {}
    for engine in ("duckdb", "spark"):
        workspace, run_id, status = run(example_project, "bad_cast", engine)
        assert status == "failed"
        [failed] = [view for view in workspace.run_metrics(run_id).steps if view.record.status == "failed"]
        kinds[engine] = (failed.record.step, failed.metrics.error_kind if failed.metrics else None)
    assert kinds == {"duckdb": ("statuses", "conversion error"), "spark": ("statuses", "cast invalid input")}
    errors = workspace.stats("bad_cast").to_json()["errors_by_kind"]
    assert sorted(row["kind"] for row in errors) == ["cast invalid input", "conversion error"]


def test_an_example_project_copy_starts_without_spark_outputs(example_project: Path) -> None:
    assert not (example_project / ".flowdeck").exists()
    assert shutil.which("java"), "Java is installed by .ci/run for the Spark tests"


def test_column_masking_of_an_extract_gives_the_same_masked_values_on_spark(example_project: Path, local_spark: Any) -> None:
    pipeline = example_project / "pipelines" / "daily_sales" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text().replace(
        "      path: data/sample/customers.csv\n",
        "      path: data/sample/customers.csv\n    mask: {email: hash, name: partial}\n"))
    duck, _, duck_status = run(example_project, "daily_sales", "duckdb")
    spark, _, spark_status = run(example_project, "daily_sales", "spark")
    assert (duck_status, spark_status) == ("succeeded", "succeeded")
    rows = published(spark, "raw_customers", "spark")
    assert rows == published(duck, "raw_customers", "duckdb")
    assert not any("@example.com" in str(row) for row in rows)


def test_a_transform_reading_files_itself_runs_alike_on_both_engines(example_project: Path, local_spark: Any) -> None:
    # `FROM 'x.parquet'` was refused even on DuckDB; file functions were refused on Spark
    pipeline = example_project / "pipelines" / "files_in_sql"
    pipeline.mkdir()
    (pipeline / "pipeline.yaml").write_text(
        "steps:\n"
        "  - {name: products, kind: transform, sql: products.sql}\n"
        "  - {name: orders, kind: transform, sql: orders.sql}\n")
    (pipeline / "products.sql").write_text("SELECT * FROM 'data/sample/products.parquet'\n")
    (pipeline / "orders.sql").write_text(
        "SELECT o.status, p.category, count(*) AS n, sum(TRY_CAST(o.quantity AS INTEGER)) AS units\n"
        "FROM read_csv('data/sample/orders.csv', header = true, all_varchar = true) AS o\n"
        "JOIN products AS p ON p.product_id = TRY_CAST(o.product_id AS INTEGER)\n"
        "GROUP BY ALL\n")
    duck, _, duck_status = run(example_project, "files_in_sql", "duckdb")
    spark, spark_run, spark_status = run(example_project, "files_in_sql", "spark")
    assert (duck_status, spark_status) == ("succeeded", "succeeded"), spark.ledger.steps_of(spark_run)
    for table in ("products", "orders"):
        assert published(spark, table, "spark") == published(duck, table, "duckdb")


def test_query_reads_where_the_current_version_was_published_and_says_so(example_project: Path, local_spark: Any) -> None:
    # after `run --engine spark`, `flowdeck query` read the DuckDB warehouse's stale rows, silently
    pipeline = example_project / "pipelines" / "tiny"
    pipeline.mkdir()
    (pipeline / "pipeline.yaml").write_text("steps:\n  - {name: answer, kind: transform, sql: answer.sql}\n")
    (pipeline / "answer.sql").write_text("SELECT 1 AS x\n")
    duck, _, _ = run(example_project, "tiny", "duckdb")
    (pipeline / "answer.sql").write_text("SELECT 2 AS x\n")
    spark, spark_run, status = run(example_project, "tiny", "spark")
    assert status == "succeeded"
    result = spark.query("SELECT x FROM answer")
    assert (result.engine, result.rows, result.warnings) == ("spark", [(2,)], ())
    assert result.reason == f"read on spark, where answer was last published (run {spark_run})"
    assert spark.preview_table("answer").engine == "spark"
    stale = spark.query("SELECT x FROM answer", engine="duckdb")  # asked for: the older rows, and a warning
    assert (stale.engine, stale.rows) == ("duckdb", [(1,)])
    assert [warning.split(":")[0] for warning in stale.warnings] == ["answer"]


def test_a_step_failing_on_spark_names_its_file_and_line_and_shows_the_spark_sql(example_project: Path,
                                                                                 local_spark: Any) -> None:
    # a Spark error pointed into SQL the user never wrote ("pos 153"), and nothing showed that SQL
    pipeline = example_project / "pipelines" / "fails_on_spark"
    pipeline.mkdir()
    (pipeline / "pipeline.yaml").write_text(
        "steps:\n"
        "  - {name: orders, kind: transform, sql: orders.sql}\n"
        "  - {name: days, kind: transform, sql: days.sql}\n")
    (pipeline / "orders.sql").write_text(
        "SELECT order_id, status\nFROM read_csv('data/sample/orders.csv', header = true, all_varchar = true)\n")
    (pipeline / "days.sql").write_text("SELECT order_id,\n       -- a status is no date\n"
                                       "       CAST(status AS DATE) AS day\nFROM orders\n")
    workspace, run_id, status = run(example_project, "fails_on_spark", "spark")
    assert status == "failed"
    steps = {step.step: step for step in workspace.ledger.steps_of(run_id)}
    error = steps["days"].error or ""
    assert error.startswith(f"{pipeline / 'days.sql'}:3:8: step `days`: building days: [CAST_INVALID_INPUT]"), error
    assert "    3 |        CAST(status AS DATE) AS day" in error
    ran = error.split("the SQL that ran:\n")[1]
    assert "CAST(" in ran and "\n  " in ran and "^" in ran  # the Spark SQL, with a caret under the CAST
    # the step that succeeded keeps the Spark SQL it ran, for `flowdeck show --sql`
    shown = subprocess.run([sys.executable, "-m", "flowdeck.console.cli.main", "--project", str(example_project),
                            "show", run_id, "--sql"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "orders ran:" in shown.stdout and "FROM __fd_files_" in shown.stdout


def test_a_check_or_an_incremental_step_failing_on_spark_names_its_file_and_line(example_project: Path,
                                                                                 local_spark: Any) -> None:
    # a custom check's SQL and an incremental step's SQL failed on Spark with a plain Spark error, no file, no line
    orders = ("  - name: orders\n    kind: transform\n    sql: orders.sql\n", "SELECT order_id, status\nFROM read_csv("
              "'data/sample/orders.csv', header = true, all_varchar = true)\n")
    for name, steps in (
        ("check_fails", "    checks:\n      - {sql: status_dates.sql, name: status_dates}\n"),
        ("merge_fails", "  - {name: days, kind: transform, sql: days.sql, materialized: incremental, "
                        "unique_key: [order_id]}\n"),
    ):
        pipeline = example_project / "pipelines" / name
        pipeline.mkdir()
        (pipeline / "pipeline.yaml").write_text("steps:\n" + orders[0] + steps)
        (pipeline / "orders.sql").write_text(orders[1])
        failing = "SELECT order_id,\n       -- a status is no date\n       CAST(status AS DATE) AS day\nFROM orders\n"
        (pipeline / ("status_dates.sql" if name == "check_fails" else "days.sql")).write_text(failing)
    workspace, run_id, status = run(example_project, "check_fails", "spark")
    assert status == "failed"
    error = {step.step: step for step in workspace.ledger.steps_of(run_id)}["orders"].error or ""
    path = example_project / "pipelines" / "check_fails" / "status_dates.sql"
    assert error.startswith(f"{path}:3:8: step `orders`: running a check: [CAST_INVALID_INPUT]"), error
    assert "    3 |        CAST(status AS DATE) AS day" in error and "the SQL that ran:\n" in error
    workspace, run_id, status = run(example_project, "merge_fails", "spark")
    assert status == "failed"
    error = {step.step: step for step in workspace.ledger.steps_of(run_id)}["days"].error or ""
    path = example_project / "pipelines" / "merge_fails" / "days.sql"
    assert error.startswith(f"{path}:3:8: step `days`: "), error
    assert "[CAST_INVALID_INPUT]" in error and "    3 |        CAST(status AS DATE) AS day" in error


def test_the_sql_each_step_ran_is_recorded_as_its_engine_received_it(example_project: Path, local_spark: Any) -> None:
    duck, duck_run, duck_status = run(example_project, "daily_sales", "duckdb")
    spark, spark_run, spark_status = run(example_project, "daily_sales", "spark")
    assert (duck_status, spark_status) == ("succeeded", "succeeded")
    ledger = spark.ledger
    ran = lambda run_id: {(s.step, s.purpose): s for s in ledger.step_statements(run_id)}  # noqa: E731
    on_duck, on_spark = ran(duck_run), ran(spark_run)
    assert set(on_spark) == set(on_duck)  # the same statements: each step's staging SQL and its checks
    assert {s.engine for s in on_duck.values()} == {"duckdb"} and {s.engine for s in on_spark.values()} == {"spark"}
    duck_sql, spark_sql = on_duck[("orders_clean", "stage")].sql, on_spark[("orders_clean", "stage")].sql
    assert "TRY_STRPTIME" in duck_sql and "TRY_STRPTIME" not in spark_sql  # Spark got the transpiled SQL, not ours
    # DuckDB gets the step's file as written; Spark the transpiled query, wrapped so its output columns get
    # DuckDB's names and types, with the file's comment kept inside
    assert duck_sql.startswith("-- One row per order") and "/* One row per order" in spark_sql
    assert spark.step_detail(spark_run, "orders_clean").last_statements[0].sql == spark_sql
