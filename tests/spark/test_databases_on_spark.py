"""Database extracts and loads (docs/connectors.md) on Spark: the same tables and loaded rows as on DuckDB.

A SQLite file stands in for the source and the target database (no server needed); what
crosses into Spark is the Arrow stream any connection gives.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.spark.test_pipelines_on_both_engines import published, run

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

CONNECTIONS = "connections:\n  shop: {type: sqlite, uri: data/shop.sqlite}\n  reports: {type: sqlite, uri: out/reports.sqlite}\n"


def shop(project: Path, rows: list[tuple[Any, ...]]) -> Path:
    """``data/shop.sqlite`` with its ``sales`` table holding ``rows`` (id, region, amount, updated_at)."""
    path = project / "data" / "shop.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS sales (id INTEGER, region TEXT, amount REAL, updated_at TEXT)")
        db.executemany("INSERT INTO sales VALUES (?, ?, ?, ?)", rows)
    return path


def add_pipeline(project: Path, name: str, steps: str, **sql: str) -> None:
    """pipelines/NAME/pipeline.yaml with ``steps`` (YAML lines), and its SQL files."""
    folder = project / "pipelines" / name
    folder.mkdir(parents=True)
    (folder / "pipeline.yaml").write_text("steps:\n" + steps)
    for file_name, text in sql.items():
        (folder / f"{file_name}.sql").write_text(text)


def sales_rows(first: int, last: int, day: int) -> list[tuple[Any, ...]]:
    return [(i, ("north", "south", "east")[i % 3], i * 1.25, f"2026-01-{day:02d} 10:{i % 60:02d}:00")
            for i in range(first, last + 1)]


@pytest.fixture
def database_project(example_project: Path) -> Path:
    with open(example_project / "flowdeck.yaml", "a", encoding="utf-8") as handle:
        handle.write(CONNECTIONS)
    (example_project / "out").mkdir()
    shop(example_project, sales_rows(1, 400, 1))
    return example_project


def test_a_database_extract_transform_and_load_give_the_same_rows_on_both_engines(
        database_project: Path, local_spark: Any) -> None:
    add_pipeline(database_project, "regions", (
        "  - {name: sales, kind: extract, source: {connection: shop, table: sales}}\n"
        "  - name: early\n    kind: extract\n"
        "    source: {connection: shop, query: \"SELECT id, region FROM sales WHERE id <= 100\"}\n"
        "  - {name: by_region, kind: transform}\n"
        "  - {name: publish, kind: load, table: by_region, to: {connection: reports, table: by_region, mode: replace}}\n"),
        by_region="SELECT s.region, count(*) AS sales, sum(s.amount) AS total, count(e.id) AS early\n"
                  "FROM sales s LEFT JOIN early e ON e.id = s.id GROUP BY s.region\n")
    loaded = {}
    for engine in ("duckdb", "spark"):
        (database_project / "out" / "reports.sqlite").unlink(missing_ok=True)  # each engine loads it anew
        workspace, run_id, status = run(database_project, "regions", engine)
        assert status == "succeeded", workspace.ledger.get_run(run_id)
        with sqlite3.connect(database_project / "out" / "reports.sqlite") as db:
            loaded[engine] = db.execute("SELECT region, sales, total, early FROM by_region ORDER BY region").fetchall()
        rows = {view.record.step: (view.rows_in, view.rows_out) for view in workspace.run_metrics(run_id).steps}
        assert rows["sales"] == (400, 400) and rows["early"] == (100, 100)
    with sqlite3.connect(database_project / "data" / "shop.sqlite") as db:
        expected = db.execute("SELECT region, count(*), sum(amount), sum(id <= 100) FROM sales "
                              "GROUP BY region ORDER BY region").fetchall()
    assert loaded["spark"] == loaded["duckdb"] == expected
    assert published(workspace, "sales", "spark") == published(workspace, "sales", "duckdb")


def test_incremental_database_extracts_merge_the_same_rows_on_both_engines(
        database_project: Path, local_spark: Any) -> None:
    add_pipeline(database_project, "sales_feed", (
        "  - name: sales\n    kind: extract\n    source: {connection: shop, table: sales}\n"
        "    materialized: incremental\n    unique_key: id\n    watermark: updated_at\n"
        "    on_duplicate: update\n    order_by: updated_at\n"))
    for engine in ("duckdb", "spark"):
        workspace, run_id, status = run(database_project, "sales_feed", engine)
        assert status == "succeeded", workspace.ledger.get_run(run_id)
    # new rows, and later versions of some old ones (a later updated_at wins)
    shop(database_project, [*sales_rows(401, 450, 2), *[(i, "west", 0.5, "2026-01-03 00:00:00") for i in range(1, 30)]])
    reads = {}
    for engine in ("duckdb", "spark"):
        workspace, run_id, status = run(database_project, "sales_feed", engine)
        assert status == "succeeded", workspace.ledger.get_run(run_id)
        [step] = workspace.ledger.steps_of(run_id)
        reads[engine] = step.rows_out
    tables = {engine: published(workspace, "sales", engine) for engine in ("duckdb", "spark")}
    assert tables["spark"] == tables["duckdb"]
    assert len(tables["spark"]) == 450 and sum(1 for row in tables["spark"] if row[1] == "west") == 29
    assert reads["spark"] == reads["duckdb"]


def test_tied_database_rows_only_duckdbs_hash_could_choose_between_are_refused_on_spark(
        database_project: Path, local_spark: Any) -> None:
    shop(database_project, [(1, "west", 9.0, "2026-01-01 10:01:00")])  # id 1 again, same updated_at, other data
    add_pipeline(database_project, "sales_feed", (
        "  - name: sales\n    kind: extract\n    source: {connection: shop, table: sales}\n"
        "    materialized: incremental\n    unique_key: id\n    on_duplicate: update\n    order_by: updated_at\n"))
    workspace, run_id, status = run(database_project, "sales_feed", "spark")
    assert status == "failed"
    [step] = workspace.ledger.steps_of(run_id)
    assert "tie on `order_by` (updated_at)" in (step.error or "") and "nothing was published" in (step.error or "")
    assert not workspace.ledger.commits_of_run(run_id)
    assert not list((database_project / ".flowdeck" / "spark-warehouse" / "tables").iterdir())  # nothing left behind


def test_validate_engine_spark_lints_a_pipeline_reading_a_database_without_connecting(database_project: Path) -> None:
    add_pipeline(database_project, "regions", (
        "  - {name: sales, kind: extract, source: {connection: shop, table: sales}}\n"
        "  - {name: firsts, kind: transform}\n"),
        firsts="SELECT region, list(id ORDER BY id)[1] AS first_id FROM sales GROUP BY region\n")
    (database_project / "data" / "shop.sqlite").unlink()  # the lint never opens the database
    result = subprocess.run([sys.executable, "-m", "flowdeck.console.cli.main", "--project", str(database_project),
                             "validate", "regions", "--engine", "spark"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    # the database's column types are unknown to the lint, so a type-dependent construct is refused
    assert "firsts.sql: step `firsts`" in result.stderr and "unknown_type" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_extract_of_a_path_with_a_scheme_is_read_by_spark_itself(example_project: Path, local_spark: Any) -> None:
    orders = (example_project / "data" / "sample" / "orders.csv").resolve()
    add_pipeline(example_project, "remote_orders", (
        f"  - {{name: orders, kind: extract, source: {{path: 'file://{orders}', options: {{all_varchar: true}}}}}}\n"))
    workspace, run_id, status = run(example_project, "remote_orders", "spark")
    assert status == "succeeded", workspace.ledger.get_run(run_id)
    duck, _, status = run(example_project, "daily_sales", "duckdb")
    assert published(workspace, "orders", "spark") == published(duck, "raw_orders", "duckdb")
