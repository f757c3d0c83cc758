"""DuckDB's PIVOT and UNPIVOT statements as steps: read as queries, ordered by what they read, run on
DuckDB, and refused on Spark before anything runs (issue 20: they were refused even on DuckDB)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import copy_example_project, ledger_rows, run_flowdeck, warehouse_rows

PIVOT_STEPS = """
  - name: status_counts
    kind: transform
    sql: status_counts.sql

  - name: status_long
    kind: transform
    sql: status_long.sql
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The example project with a PIVOT step and an UNPIVOT step over it, neither with depends_on."""
    root = copy_example_project(tmp_path / "project")
    folder = root / "pipelines" / "daily_sales"
    with open(folder / "pipeline.yaml", "a", encoding="utf-8") as handle:
        handle.write(PIVOT_STEPS)
    (folder / "status_counts.sql").write_text(
        "-- orders per customer and status, a column a status\n"
        "PIVOT orders_clean ON status IN ('paid', 'shipped', 'delivered') USING count(*) GROUP BY customer_id;\n")
    (folder / "status_long.sql").write_text(
        "WITH wide AS (SELECT * FROM status_counts)\n"
        "UNPIVOT wide ON paid, shipped, delivered INTO NAME status VALUE orders\n")
    return root


def test_pivot_and_unpivot_steps_run_on_duckdb_after_the_tables_they_read(project: Path) -> None:
    result = run_flowdeck("run", "daily_sales", project=project)
    assert result.returncode == 0, result.output
    steps = {row["step"]: row for row in ledger_rows(
        project, "SELECT step, status, position, started_at, ended_at FROM steps ORDER BY position")}
    assert steps["status_counts"]["status"] == steps["status_long"]["status"] == "succeeded"
    # found from the SQL alone: each starts only after the table it reads is published
    assert steps["status_counts"]["started_at"] >= steps["orders_clean"]["ended_at"]
    assert steps["status_long"]["started_at"] >= steps["status_counts"]["ended_at"]
    expected = warehouse_rows(project, "SELECT customer_id, count(*) FILTER (status = 'paid'), "
                              "count(*) FILTER (status = 'shipped'), count(*) FILTER (status = 'delivered') "
                              "FROM orders_clean GROUP BY ALL ORDER BY customer_id")
    assert warehouse_rows(project, "SELECT customer_id, paid, shipped, delivered FROM status_counts "
                          "ORDER BY customer_id") == expected
    long_rows = warehouse_rows(project, "SELECT count(*), sum(orders) FROM status_long")
    assert long_rows == [(3 * len(expected), sum(sum(row[1:]) for row in expected))]


def test_the_lineage_of_a_pivot_step_names_the_table_it_reads(project: Path) -> None:
    result = run_flowdeck("lineage", "status_counts", "--json", project=project)
    assert result.returncode == 0, result.output
    assert "orders_clean" in result.stdout


def test_a_pivot_step_is_refused_on_spark_before_anything_runs(project: Path) -> None:
    result = run_flowdeck("validate", "daily_sales", "--engine", "spark", project=project)
    assert result.returncode != 0
    assert "status_counts.sql:2" in result.output
    assert "duckdb_only_syntax" in result.output
    assert "Traceback" not in result.output
