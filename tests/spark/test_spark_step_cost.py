"""What a published step costs on Spark, in Spark jobs, and the commit markers flowdeck writes without one.

A step's fixed cost on Spark is its jobs (each is planning, scheduling and task launch, 0.1–1 s on
a small machine, whatever the data): the write of its version (row count and checksum measured in
the same job), one query counting the failing rows of all its checks, nothing to commit (the marker
is a file on a local warehouse) and nothing to read a version back (its schema is in the marker).
The jobs are counted on the test process's own Spark driver.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowdeck.engine.backends.base import CommitMarker
from tests.spark.test_pipelines_on_both_engines import published, run

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

PIPELINE = """steps:
  - {name: numbers, kind: transform, sql: numbers.sql}
  - name: doubled
    kind: transform
    sql: doubled.sql
    checks:
      - not_null: [n, twice]
      - unique: [n]
      - accepted_values: {column: parity, values: [even, odd]}
"""


def spark_jobs() -> int:
    """How many Spark jobs the test process's driver has started so far."""
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    assert context is not None
    return int(context._jsc.sc().dagScheduler().nextJobId())


def with_pipeline(project: Path) -> Path:
    folder = project / "pipelines" / "cost"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text(PIPELINE)
    (folder / "numbers.sql").write_text("SELECT unnest(generate_series(0, 99)) AS n\n")
    (folder / "doubled.sql").write_text(
        "SELECT n, n * 2 AS twice, CASE WHEN n % 2 = 0 THEN 'even' ELSE 'odd' END AS parity FROM numbers\n")
    return project


def test_a_published_step_is_one_spark_job_and_all_its_checks_one_more(example_project: Path, local_spark: Any) -> None:
    project = with_pipeline(example_project)
    workspace, _, status = run(project, "cost", "spark")  # the first: creates the warehouse, warms the driver
    assert status == "succeeded"
    before = spark_jobs()
    workspace, run_id, status = run(project, "cost", "spark", force=True)
    jobs = spark_jobs() - before
    assert status == "succeeded", workspace.ledger.get_run(run_id)
    # two writes and one query for doubled's four checks; no job to commit, reopen or read a version back
    assert jobs == 3
    checks = workspace.ledger.checks_of(run_id)
    assert sorted(check.status for check in checks) == ["passed"] * 4  # not_null twice, unique, accepted_values
    assert len(published(workspace, "doubled", "spark")) == 100


def test_a_failing_check_among_several_still_reports_its_count_and_sample(example_project: Path, local_spark: Any) -> None:
    project = with_pipeline(example_project)
    (project / "pipelines" / "cost" / "doubled.sql").write_text(
        "SELECT n, n * 2 AS twice, CASE WHEN n % 3 = 0 THEN 'three' WHEN n % 2 = 0 THEN 'even' ELSE 'odd' END "
        "AS parity FROM numbers\n")
    workspace, run_id, status = run(project, "cost", "spark")
    assert status == "failed"
    checks = {check.check_name: check for check in workspace.ledger.checks_of(run_id)}
    failed = checks["accepted_values(parity)"]
    assert failed.status == "failed" and failed.failing_rows == 1  # one value outside the list: 'three'
    assert "three" in json.dumps(failed.sample, default=str)
    assert sorted(check.status for check in checks.values()) == ["failed", "passed", "passed", "passed"]


def test_markers_written_as_files_read_alike_by_spark_and_markers_spark_wrote_are_still_read(
        tmp_path: Path, local_spark: Any) -> None:
    from flowdeck.engine.backends.spark.backend import _MARKER_FIELDS, SparkBackend
    from flowdeck.engine.backends.spark.session import connect
    from flowdeck.engine.project.config.spark import SparkConfig

    warehouse = tmp_path / "warehouse"
    backend = SparkBackend(connect(SparkConfig(master="local[2]")), str(warehouse))
    try:
        staged = backend.stage_query("run-1", "numbers", "SELECT 7 AS n")
        committed = backend.publish(staged, "numbers", CommitMarker("run-1", "numbers", "numbers", staged.rows,
                                                                    staged.checksum))
        markers = warehouse / "_flowdeck" / "markers"
        assert [path.name for path in markers.iterdir()] == [f"{committed.seq:012d}"]  # no partial folder left
        read_by_spark = backend.spark.read.schema(_MARKER_FIELDS).json(str(markers / f"{committed.seq:012d}")) \
            .collect()[0].asDict()
        assert (read_by_spark["output"], read_by_spark["rows"], read_by_spark["checksum"]) == \
            ("numbers", 1, committed.checksum)
        # a marker Spark's JSON writer wrote (a cluster's warehouse, or flowdeck before it wrote them itself)
        older = dict(read_by_spark, seq=committed.seq + 1, run_id="run-2", data_run_id="run-2", rows=2,
                     schema_json=None, committed_at=read_by_spark["committed_at"] + 1)
        backend.spark.createDataFrame([tuple(older.values())], schema=_MARKER_FIELDS).coalesce(1).write \
            .json(str(markers / f"{committed.seq + 1:012d}"))
    finally:
        backend.close()
    reopened = SparkBackend(connect(SparkConfig(master="local[2]")), str(warehouse))
    try:
        assert [(marker.run_id, marker.rows) for marker in reopened.commit_markers()] == [("run-1", 1), ("run-2", 2)]
        assert reopened.query("SELECT n FROM numbers").rows == [(7,)]  # its schema inferred: none in that marker
    finally:
        reopened.close()


def temp_views(backend: Any) -> set[str]:
    """The temporary views of a backend's own Spark session (each backend has its own)."""
    return {table.name for table in backend.spark.catalog.listTables() if table.isTemporary}


def test_a_session_registers_a_published_table_when_a_query_first_reads_it_and_as_last_published(
        example_project: Path, local_spark: Any) -> None:
    from flowdeck.engine.backends.spark.backend import open_spark_backend

    workspace, run_id, status = run(example_project, "daily_sales", "spark")
    assert status == "succeeded", workspace.ledger.get_run(run_id)
    expected = published(workspace, "sales", "spark")
    backend = open_spark_backend(workspace.project)
    other = open_spark_backend(workspace.project)
    try:
        assert temp_views(backend) == set()  # opening reads the markers, not a round trip per table
        # the view `sales` needs the tables it reads, and only those
        assert sorted(backend.query("SELECT * FROM sales", limit=100_000).rows, key=repr) == expected
        assert temp_views(backend) == {"sales", "orders_clean", "raw_customers", "raw_products"}
        # another session publishes a new version; once this one has read the marker, a query reads it
        staged = other.stage_query("run-x", "raw_products", "SELECT 1 AS product_id, 'x' AS category, "
                                   "CAST(2.5 AS DECIMAL(10, 2)) AS unit_price")
        other.publish(staged, "raw_products", CommitMarker("run-x", "raw_products", "raw_products", staged.rows,
                                                           staged.checksum))
        backend.commit_markers()  # this session reads the new marker
        assert backend.query("SELECT count(*) AS n FROM raw_products").rows == [(1,)]
        assert backend.query("SELECT count(*) AS n FROM sales").rows != [(len(expected),)]  # joins the new version
    finally:
        backend.close()
        other.close()


def test_the_local_driver_compiles_with_the_quick_jit_and_a_code_cache_it_does_not_outgrow(local_spark: Any) -> None:
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    assert context is not None
    arguments = [str(argument) for argument in
                 context._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()]
    assert "-XX:TieredStopAtLevel=1" in arguments  # what the JVM runs with, not only what was asked
    assert "-XX:ReservedCodeCacheSize=240m" in arguments
