"""A read-only query goes to the engine holding its tables' current versions, never silently to a stale one."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.run.query_engine import choose_engine
from flowdeck.state import Ledger
from flowdeck.state.records import CommitRecord

WAREHOUSES = {"duckdb": "wh-duck", "spark": "wh-spark"}


def publish(ledger: Ledger, engine: str, tables: list[str], at: float) -> str:
    """A run of ``engine`` that published ``tables`` at time ``at`` (its steps and commit markers)."""
    record, _ = ledger.create_run("p", trigger_kind="manual")
    ledger.add_steps(record.run_id, [(table, "transform", table) for table in tables])
    for table in tables:
        ledger.step_started(record.run_id, table, engine=engine)
    warehouse = WAREHOUSES[engine]
    seq = ledger.reconcile_position(warehouse)
    ledger.reconcile(warehouse, [
        CommitRecord(warehouse_id=warehouse, seq=seq + index + 1, run_id=record.run_id, step=table, output=table,
                     kind="publish", data_run_id=record.run_id, base_run_id=None, rows=1, checksum="x",
                     committed_at=at)
        for index, table in enumerate(tables)])
    return record.run_id


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    with Ledger(tmp_path / "ledger.db") as opened:
        yield opened


def test_a_table_published_last_on_spark_is_read_on_spark_and_said_so(ledger: Ledger) -> None:
    publish(ledger, "duckdb", ["orders", "sales"], at=100.0)
    spark_run = publish(ledger, "spark", ["sales"], at=200.0)
    choice = choose_engine(ledger, "SELECT * FROM sales", configured="duckdb")
    assert (choice.engine, choice.stale) == ("spark", [])
    assert choice.reason == f"read on spark, where sales was last published (run {spark_run})"
    # a table current on DuckDB is read there, even with `engine: spark` in flowdeck.yaml
    assert choose_engine(ledger, "SELECT * FROM orders", configured="spark").engine == "duckdb"


def test_asking_for_the_stale_engine_warns_for_each_stale_table(ledger: Ledger) -> None:
    publish(ledger, "duckdb", ["orders", "sales"], at=100.0)
    spark_run = publish(ledger, "spark", ["sales"], at=200.0)
    choice = choose_engine(ledger, "SELECT * FROM sales JOIN orders USING (id)", configured="spark", requested="duckdb")
    assert choice.engine == "duckdb"
    assert choice.stale == [f"sales: its current version is on spark (published by run {spark_run}); "
                            "the rows read on duckdb are older or missing"]
    # a table never published on the asked engine is named too (it is current elsewhere)
    assert len(choose_engine(ledger, "SELECT * FROM orders", configured="spark", requested="spark").stale) == 1


def test_tables_current_on_different_engines_are_refused_without_an_engine(ledger: Ledger) -> None:
    publish(ledger, "duckdb", ["orders", "sales"], at=100.0)
    publish(ledger, "spark", ["sales"], at=200.0)
    with pytest.raises(FlowdeckError) as raised:
        choose_engine(ledger, "WITH o AS (SELECT * FROM orders) SELECT * FROM o JOIN sales USING (id)",
                      configured="duckdb")
    assert raised.value.what == ("the tables this query reads are current on different engines: "
                                 "orders on duckdb; sales on spark")
    assert "--engine" in (raised.value.hint or "")


def test_publishing_again_on_duckdb_makes_duckdb_current_again(ledger: Ledger) -> None:
    publish(ledger, "duckdb", ["sales"], at=100.0)
    publish(ledger, "spark", ["sales"], at=200.0)
    publish(ledger, "duckdb", ["sales"], at=300.0)
    assert choose_engine(ledger, "SELECT * FROM sales", configured="spark").engine == "duckdb"


def test_without_publishes_on_two_engines_the_query_is_not_parsed(ledger: Ledger) -> None:
    # (not even a syntax error is seen here: the engine reports it)
    assert choose_engine(ledger, "SELEC oops", configured="spark").engine == "spark"
    assert choose_engine(ledger, "SELECT 1", configured="duckdb").only_duckdb  # nothing to say which about
    publish(ledger, "duckdb", ["sales"], at=100.0)
    choice = choose_engine(ledger, "SELEC oops", configured="spark")
    assert (choice.engine, choice.reason) == ("duckdb", "read on duckdb (every table was published there)")
    assert not choice.only_duckdb and choose_engine(ledger, "SELECT 1", configured="duckdb").only_duckdb
    with pytest.raises(FlowdeckError, match="unknown engine `postgres`"):
        choose_engine(ledger, "SELECT 1", configured="duckdb", requested="postgres")
