"""Extract steps reading PostgreSQL tables and queries into the warehouse, in full and incrementally."""

from __future__ import annotations

import datetime
import decimal
from pathlib import Path

import duckdb
from dbkit import PgDatabase, flowdeck, make_project, pg_connection, pipeline, progress_events, step_status


def warehouse(root: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of a query on the project's warehouse, read after the run."""
    with duckdb.connect(str(root / ".flowdeck" / "warehouse.duckdb"), read_only=True) as db:
        return db.execute(sql).fetchall()


def seed_items(pg: PgDatabase) -> None:
    pg.execute(
        "CREATE TABLE items (id integer PRIMARY KEY, name text, price numeric(12, 2), ratio numeric, "
        "created timestamptz, day date, active boolean)",
        "INSERT INTO items VALUES "
        "(1, 'apple', 1.25, 0.5, '2024-01-02 03:04:05+00', '2024-01-02', true), "
        "(2, 'pear', 12.50, 1.125, '2024-02-03 04:05:06+00', '2024-02-03', false), "
        "(3, NULL, NULL, NULL, NULL, NULL, NULL), "
        "(4, 'o''brien', 99999.99, -3, '2025-12-31 23:59:59.5+00', '2025-12-31', true)",
    )


def test_a_table_and_a_query_are_read_with_their_types_and_the_query_runs_in_postgresql(tmp_path: Path, pg: PgDatabase) -> None:
    seed_items(pg)
    root = make_project(tmp_path / "project", {"shop": pg_connection(pg)})
    pipeline(root, "copy", """
        - name: items
          kind: extract
          source: {connection: shop, table: public.items}
        - name: expensive
          kind: extract
          source: {connection: shop, query: expensive.sql}
        """, expensive="SELECT id, to_char(created, 'YYYY-MM') AS month FROM items WHERE price > 10;\n")
    result = flowdeck(root, "run", "copy", password=pg.cluster.password)
    assert result.returncode == 0, result.stderr

    assert warehouse(root, "SELECT * FROM items ORDER BY id") == [
        (1, "apple", decimal.Decimal("1.25"), 0.5, datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
         datetime.date(2024, 1, 2), True),
        (2, "pear", decimal.Decimal("12.50"), 1.125,
         datetime.datetime(2024, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc), datetime.date(2024, 2, 3), False),
        (3, None, None, None, None, None, None),
        (4, "o'brien", decimal.Decimal("99999.99"), -3.0,
         datetime.datetime(2025, 12, 31, 23, 59, 59, 500000, tzinfo=datetime.timezone.utc), datetime.date(2025, 12, 31),
         True),
    ]
    types = dict(warehouse(root, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'items'"))
    assert types["price"] == "DECIMAL(12,2)" and types["ratio"] == "DOUBLE" and types["day"] == "DATE"
    # to_char exists in PostgreSQL, not in DuckDB: the query ran in the source, filter included
    assert warehouse(root, "SELECT * FROM expensive ORDER BY id") == pg.rows(
        "SELECT id, to_char(created, 'YYYY-MM') FROM items WHERE price > 10 ORDER BY id")
    assert step_status(root, "items")["rows"] == 4 and step_status(root, "expensive")["rows"] == 2
    done = [event for event in progress_events(root, "items") if event.get("done")]
    assert done and done[-1]["rows"] == 4


def test_incremental_extract_reads_only_rows_above_the_watermark(tmp_path: Path, pg: PgDatabase) -> None:
    pg.execute("CREATE TABLE events (id integer, kind text, seen integer)",
               "INSERT INTO events SELECT g, 'old', g FROM generate_series(1, 5) g")
    root = make_project(tmp_path / "project", {"src": pg_connection(pg)})
    pipeline(root, "events", """
        - name: events
          kind: extract
          source: {connection: src, table: events}
          materialized: incremental
          unique_key: id
          watermark: id
        """)
    assert flowdeck(root, "run", "events", password=pg.cluster.password).returncode == 0
    pg.execute("INSERT INTO events SELECT g, 'new', g FROM generate_series(6, 8) g",
               "UPDATE events SET kind = 'changed' WHERE id = 2")  # below the watermark: not read again
    result = flowdeck(root, "run", "events", password=pg.cluster.password)
    assert result.returncode == 0, result.stderr

    assert warehouse(root, "SELECT id, kind, _fd_load_id FROM events ORDER BY id") == \
        [(i, "old", 1) for i in range(1, 6)] + [(i, "new", 2) for i in range(6, 9)]
    read = [event for event in progress_events(root, "events") if event.get("done")]
    assert [event["rows"] for event in read] == [5, 3]  # the second run read 3 rows from the source, not 8
    assert step_status(root, "events")["rows"] == 3

    # nothing new: the source is asked for its newest id and nothing is read
    assert flowdeck(root, "run", "events", password=pg.cluster.password).returncode == 0
    assert len([event for event in progress_events(root, "events") if event.get("done")]) == 2
    assert step_status(root, "events")["rows"] == 0

    # --reprocess reads everything again, the change to row 2 included
    assert flowdeck(root, "run", "events", "--reprocess", password=pg.cluster.password).returncode == 0
    assert warehouse(root, "SELECT id, kind FROM events ORDER BY id") == pg.rows("SELECT id, kind FROM events ORDER BY id")


def test_incremental_extract_updates_rows_read_again_by_key(tmp_path: Path, pg: PgDatabase) -> None:
    pg.execute("CREATE TABLE accounts (id integer, balance integer, updated_at timestamptz)",
               "INSERT INTO accounts VALUES (1, 10, '2024-01-01 00:00+00'), (2, 20, '2024-01-02 00:00+00'), "
               "(3, 30, '2024-01-03 00:00+00')")
    root = make_project(tmp_path / "project", {"src": pg_connection(pg)})
    pipeline(root, "accounts", """
        - name: accounts
          kind: extract
          source: {connection: src, query: "SELECT id, balance, updated_at FROM accounts"}
          materialized: incremental
          unique_key: id
          watermark: updated_at
          on_duplicate: update
          order_by: updated_at
        """)
    assert flowdeck(root, "run", "accounts", password=pg.cluster.password).returncode == 0
    pg.execute("UPDATE accounts SET balance = 31, updated_at = '2024-01-04 00:00+00' WHERE id = 3",
               "INSERT INTO accounts VALUES (4, 40, '2024-01-05 00:00+00')")
    result = flowdeck(root, "run", "accounts", password=pg.cluster.password)
    assert result.returncode == 0, result.stderr

    assert warehouse(root, "SELECT id, balance FROM accounts ORDER BY id") == pg.rows(
        "SELECT id, balance FROM accounts ORDER BY id") == [(1, 10), (2, 20), (3, 31), (4, 40)]
    assert [event["rows"] for event in progress_events(root, "accounts") if event.get("done")] == [3, 2]


def test_a_masking_policy_masks_database_rows_before_they_are_staged(tmp_path: Path, pg: PgDatabase) -> None:
    pg.execute("CREATE TABLE people (id integer, email text)",
               "INSERT INTO people VALUES (1, 'ann@example.com'), (2, 'bob@example.com')")
    root = make_project(tmp_path / "project", {"crm": pg_connection(pg)})
    pipeline(root, "people", """
        - name: people
          kind: extract
          source: {connection: crm, table: people}
          mask: {email: redact}
        """)
    result = flowdeck(root, "run", "people", password=pg.cluster.password)
    assert result.returncode == 0, result.stderr
    emails = [email for (email,) in warehouse(root, "SELECT email FROM people ORDER BY id")]
    assert len(emails) == 2 and not any("example.com" in (email or "") for email in emails)
    assert b"ann@example.com" not in (root / ".flowdeck" / "warehouse.duckdb").read_bytes()
