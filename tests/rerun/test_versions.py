"""Versioned outputs: the last N versions of each table are kept, listed, and restored by rollback."""

from __future__ import annotations

import json
from pathlib import Path

from tests.rerun.helpers import (
    edit_pipeline,
    flowdeck,
    land_deliveries,
    ledger_rows,
    run_in_process,
    step_payload,
    table_rows,
    warehouse_tables,
    write_csv,
    write_pipeline,
)

NUMBERS = """\
    steps:
      - name: numbers
        kind: extract
        source:
          path: numbers.csv
"""


def publish(project: Path, *values: int) -> str:
    write_csv(project / "numbers.csv", ["n"], [[value] for value in values])
    run_id, status = run_in_process(project, "numbers")
    assert status == "succeeded"
    return run_id


def versions(project: Path, table: str = "numbers") -> list[dict]:
    result = flowdeck(project, "versions", table, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_last_three_versions_are_kept_by_default_and_older_ones_pruned(project: Path) -> None:
    write_pipeline(project, "numbers", NUMBERS)
    runs = [publish(project, *range(count)) for count in range(1, 6)]
    listed = versions(project)
    assert [(v["run_id"], v["current"], v["rows"]) for v in listed] == [(runs[4], True, 5), (runs[3], False, 4),
                                                                        (runs[2], False, 3)]
    kept = [name for name in warehouse_tables(project) if name.startswith("__fd_v__numbers")]
    assert len(kept) == 2


def test_rollback_restores_a_kept_version_and_is_recorded(project: Path) -> None:
    write_pipeline(project, "numbers", NUMBERS)
    first = publish(project, 1, 2)
    second = publish(project, 1, 2, 3)
    result = flowdeck(project, "rollback", "numbers", "--to", first[:-1])  # a unique prefix will do
    assert result.returncode == 0, result.stderr
    assert table_rows(project, "numbers") == [(1,), (2,)]
    assert [(v["run_id"], v["current"]) for v in versions(project)] == [(first, True), (second, False)]
    (commit,) = ledger_rows(project, "SELECT kind, data_run_id, rows, requested_by FROM commits WHERE kind = 'rollback'")
    assert commit[:3] == ("rollback", first, 2) and commit[3]
    (message,) = ledger_rows(project, "SELECT message FROM events WHERE kind = 'table.rolled_back'")[0]
    assert f"table numbers rolled back from run {second} to run {first}" in message
    # and back again: the version it replaced was kept
    assert flowdeck(project, "rollback", "numbers", "--to", second).returncode == 0
    assert table_rows(project, "numbers") == [(1,), (2,), (3,)]


def test_rollback_to_a_pruned_version_is_bad_input_and_changes_nothing(project: Path) -> None:
    write_pipeline(project, "numbers", NUMBERS)
    edit_pipeline(project, "numbers", numbers={"versions": 2})
    pruned = publish(project, 1)
    publish(project, 1, 2)
    publish(project, 1, 2, 3)
    before = (table_rows(project, "numbers"), warehouse_tables(project), ledger_rows(project, "SELECT * FROM commits"))
    result = flowdeck(project, "rollback", "numbers", "--to", pruned)
    assert result.returncode == 2
    assert f"no version of table numbers from run {pruned} is kept" in result.stderr
    assert "flowdeck versions numbers" in result.stderr
    after = (table_rows(project, "numbers"), warehouse_tables(project), ledger_rows(project, "SELECT * FROM commits"))
    assert after == before


def test_versions_1_keeps_no_older_version(project: Path) -> None:
    write_pipeline(project, "numbers", NUMBERS)
    edit_pipeline(project, "numbers", numbers={"versions": 1})
    publish(project, 1)
    publish(project, 2)
    assert [v["current"] for v in versions(project)] == [True]
    assert not [name for name in warehouse_tables(project) if name.startswith("__fd_v__")]


def test_rolling_back_an_incremental_table_makes_its_later_files_unread(project: Path) -> None:
    deliveries = land_deliveries(project, parts=2)
    second = deliveries[1].read_bytes()
    deliveries[1].unlink()
    first_run, _ = run_in_process(project, "ingest_orders")
    after_first = table_rows(project, "landed_orders")
    deliveries[1].write_bytes(second)
    run_in_process(project, "ingest_orders")
    assert flowdeck(project, "rollback", "landed_orders", "--to", first_run).returncode == 0
    assert table_rows(project, "landed_orders") == after_first
    run_id, _ = run_in_process(project, "ingest_orders")
    assert step_payload(project, run_id, "landed_orders")["files_read"] == 1, \
        "the delivery the rollback took out is read again"


def test_versions_of_an_unknown_table_is_bad_input(project: Path) -> None:
    assert flowdeck(project, "run", "daily_sales").returncode == 0
    result = flowdeck(project, "versions", "no_such_table")
    assert result.returncode == 2 and "no table `no_such_table` in the warehouse" in result.stderr
