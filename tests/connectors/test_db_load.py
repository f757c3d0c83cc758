"""Load steps into PostgreSQL and SQLite: replace, append and upsert, one transaction, no duplicates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dbkit import (
    PgDatabase,
    flowdeck,
    last_run_id,
    ledger_rows,
    make_project,
    pg_connection,
    pipeline,
    sqlite_rows,
    step_status,
    write,
)


class Target:
    """A load target of either kind, read back independently of flowdeck."""

    def __init__(self, kind: str, pg: PgDatabase | None, root: Path) -> None:
        self.kind = kind
        self.pg = pg
        self.file = root / "target.sqlite"

    def connection(self) -> str:
        if self.kind == "postgresql":
            assert self.pg is not None
            return pg_connection(self.pg)
        return "{type: sqlite, uri: target.sqlite}"

    @property
    def password(self) -> str | None:
        return self.pg.cluster.password if self.pg is not None else None

    def execute(self, *statements: str) -> None:
        if self.pg is not None:
            self.pg.execute(*statements)
        else:
            import sqlite3

            with sqlite3.connect(self.file) as db:
                for sql in statements:
                    db.execute(sql)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.pg is not None:
            return self.pg.rows(sql)
        return sqlite_rows(self.file, sql)


@pytest.fixture(params=["postgresql", "sqlite"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    root = tmp_path / "project"
    root.mkdir()
    if request.param == "postgresql":
        return Target("postgresql", request.getfixturevalue("pg"), root)
    return Target("sqlite", None, root)


def orders_project(target: Target, mode: str, key: str = "") -> Path:
    """Extract data/orders.csv, load it into the target table `orders` with ``mode``."""
    root = make_project(target.file.parent, {"out": target.connection()})
    extra = f", key: [{key}]" if key else ""
    pipeline(root, "ship", f"""
        - name: orders
          kind: extract
          source: {{path: data/orders.csv}}
        - name: to_target
          kind: load
          table: orders
          to: {{connection: out, table: orders, mode: {mode}{extra}}}
        """)
    return root


def csv(root: Path, rows: list[tuple[int, str, int]]) -> None:
    write(root / "data" / "orders.csv", "id,item,qty\n" + "".join(f"{i},{item},{qty}\n" for i, item, qty in rows))


def run(root: Path, target: Target, pipeline_name: str = "ship", *options: str) -> None:
    result = flowdeck(root, "run", pipeline_name, *options, password=target.password)
    assert result.returncode == 0, result.stdout + result.stderr


def test_replace_makes_the_rows_the_loaded_ones_and_keeps_the_table(target: Target) -> None:
    target.execute("CREATE TABLE orders (id BIGINT, item TEXT, qty BIGINT)",
                   "CREATE INDEX orders_by_item ON orders (item)",
                   "INSERT INTO orders VALUES (99, 'stale', 1)")
    root = orders_project(target, "replace")
    csv(root, [(1, "tea", 2), (2, "jam", 5)])
    run(root, target)
    assert target.rows("SELECT id, item, qty FROM orders ORDER BY id") == [(1, "tea", 2), (2, "jam", 5)]
    csv(root, [(3, "oil", 1)])
    run(root, target)
    assert target.rows("SELECT id, item, qty FROM orders ORDER BY id") == [(3, "oil", 1)]
    index = ("SELECT indexname FROM pg_indexes WHERE tablename = 'orders'" if target.kind == "postgresql"
             else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'orders'")
    assert ("orders_by_item",) in target.rows(index)


def test_append_adds_each_new_version_once(target: Target) -> None:
    root = orders_project(target, "append")
    csv(root, [(1, "tea", 2)])
    run(root, target)
    csv(root, [(2, "jam", 5)])
    run(root, target)
    assert target.rows("SELECT id, item, qty FROM orders ORDER BY id") == [(1, "tea", 2), (2, "jam", 5)]
    markers = target.rows("SELECT pipeline, step, target, mode, rows FROM _flowdeck_loads ORDER BY loaded_at")
    assert markers == [("ship", "to_target", "orders", "append", 1)] * 2


def test_upsert_replaces_rows_by_key_and_adds_the_others(target: Target) -> None:
    target.execute("CREATE TABLE orders (id BIGINT PRIMARY KEY, item TEXT, qty BIGINT)",
                   "INSERT INTO orders VALUES (1, 'tea', 2), (2, 'jam', 5), (3, 'oil', 1)")
    root = orders_project(target, "upsert", key="id")
    csv(root, [(2, "jam", 50), (3, "olive oil", 10), (4, "salt", 7)])
    run(root, target)
    assert target.rows("SELECT id, item, qty FROM orders ORDER BY id") == [
        (1, "tea", 2), (2, "jam", 50), (3, "olive oil", 10), (4, "salt", 7)]


@pytest.mark.parametrize("rows, words", [
    ([(1, "tea", 2), (1, "jam", 5)], "occur more than once"),
    ([(1, "tea", 2)] + [(None, "jam", 5)], "NULL in the upsert key"),  # type: ignore[list-item]
])
def test_upsert_refuses_an_ambiguous_key_and_changes_nothing(target: Target, rows: list[Any], words: str) -> None:
    target.execute("CREATE TABLE orders (id BIGINT, item TEXT, qty BIGINT)", "INSERT INTO orders VALUES (1, 'old', 1)")
    root = orders_project(target, "upsert", key="id")
    write(root / "data" / "orders.csv", "id,item,qty\n" + "".join(
        f"{'' if i is None else i},{item},{qty}\n" for i, item, qty in rows))
    result = flowdeck(root, "run", "ship", password=target.password)
    assert result.returncode == 1
    assert words in step_status(root, "to_target")["error"]
    assert target.rows("SELECT id, item, qty FROM orders") == [(1, "old", 1)]


def test_a_failing_load_leaves_the_target_as_it_was(target: Target) -> None:
    # the third row breaks the target's constraint mid-load, after the old rows were emptied out
    target.execute("CREATE TABLE orders (id BIGINT, item TEXT, qty BIGINT CHECK (qty > 0))",
                   "INSERT INTO orders VALUES (7, 'kept', 7)")
    root = orders_project(target, "replace")
    csv(root, [(1, "tea", 2), (2, "jam", 5), (3, "bad", -1)])
    result = flowdeck(root, "run", "ship", password=target.password)
    assert result.returncode == 1
    assert "check" in step_status(root, "to_target")["error"].lower()
    assert target.rows("SELECT id, item, qty FROM orders") == [(7, "kept", 7)]
    assert target.rows("SELECT count(*) FROM _flowdeck_loads") == [(0,)]


def test_loading_the_same_data_version_again_loads_nothing(target: Target) -> None:
    root = orders_project(target, "append")
    csv(root, [(1, "tea", 2), (2, "jam", 5)])
    run(root, target)
    # a second pipeline loads the table the first one published; running it twice must not duplicate
    pipeline(root, "resend", """
        - name: resend
          kind: load
          table: orders
          to: {connection: out, table: orders_copy, mode: append}
        """)
    run(root, target, "resend")
    run(root, target, "resend")  # nothing it depends on changed: its fingerprint keeps it, nothing is sent
    assert ledger_rows(root, "SELECT reuse_reason FROM steps WHERE step = 'resend' ORDER BY rowid DESC LIMIT 1") \
        == [("unchanged",)]
    # forced to run, the load finds its data version on the target already and loads nothing again
    run(root, target, "resend", "--force")
    assert target.rows("SELECT id, item, qty FROM orders_copy ORDER BY id") == [(1, "tea", 2), (2, "jam", 5)]
    messages = [message for (message,) in ledger_rows(root, "SELECT message FROM events WHERE step = 'resend' "
                                                            "AND kind = 'step.already_loaded'")]
    assert len(messages) == 1 and "nothing loaded again" in messages[0]
    assert step_status(root, "resend") == {"status": "succeeded", "rows": 2, "error": None}


def test_the_load_writes_lineage_to_the_database_table(target: Target) -> None:
    root = orders_project(target, "append")
    csv(root, [(1, "tea", 2)])
    run(root, target)
    assert ledger_rows(root, "SELECT output, output_kind, input, input_kind FROM lineage WHERE step = 'to_target'") == \
        [("out:orders", "database", "orders", "table")]
    lineage = flowdeck(root, "lineage", "orders", password=None)
    assert "db:out:orders" in lineage.stdout, lineage.stdout + lineage.stderr


@pytest.mark.parametrize("point", ["exporting", "exported"])
def test_a_run_killed_around_the_target_commit_resumes_to_rows_loaded_exactly_once(target: Target, point: str) -> None:
    # exporting: rows and marker written, not committed; exported: committed, the ledger not told
    target.execute("CREATE TABLE orders (id BIGINT, item TEXT, qty BIGINT)")
    root = orders_project(target, "append")
    csv(root, [(1, "tea", 2), (2, "jam", 5)])
    killed = flowdeck(root, "run", "ship", password=target.password, env={"FLOWDECK_DEBUG_CRASH_AT": f"{point}:to_target"})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    committed = point == "exported"
    assert target.rows("SELECT count(*) FROM orders") == [(2 if committed else 0,)]
    parent = last_run_id(root)

    resumed = flowdeck(root, "run", "--resume", parent, password=target.password)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert target.rows("SELECT id, item, qty FROM orders ORDER BY id") == [(1, "tea", 2), (2, "jam", 5)]
    assert target.rows("SELECT count(*) FROM _flowdeck_loads") == [(1,)]
    run = last_run_id(root)
    assert ledger_rows(root, "SELECT reused_from FROM steps WHERE run_id = ? AND step = 'orders'", (run,)) == [(parent,)]
    found = ledger_rows(root, "SELECT count(*) FROM events WHERE run_id = ? AND kind = 'step.already_loaded'", (run,))
    assert found == [(1 if committed else 0,)]
