"""Safe reruns on Spark (docs/rerunning.md): the same guarantees as on DuckDB, and the same data.

A rerun over unchanged input gives identical outputs, versions can be listed and rolled back,
a failed run resumes from its first unfinished step, and incremental steps merge new files into
the tables exactly as DuckDB does (or refuse, when only DuckDB's row hash could decide).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flowdeck.engine import debug_hooks
from flowdeck.engine.workspace import Workspace
from flowdeck.engine.errors import NotFound
from tests.spark.test_pipelines_on_both_engines import published, run

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]


def use_spark_by_default(project: Path) -> None:
    """`engine: spark` in flowdeck.yaml, so versions, rollback and queries go to the Spark warehouse."""
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text().replace("\nengine: duckdb\n", "\nengine: spark\n"))


def test_a_rerun_over_unchanged_inputs_gives_identical_tables_and_file(example_project: Path, local_spark: Any) -> None:
    first, first_run, status = run(example_project, "daily_sales", "spark")
    assert status == "succeeded", first.ledger.get_run(first_run)
    tables = {table: published(first, table, "spark") for table in ("orders_clean", "daily_sales")}
    # forced: every step runs again on Spark (unforced, fingerprints would keep them all unchanged)
    second, second_run, status = run(example_project, "daily_sales", "spark", force=True)
    assert status == "succeeded", second.ledger.get_run(second_run)
    assert {table: published(second, table, "spark") for table in tables} == tables
    [first_export], [second_export] = first.ledger.exports_of(first_run), second.ledger.exports_of(second_run)
    assert second_export.sha256 == first_export.sha256  # byte for byte the same file
    commits = {c.output: c for c in second.ledger.commits_of_run(second_run)}
    earlier = {c.output: c for c in first.ledger.commits_of_run(first_run)}
    assert {name: c.checksum for name, c in commits.items()} == {name: c.checksum for name, c in earlier.items()}
    assert all(c.seq > max(e.seq for e in earlier.values()) for c in commits.values())  # numbered in commit order


def test_versions_are_kept_and_a_rollback_restores_the_earlier_data(example_project: Path, local_spark: Any) -> None:
    use_spark_by_default(example_project)
    workspace = Workspace.open(example_project)
    runs = []
    for since in ("2026-01-01", "2026-11-01"):
        record, _ = workspace.submit("daily_sales", {"since": since})
        assert workspace.execute(record.run_id) == "succeeded"
        runs.append(record.run_id)
        if since == "2026-01-01":
            everything = published(workspace, "daily_sales", "spark")
    later = published(workspace, "daily_sales", "spark")
    assert later != everything and len(later) < len(everything)

    versions = workspace.versions("daily_sales")
    assert [(v.run_id, v.current) for v in versions] == [(runs[1], True), (runs[0], False)]
    assert versions[1].rows == len(everything)

    record = workspace.rollback("daily_sales", runs[0])
    assert record.kind == "rollback" and record.data_run_id == runs[0]
    assert published(workspace, "daily_sales", "spark") == everything
    assert [(v.run_id, v.current) for v in workspace.versions("daily_sales")] == [(runs[0], True), (runs[1], False)]
    assert workspace.ledger.commits_of_output(record.warehouse_id, "daily_sales")[-1].seq == record.seq

    workspace.rollback("daily_sales", runs[1])  # a rollback can be rolled back
    assert published(workspace, "daily_sales", "spark") == later
    with pytest.raises(NotFound, match="no version of table daily_sales from run nope"):
        workspace.rollback("daily_sales", "nope")
    assert published(workspace, "daily_sales", "spark") == later


def test_a_failed_run_resumes_from_its_failed_step_and_ends_as_a_clean_run(
        example_project: Path, local_spark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(debug_hooks.FAIL_VARIABLE, "staging:daily_sales")
    debug_hooks.reset()
    workspace, failed_run, status = run(example_project, "daily_sales", "spark")
    assert status == "failed"
    monkeypatch.delenv(debug_hooks.FAIL_VARIABLE)
    resumed, _ = workspace.resume(failed_run)
    assert workspace.execute(resumed.run_id) == "succeeded"
    done = {step.step for step in workspace.ledger.steps_of(failed_run) if step.status == "succeeded"}
    assert {"raw_orders", "orders_clean", "sales"} <= done and "daily_sales" not in done
    steps = {step.step: step for step in workspace.ledger.steps_of(resumed.run_id)}
    assert {name for name, step in steps.items() if step.reused_from} == done
    assert steps["daily_sales"].engine == "spark" and steps["daily_sales"].status == "succeeded"
    resumed_tables = {table: published(workspace, table, "spark") for table in ("orders_clean", "daily_sales")}

    duck, _, status = run(example_project, "daily_sales", "duckdb")  # a clean run, for comparison
    assert status == "succeeded"
    assert resumed_tables == {table: published(duck, table, "duckdb") for table in resumed_tables}


def deliver(project: Path, name: str, lines: list[str]) -> None:
    """A delivery of order rows (with the sample's header) landing in landing/orders/."""
    header = (project / "data" / "sample" / "orders.csv").read_text().splitlines()[0]
    (project / "landing" / "orders" / name).write_text("\n".join([header, *lines]) + "\n")


def later_version(line: str) -> str:
    """The same order a year later (its updated_at, the last field, moved to 2027)."""
    *fields, updated_at = line.split(",")
    return ",".join([*fields, updated_at.replace("2026-", "2027-", 1)])


def test_incremental_merges_of_new_deliveries_give_the_same_tables_on_both_engines(
        example_project: Path, local_spark: Any) -> None:
    # one project, two warehouses: the ledger tracks files, watermarks and load ids per warehouse
    rows = (example_project / "data" / "sample" / "orders.csv").read_text().splitlines()[1:]
    # the second delivery repeats orders of the first (skipped), and changes some (a later updated_at)
    changed = [later_version(line) if index % 4 == 0 else line for index, line in enumerate(rows[200:300])]
    deliveries = {"delivery-1.csv": rows[:300], "delivery-2.csv": [*rows[250:300], *changed, *rows[300:500]]}
    runs: dict[str, list[str]] = {"duckdb": [], "spark": []}
    for name, lines in [*deliveries.items(), ("nothing new", [])]:
        if lines:
            deliver(example_project, name, lines)
        for engine in runs:
            workspace, run_id, status = run(example_project, "ingest_orders", engine)
            assert status == "succeeded", workspace.ledger.get_run(run_id)
            runs[engine].append(run_id)
    ledger = workspace.ledger
    for engine, (_first, second, third) in runs.items():
        assert "1 new or changed file(s), 1 skipped" in str(ledger.events(run_id=second)), engine
        assert {s.step: s.rows_out for s in ledger.steps_of(third)} == {"landed_orders": 0, "ingested_orders": 0}
        assert [s.rows_out for s in ledger.steps_of(second)] == [s.rows_out for s in ledger.steps_of(runs["duckdb"][1])]
    tables = {engine: [published(workspace, table, engine) for table in ("landed_orders", "ingested_orders")]
              for engine in runs}
    assert tables["spark"] == tables["duckdb"]
    landed, ingested = tables["spark"]
    assert len(ingested) == len({row[0] for row in ingested})  # one row per order
    assert len(landed) > len(ingested)  # the changed versions were landed too
    assert any(str(row[6]).startswith("2027-") for row in ingested)  # and the later ones won


def test_rows_of_one_key_that_only_duckdbs_hash_could_choose_between_are_refused_on_spark(
        example_project: Path, local_spark: Any) -> None:
    rows = (example_project / "data" / "sample" / "orders.csv").read_text().splitlines()[1:]
    order_id, customer, product, quantity, date, status, updated_at = rows[2].split(",")
    twin = ",".join([order_id, customer, product, str(int(quantity) + 1), date, status, updated_at])
    deliver(example_project, "delivery-1.csv", [rows[2], twin, *rows[3:50]])  # same key and file, other content
    workspace, run_id, status = run(example_project, "ingest_orders", "spark")
    assert status == "failed"
    failed = {step.step: step for step in workspace.ledger.steps_of(run_id)}["landed_orders"]
    assert "tie on `order_by` (filename)" in (failed.error or "") and "nothing was published" in (failed.error or "")
    assert not workspace.ledger.commits_of_run(run_id)
