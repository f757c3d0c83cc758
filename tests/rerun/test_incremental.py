"""Incremental steps: merge policies (also for duplicates inside one batch), watermarks, time
ranges, and delta processing that reads only new rows."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.rerun.helpers import (
    flowdeck,
    land_deliveries,
    ledger_rows,
    run_in_process,
    step_payload,
    table_rows,
    write_csv,
    write_pipeline,
)

HEADER = ["id", "version", "name"]
FEED = """\
    steps:
      - name: items
        kind: extract
        materialized: incremental
        unique_key: [id]
        on_duplicate: {policy}
        order_by: [version]
        source:
          path: feed/*.csv
"""


def items(project: Path) -> set[tuple[int, int, str]]:
    return {tuple(row) for row in _query(project, "SELECT id, version, name FROM items")}


def _query(project: Path, sql: str) -> list[tuple]:
    connection = duckdb.connect(str(project / ".flowdeck" / "warehouse.duckdb"), read_only=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


FIRST = [[1, 1, "a"], [2, 1, "b"], [4, 1, "d"], [4, 3, "d3"]]            # key 4 twice in one batch
SECOND = [[1, 2, "a2"], [3, 1, "c"], [3, 2, "c2"], [2, 0, "b-old"]]      # 1 newer, 2 older, 3 twice


@pytest.mark.parametrize(("policy", "after_first", "after_second"), [
    # skip: an existing key keeps its row; of a key twice in a batch, the earliest by order_by stays
    ("skip", {(1, 1, "a"), (2, 1, "b"), (4, 1, "d")},
     {(1, 1, "a"), (2, 1, "b"), (4, 1, "d"), (3, 1, "c")}),
    # update: the latest by order_by wins, in the batch and against the table (an older row does not)
    ("update", {(1, 1, "a"), (2, 1, "b"), (4, 3, "d3")},
     {(1, 2, "a2"), (2, 1, "b"), (4, 3, "d3"), (3, 2, "c2")}),
])
def test_skip_and_update_policies_handle_existing_keys_and_duplicates_within_a_batch(
        project: Path, policy: str, after_first: set, after_second: set) -> None:
    write_pipeline(project, "feed", FEED.format(policy=policy))
    write_csv(project / "feed" / "1.csv", HEADER, FIRST)
    assert run_in_process(project, "feed")[1] == "succeeded"
    assert items(project) == after_first
    write_csv(project / "feed" / "2.csv", HEADER, SECOND)
    assert run_in_process(project, "feed")[1] == "succeeded"
    assert items(project) == after_second


def test_keep_policy_inserts_every_row_even_with_a_known_key(project: Path) -> None:
    write_pipeline(project, "feed", FEED.format(policy="keep"))
    write_csv(project / "feed" / "1.csv", HEADER, FIRST)
    write_csv(project / "feed" / "2.csv", HEADER, SECOND)
    assert run_in_process(project, "feed")[1] == "succeeded"
    rows = sorted(tuple(row) for row in _query(project, "SELECT id, version, name FROM items"))
    assert rows == sorted(tuple(row) for row in FIRST + SECOND)


def test_error_policy_refuses_a_key_twice_in_one_batch_and_publishes_nothing(project: Path) -> None:
    write_pipeline(project, "feed", FEED.format(policy="error"))
    write_csv(project / "feed" / "1.csv", HEADER, FIRST)
    run_id, status = run_in_process(project, "feed")
    assert status == "failed"
    (error,) = ledger_rows(project, "SELECT error FROM steps WHERE run_id = ?", (run_id,))[0]
    assert "1 value(s) of (id) occur more than once in the new rows (on_duplicate: error)" in error
    assert "'id': 4" in error
    assert not (project / ".flowdeck" / "warehouse.duckdb").exists() or not _query(
        project, "SELECT * FROM information_schema.tables WHERE table_name = 'items'")


def test_error_policy_refuses_a_key_already_in_the_table(project: Path) -> None:
    write_pipeline(project, "feed", FEED.format(policy="error"))
    write_csv(project / "feed" / "1.csv", HEADER, [[1, 1, "a"], [2, 1, "b"]])
    assert run_in_process(project, "feed")[1] == "succeeded"
    write_csv(project / "feed" / "2.csv", HEADER, [[2, 5, "b5"], [3, 1, "c"]])
    run_id, status = run_in_process(project, "feed")
    assert status == "failed"
    (error,) = ledger_rows(project, "SELECT error FROM steps WHERE run_id = ?", (run_id,))[0]
    assert "1 incoming value(s) of (id) already exist in table items" in error
    assert items(project) == {(1, 1, "a"), (2, 1, "b")}
    assert ledger_rows(project, "SELECT count(*) FROM input_files WHERE path = 'feed/2.csv'") == [(0,)], \
        "a file whose rows were refused is not recorded as read"


EVENTS = """\
    steps:
      - name: events
        kind: extract
        source:
          path: events.csv
      - name: recent
        kind: transform
        materialized: incremental
        unique_key: [id]
        on_duplicate: update
        order_by: [ts]
        {mode}
"""
EVENTS_SQL = {"recent.sql": "SELECT id, ts, day, value * 10 AS value FROM events\n"}


def event(identifier: int, day: int, hour: int = 0, value: int = 1) -> list:
    return [identifier, f"2026-11-{day:02d} {hour:02d}:00:00", f"2026-11-{day:02d}", value]


def test_watermark_reads_only_rows_above_the_last_value_read(project: Path) -> None:
    write_pipeline(project, "events", EVENTS.format(mode="watermark: ts"), EVENTS_SQL)
    header = ["id", "ts", "day", "value"]
    first = [event(1, 1), event(2, 2), event(3, 3)]
    write_csv(project / "events.csv", header, first)
    run_id, _ = run_in_process(project, "events")
    assert step_payload(project, run_id, "recent")["rows_read"] == 3
    write_csv(project / "events.csv", header, [*first, event(4, 4), event(2, 5, value=7)])
    run_id, _ = run_in_process(project, "events")
    assert step_payload(project, run_id, "recent")["rows_read"] == 2
    assert [(row[0], row[3]) for row in table_rows(project, "recent")] == [(1, 10), (2, 70), (3, 10), (4, 10)]
    assert ledger_rows(project, "SELECT value FROM watermarks ORDER BY seq") == [("2026-11-03 00:00:00",),
                                                                               ("2026-11-05 00:00:00",)]
    run_id, _ = run_in_process(project, "events")
    assert step_payload(project, run_id, "recent")["rows_read"] == 0


def test_time_range_processes_each_interval_once_and_lookback_reads_the_last_again(project: Path) -> None:
    write_pipeline(project, "events", EVENTS.format(mode="time_range: {column: ts, unit: day, lookback: 1}"),
                   EVENTS_SQL)
    header = ["id", "ts", "day", "value"]
    first = [event(1, 1), event(2, 1, 5), event(3, 2)]
    write_csv(project / "events.csv", header, first)
    run_id, _ = run_in_process(project, "events")
    assert step_payload(project, run_id, "recent")["rows_read"] == 3
    assert ledger_rows(project, "SELECT range_start, range_end FROM intervals ORDER BY range_start") == [
        ("2026-11-01 00:00:00", "2026-11-02 00:00:00"), ("2026-11-02 00:00:00", "2026-11-03 00:00:00")]
    late_and_new = [event(4, 1, 9), event(5, 2, 9), event(6, 3)]  # day 1 is done; day 2 is the lookback
    write_csv(project / "events.csv", header, first + late_and_new)
    run_id, _ = run_in_process(project, "events")
    assert step_payload(project, run_id, "recent")["rows_read"] == 3  # day 2 (3 and 5) and day 3 (6)
    assert [row[0] for row in table_rows(project, "recent")] == [1, 2, 3, 5, 6]


def test_running_twice_over_unchanged_input_reads_no_input_rows_and_changes_nothing(project: Path) -> None:
    land_deliveries(project, parts=3)
    assert flowdeck(project, "run", "ingest_orders").returncode == 0
    before = {table: table_rows(project, table) for table in ("landed_orders", "ingested_orders")}
    result = flowdeck(project, "run", "ingest_orders")
    assert result.returncode == 0
    (second,) = ledger_rows(project, "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")[0]
    landed = step_payload(project, second, "landed_orders")
    assert landed["files_read"] == 0 and landed["files_skipped"] == 3
    assert step_payload(project, second, "ingested_orders")["rows_read"] == 0
    assert {table: table_rows(project, table) for table in before} == before
    assert ledger_rows(project, "SELECT count(*) FROM commits WHERE run_id = ?", (second,)) == [(0,)]
    assert "no new or changed files (3 already processed)" in result.stdout


def test_ingest_keeps_the_latest_version_of_each_order_across_deliveries(project: Path) -> None:
    files = land_deliveries(project, parts=3)
    for count in range(1, 4):  # one delivery per run
        for later in files[count:]:
            later.rename(later.with_suffix(".later"))
        assert flowdeck(project, "run", "ingest_orders").returncode == 0
        for later in files[count:]:
            later.with_suffix(".later").rename(later)
    expected = duckdb.connect().execute(
        f"""SELECT TRY_CAST(order_id AS BIGINT) AS id, max(TRY_CAST(updated_at AS TIMESTAMP)) AS latest
            FROM read_csv({[str(f) for f in files]}, header = true, all_varchar = true)
            WHERE TRY_CAST(order_id AS BIGINT) IS NOT NULL GROUP BY ALL ORDER BY ALL""").fetchall()
    stored = _query(project, "SELECT order_id, updated_at FROM ingested_orders ORDER BY ALL")
    assert stored == expected


def test_an_incremental_step_without_unique_key_is_bad_input_and_runs_nothing(project: Path) -> None:
    write_pipeline(project, "feed", FEED.format(policy="error").replace("        unique_key: [id]\n", "")
                   .replace("        on_duplicate: error\n        order_by: [version]\n", ""))
    result = flowdeck(project, "run", "feed")
    assert result.returncode == 2
    assert "pipelines/feed/pipeline.yaml:2" in result.stderr
    assert "step `items` is `materialized: incremental` but has no `unique_key`" in result.stderr
    assert not (project / ".flowdeck" / "ledger.sqlite").exists() or ledger_rows(project, "SELECT count(*) FROM runs") == [(0,)]
    assert flowdeck(project, "validate", "feed").returncode == 2


def test_new_columns_in_an_incremental_batch_fail_with_the_way_out(project: Path) -> None:
    write_pipeline(project, "feed", FEED.format(policy="update") + "          options: {union_by_name: true}\n")
    write_csv(project / "feed" / "1.csv", HEADER, [[1, 1, "a"]])
    assert run_in_process(project, "feed")[1] == "succeeded"
    write_csv(project / "feed" / "2.csv", [*HEADER, "colour"], [[2, 1, "b", "red"]])
    run_id, status = run_in_process(project, "feed")
    assert status == "failed"
    (error,) = ledger_rows(project, "SELECT error FROM steps WHERE run_id = ?", (run_id,))[0]
    assert "the new rows do not fit table items (new columns colour)" in error and "--reprocess" in error
    run_id, status = run_in_process(project, "feed", reprocess=True)
    assert status == "succeeded"
    assert _query(project, "SELECT id, colour FROM items ORDER BY id") == [(1, None), (2, "red")]


@pytest.mark.parametrize(("step", "words"), [
    ("materialized: table\n        unique_key: [id]",
     "`unique_key` only applies to `materialized: incremental` steps"),
    ("materialized: incremental\n        unique_key: [id]\n        on_duplicate: update",
     "has `on_duplicate: update` but no `order_by`"),
    ("materialized: incremental\n        unique_key: [id]\n        watermark: ts",
     "reads 2 tables, so flowdeck cannot tell which one `watermark` applies to"),
    ("materialized: incremental\n        unique_key: [id]\n        watermark: ts\n        delta_source: elsewhere",
     "step `both` reads no table `elsewhere`"),
])
def test_incremental_settings_that_cannot_work_are_configuration_errors(project: Path, step: str, words: str) -> None:
    write_pipeline(project, "bad", f"""\
    steps:
      - name: a
        kind: extract
        source: {{path: data/sample/customers.csv}}
      - name: b
        kind: extract
        source: {{path: data/sample/customers.csv}}
      - name: both
        kind: transform
        {step}
    """, {"both.sql": "SELECT * FROM a JOIN b USING (customer_id)\n"})
    result = flowdeck(project, "validate", "bad")
    assert result.returncode == 2
    assert "pipelines/bad/pipeline.yaml:" in result.stderr and words in result.stderr
