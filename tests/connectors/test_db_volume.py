"""A million rows: PostgreSQL → DuckDB → transform → PostgreSQL equals the pipeline computed in
DuckDB alone; a run killed during its load leaves the target unchanged, and the rerun loads once."""

from __future__ import annotations

import signal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from dbkit import (
    PgDatabase,
    flowdeck,
    last_run_id,
    ledger_rows,
    make_project,
    pg_connection,
    pipeline,
    progress_events,
    spawn,
    step_status,
    wait_for,
)

pytestmark = pytest.mark.slow

ROWS = 1_000_000
# The same rows, written once for PostgreSQL and once for DuckDB (g = 1 .. ROWS).
PG_SALES = ("CREATE TABLE sales AS SELECT g AS id, g % 1000 AS customer, ((g % 97) * 1.25)::numeric(10, 2) AS amount, "
            "timestamp '2024-01-01' + g * interval '1 second' AS sold_at, 'item ' || (g % 50) AS item "
            f"FROM generate_series(1, {ROWS}) g")
DUCKDB_SALES = ("CREATE TABLE sales AS SELECT g::INTEGER AS id, (g % 1000)::INTEGER AS customer, "
                "((g % 97) * 1.25)::DECIMAL(10, 2) AS amount, TIMESTAMP '2024-01-01' + g * INTERVAL 1 SECOND AS sold_at, "
                f"'item ' || (g % 50) AS item FROM range(1, {ROWS + 1}) AS r(g)")
TRANSFORM = """SELECT id, customer, item, CAST(amount * 100 AS BIGINT) AS cents,
       CAST(sum(CAST(amount * 100 AS BIGINT)) OVER (PARTITION BY customer) AS BIGINT) AS customer_cents,
       sold_at + INTERVAL 1 DAY AS due_at
FROM sales
WHERE id % 10 <> 0
"""


def read_target(pg: PgDatabase, table: str) -> pa.Table:
    with pg.connect() as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        return cursor.fetch_arrow_table()


def test_a_million_rows_round_trip_equals_the_pipeline_in_duckdb_alone(tmp_path: Path, pg: PgDatabase) -> None:
    pg.execute(PG_SALES)
    root = make_project(tmp_path / "project", {"db": pg_connection(pg)})
    pipeline(root, "roundtrip", """
        - name: sales
          kind: extract
          source: {connection: db, table: sales}
        - name: enriched
          kind: transform
        - name: back
          kind: load
          table: enriched
          to: {connection: db, table: enriched_sales, mode: replace}
        """, enriched=TRANSFORM)
    result = flowdeck(root, "run", "roundtrip", password=pg.cluster.password)
    assert result.returncode == 0, result.stdout + result.stderr

    expected = duckdb.connect()
    expected.execute(DUCKDB_SALES)
    expected.execute(f"CREATE TABLE enriched AS {TRANSFORM}")
    loaded = read_target(pg, "enriched_sales")
    expected.register("loaded", loaded)
    assert expected.execute("SELECT count(*) FROM loaded").fetchone() == (ROWS - ROWS // 10,)
    assert expected.execute("SELECT count(*) FROM (SELECT * FROM enriched EXCEPT ALL SELECT * FROM loaded)").fetchone() == (0,)
    assert expected.execute("SELECT count(*) FROM (SELECT * FROM loaded EXCEPT ALL SELECT * FROM enriched)").fetchone() == (0,)

    # streamed in batches, with progress along the way
    read = progress_events(root, "sales")
    assert read[-1]["done"] and read[-1]["rows"] == ROWS and read[-1]["batches"] > 1
    assert step_status(root, "back")["rows"] == ROWS - ROWS // 10


def test_a_run_killed_during_its_load_leaves_the_target_unchanged_and_its_resume_loads_once(
        tmp_path: Path, pg: PgDatabase) -> None:
    pg.execute(PG_SALES, "CREATE TABLE shipped (id integer, customer integer, amount numeric(10, 2), "
                         "sold_at timestamp, item text)",
               "INSERT INTO shipped VALUES (-1, 0, 0, '2020-01-01', 'already there')")
    root = make_project(tmp_path / "project", {"db": pg_connection(pg)})
    pipeline(root, "ship", """
        - name: sales
          kind: extract
          source: {connection: db, table: sales}
        - name: ship
          kind: load
          table: sales
          to: {connection: db, table: shipped, mode: append}
        """)
    run = spawn(root, "run", "ship", password=pg.cluster.password)

    def load_under_way() -> bool:
        """flowdeck's COPY into the target is running (or it reported rows sent): its transaction is open."""
        if run.poll() is not None:
            raise AssertionError(f"the run ended before it could be killed: {run.communicate()}")
        copying = pg.rows("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'flowdeck' "
                          "AND state = 'active' AND query LIKE 'COPY%shipped%'")[0][0]
        return bool(copying) or any(event["rows"] > 0 and not event.get("done")
                                    for event in progress_events(root, "ship"))

    try:
        wait_for(load_under_way, timeout=180, what="the load to be under way")
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    killed = last_run_id(root)
    assert step_status(root, "ship")["status"] == "running"  # it really died mid-step
    assert pg.rows("SELECT count(*), min(id) FROM shipped") == [(1, -1)]  # the target is as it was
    assert pg.rows("SELECT count(*) FROM _flowdeck_loads") == [(0,)]

    resumed = flowdeck(root, "run", "--resume", killed, password=pg.cluster.password)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert pg.rows("SELECT count(*), count(DISTINCT id) FROM shipped WHERE id > 0") == [(ROWS, ROWS)]
    assert pg.rows("SELECT count(*) FROM shipped WHERE id = -1") == [(1,)]
    assert pg.rows("SELECT rows FROM _flowdeck_loads") == [(ROWS,)]
    run_id = last_run_id(root)
    assert ledger_rows(root, "SELECT reused_from FROM steps WHERE run_id = ? AND step = 'sales'", (run_id,)) == \
        [(killed,)]  # the extract was not read again: the resumed load shipped the same data
