"""SQLite files as source and target, checked with Python's own sqlite3 module."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from dbkit import flowdeck, make_project, pipeline, sqlite_rows, step_status

from flowdeck.engine.workspace import Workspace

pytestmark = pytest.mark.slow


def shop_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, region TEXT, amount REAL, sold_on TEXT)")
        db.executemany("INSERT INTO sales VALUES (?, ?, ?, ?)",
                       [(i, ["north", "south", "east"][i % 3], i * 1.5, f"2024-01-{1 + i % 28:02d}")
                        for i in range(1, 2001)])


def shop_project(tmp_path: Path) -> Path:
    """A project reading `shop` (data/shop.sqlite, its sales) and writing `reports` (out/reports.sqlite)."""
    root = tmp_path / "project"
    shop_file(root / "data" / "shop.sqlite")
    make_project(root, {"shop": "{type: sqlite, uri: data/shop.sqlite}",
                        "reports": "{type: sqlite, uri: out/reports.sqlite}"})
    (root / "out").mkdir()
    return root


def test_sqlite_to_sqlite_through_a_transform_matches_sqlite_itself(tmp_path: Path) -> None:
    root = shop_project(tmp_path)
    pipeline(root, "regions", """
        - name: sales
          kind: extract
          source: {connection: shop, table: sales}
        - name: january
          kind: extract
          source: {connection: shop, query: "SELECT region, amount FROM sales WHERE sold_on < '2024-01-15'"}
        - name: by_region
          kind: transform
        - name: publish
          kind: load
          table: by_region
          to: {connection: reports, table: by_region, mode: upsert, key: region}
        """, by_region="SELECT s.region, count(*) AS sales, sum(s.amount) AS total, "
                       "(SELECT count(*) FROM january j WHERE j.region = s.region) AS early "
                       "FROM sales s GROUP BY s.region\n")
    result = flowdeck(root, "run", "regions", password=None)
    assert result.returncode == 0, result.stdout + result.stderr

    expected = sqlite_rows(root / "data" / "shop.sqlite",
                           "SELECT region, count(*), sum(amount), sum(sold_on < '2024-01-15') FROM sales "
                           "GROUP BY region ORDER BY region")
    loaded = sqlite_rows(root / "out" / "reports.sqlite", "SELECT region, sales, total, early FROM by_region ORDER BY region")
    assert loaded == expected
    assert step_status(root, "january")["rows"] == expected[0][3] + expected[1][3] + expected[2][3]
    # upsert into an existing table: run again after a change at the source
    with sqlite3.connect(root / "data" / "shop.sqlite") as db:
        db.execute("DELETE FROM sales WHERE region = 'east'")
        db.execute("UPDATE sales SET amount = amount * 2 WHERE region = 'north'")
    assert flowdeck(root, "run", "regions", password=None).returncode == 0
    after = sqlite_rows(root / "out" / "reports.sqlite", "SELECT region, sales, total FROM by_region ORDER BY region")
    assert after == [expected[0][:3]] + sqlite_rows(  # east is kept: an upsert never deletes
        root / "data" / "shop.sqlite", "SELECT region, count(*), sum(amount) FROM sales GROUP BY region ORDER BY region")


def test_a_missing_sqlite_source_and_table_have_their_own_messages(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shop_file(root / "data" / "shop.sqlite")
    make_project(root, {"gone": "{type: sqlite, uri: data/gone.sqlite}", "shop": "{type: sqlite, uri: data/shop.sqlite}"})
    pipeline(root, "broken", """
        - name: from_gone
          kind: extract
          source: {connection: gone, table: sales}
        - name: no_table
          kind: extract
          source: {connection: shop, table: returns}
        """)
    assert flowdeck(root, "run", "broken", password=None).returncode == 1
    assert "the SQLite database" in step_status(root, "from_gone")["error"]
    assert "does not exist" in step_status(root, "from_gone")["error"]
    assert "table `returns` does not exist" in step_status(root, "no_table")["error"]
    assert not (root / "data" / "gone.sqlite").exists()  # reading never creates the file


def test_database_steps_record_rows_read_and_loaded_in_the_run_measures(tmp_path: Path) -> None:
    root = shop_project(tmp_path)
    pipeline(root, "copy", """
        - name: sales
          kind: extract
          source: {connection: shop, query: "SELECT * FROM sales WHERE region <> 'east'"}
        - name: publish
          kind: load
          table: sales
          to: {connection: reports, table: sales_copy, mode: replace}
        """)
    workspace = Workspace.open(root)
    record, _ = workspace.submit("copy")
    workspace.execute(record.run_id)

    kept = sqlite_rows(root / "data" / "shop.sqlite", "SELECT count(*) FROM sales WHERE region <> 'east'")[0][0]
    assert sqlite_rows(root / "out" / "reports.sqlite", "SELECT count(*) FROM sales_copy")[0][0] == kept
    steps = {view.record.step: view for view in workspace.run_metrics(record.run_id).steps}
    assert (steps["sales"].rows_in, steps["sales"].rows_out) == (kept, kept)
    assert (steps["publish"].rows_in, steps["publish"].rows_out) == (kept, kept)
    # a database is no file: no bytes are claimed, and the throughput is in rows
    assert all(view.bytes_in is None and view.bytes_out is None for view in steps.values())
    assert all(view.rows_per_second and view.rows_per_second > 0 for view in steps.values())
