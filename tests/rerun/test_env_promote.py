"""`flowdeck env diff` and `flowdeck env promote` against real warehouses, a real ledger and the real CLI.

Each test builds prod (daily_sales run in the project's warehouse), changes orders_clean (a new column,
and the quantity of every hundredth order), and builds a dev environment with the change. What dev
and prod hold is read here with DuckDB connections of our own, not through flowdeck.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flowdeck.engine.governance.roles import Identity
from flowdeck.engine.project.project import Project
from flowdeck.engine.workspace import Workspace
from tests.rerun.helpers import copy_example, flowdeck, ledger_rows

PROMOTED = ("raw_orders", "raw_customers", "raw_products", "orders_clean", "sales", "daily_sales")
ME = Identity.current().user
pytestmark = pytest.mark.slow


def rows_of(warehouse: Path, table: str) -> list[tuple[Any, ...]]:
    """Every row of a table (or view) of a warehouse file, sorted; an environment's views of prod's tables
    (`fd_prod.main.<table>`) read prod's file, attached as the environment attaches it."""
    connection = duckdb.connect(":memory:")
    try:
        connection.execute(f"ATTACH '{warehouse}' AS w (READ_ONLY)")
        if warehouse.parent.parent.name == "envs":
            connection.execute(f"ATTACH '{warehouse.parents[2] / 'warehouse.duckdb'}' AS fd_prod (READ_ONLY)")
        connection.execute("USE w")
        quoted = ".".join(f'"{part}"' for part in table.split("."))  # _flowdeck.commits: schema and table
        return connection.execute(f"SELECT * FROM {quoted} ORDER BY ALL").fetchall()
    finally:
        connection.close()


def columns_of(warehouse: Path, table: str) -> list[str]:
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        return [row[0] for row in connection.execute(f'DESCRIBE "{table}"').fetchall()]
    finally:
        connection.close()


def prod_file(project: Path) -> Path:
    return project / ".flowdeck" / "warehouse.duckdb"


def dev_file(project: Path) -> Path:
    return project / ".flowdeck" / "envs" / "dev" / "warehouse.duckdb"


def promote_commits(project: Path) -> list[tuple[str, str]]:
    """(output, fingerprint) of the commits in prod's warehouse the ledger knows of that no pipeline run made."""
    warehouse_id = dict(rows_of(prod_file(project), "_flowdeck.info"))["warehouse_id"]
    return ledger_rows(project, "SELECT output, fingerprint FROM commits WHERE warehouse_id = ? AND run_id NOT IN "
                                "(SELECT run_id FROM runs WHERE trigger_kind != 'promote')", (warehouse_id,))


def snapshot(warehouse: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {table: rows_of(warehouse, table) for table in PROMOTED}


def run_in(project: Path, pipeline: str, environment: str = "prod") -> str:
    """A run of ``pipeline`` in an environment, executed in this process through the front door."""
    workspace = Workspace(Project.load(project))
    try:
        run, _ = workspace.submit(pipeline, environment=environment)
        assert workspace.execute(run.run_id) == "succeeded"
        return run.run_id
    finally:
        workspace.close()


CHANGED_SQL = ("COALESCE(TRY_CAST(quantity AS INTEGER), 1) AS quantity,",
               "COALESCE(TRY_CAST(quantity AS INTEGER), 1) + CASE WHEN TRY_CAST(order_id AS BIGINT) % 100 = 0 "
               "THEN 1 ELSE 0 END AS quantity,\n        COALESCE(TRY_CAST(quantity AS INTEGER), 1) * 2 AS double_quantity,")


@pytest.fixture
def prod_and_dev(tmp_path: Path) -> Path:
    """Prod built, then orders_clean changed and dev built with the change."""
    project = copy_example(tmp_path / "project")
    run_in(project, "daily_sales")
    sql = project / "pipelines" / "daily_sales" / "orders_clean.sql"
    old, new = CHANGED_SQL
    assert old in sql.read_text()
    sql.write_text(sql.read_text().replace(old, new))
    run_in(project, "daily_sales", "dev")
    return project


def test_env_diff_shows_the_new_column_and_the_rows_changed_by_key(prod_and_dev: Path) -> None:
    project = prod_and_dev
    before = prod_file(project).read_bytes()
    result = flowdeck(project, "env", "diff", "dev", "--json", "--sample", "3")
    assert result.returncode == 0, result.stderr
    tables = {table["table"]: table for table in json.loads(result.stdout)["tables"]}
    orders = tables["orders_clean"]
    assert orders["columns"] == [{"column": "double_quantity", "change": "added", "env_type": "INTEGER",
                                  "prod_type": None}]
    assert orders["matched_by"] == ["order_id"]
    # what changed, counted here from prod's own rows: every hundredth order got one more unit
    prod_orders = rows_of(prod_file(project), "orders_clean")
    hundredth = sorted(row for row in prod_orders if row[0] % 100 == 0)
    assert hundredth and orders["changed"] == len(hundredth)
    assert (orders["only_in_env"], orders["only_in_prod"]) == (0, 0)
    assert orders["env_rows"] == orders["prod_rows"] == len(prod_orders)
    first = orders["sample"]["changed"][0]
    assert first == {"key": {"order_id": hundredth[0][0]},
                     "changes": {"quantity": {"prod": hundredth[0][3], "env": hundredth[0][3] + 1}}}
    assert len(orders["sample"]["changed"]) == 3
    assert set(tables) == {"orders_clean", "sales", "daily_sales"}  # dev read the raw tables from prod
    assert not orders["identical"]
    daily = tables["daily_sales"]  # no key: compared as multisets of whole rows
    assert daily["matched_by"] is None and daily["only_in_env"] == daily["only_in_prod"] > 0
    text = flowdeck(project, "env", "diff", "dev", "--sample", "1")
    assert text.returncode == 0, text.stderr
    assert "+ column double_quantity INTEGER (only in dev)" in text.stdout
    assert f"rows matched by order_id: 0 only in dev, 0 only in prod, {len(hundredth)} changed" in text.stdout
    assert f"order_id={hundredth[0][0]}: quantity: {hundredth[0][3]} → {hundredth[0][3] + 1}" in text.stdout
    assert "raw_orders" not in text.stdout
    assert prod_file(project).read_bytes() == before  # only read


def test_promote_publishes_every_table_keeps_prod_versions_and_the_next_prod_run_reuses_them(prod_and_dev: Path) -> None:
    project = prod_and_dev
    prod_before, dev_tables = snapshot(prod_file(project)), snapshot(dev_file(project))
    old_run = ledger_rows(project, "SELECT run_id FROM runs ORDER BY created_at LIMIT 1")[0][0]  # prod's build
    result = flowdeck(project, "env", "promote", "dev", "--yes")
    assert result.returncode == 0, result.stderr
    assert "promoted environment dev to prod" in result.stdout
    assert "orders_clean: 2," in result.stdout and "daily_sales:" in result.stdout
    assert snapshot(prod_file(project)) == dev_tables
    assert "double_quantity" in columns_of(prod_file(project), "orders_clean")
    # identical tables were left as they were; the changed ones came from dev with their fingerprints
    promoted = dict(promote_commits(project))
    assert set(promoted) == {"orders_clean", "sales", "daily_sales"} and all(promoted.values())
    # the promote is a run of daily_sales in the ledger: `runs` lists it, `show` tells its steps
    runs = json.loads(flowdeck(project, "runs", "--json").stdout)
    promote = [run for run in runs if run["trigger"] == "promote"]
    assert len(promote) == 1 and promote[0]["status"] == "succeeded" and promote[0]["pipeline"] == "daily_sales"
    assert f"recorded as run {promote[0]['run_id']} of daily_sales" in result.stdout
    shown = flowdeck(project, "show", promote[0]["run_id"])
    assert shown.returncode == 0 and "orders_clean" in shown.stdout and "daily_sales" in shown.stdout, shown.stdout
    # the next prod run finds nothing to do: the promoted steps are unchanged
    plan = flowdeck(project, "plan", "daily_sales", "--json")
    assert plan.returncode == 0, plan.stderr
    statuses = {step["step"]: step["status"] for step in json.loads(plan.stdout)["steps"]}
    assert statuses["orders_clean"] == statuses["daily_sales"] == "unchanged", statuses
    # prod's version before the promote is kept: a rollback restores it
    versions = flowdeck(project, "versions", "orders_clean")
    assert old_run in versions.stdout, versions.stdout
    back = flowdeck(project, "rollback", "orders_clean", "--to", old_run)
    assert back.returncode == 0, back.stderr
    assert rows_of(prod_file(project), "orders_clean") == prod_before["orders_clean"]
    # recorded: the ledger's event and the audit log
    events = ledger_rows(project, "SELECT message, payload_json FROM events WHERE kind = 'env.promoted'")
    assert len(events) == 1 and "environment dev promoted to prod" in events[0][0]
    assert json.loads(events[0][1])["outputs"] == ["orders_clean", "sales", "daily_sales"]
    audit = ledger_rows(project, "SELECT actor, target, outcome FROM audit_log WHERE action = 'env.promote'")
    assert audit == [(ME, "dev", "ok")]


@pytest.mark.parametrize("point, promoted", [
    ("promoting:orders_clean", False),   # orders_clean copied and swapped in the transaction, sales and daily_sales not yet
    ("promoting:daily_sales", False),    # every table swapped in, the commit not yet made
    ("promoted:dev", True),              # committed in prod's warehouse, the ledger not yet told
])
def test_a_promote_killed_midway_leaves_prod_as_it_was_or_fully_promoted(prod_and_dev: Path, point: str,
                                                                         promoted: bool) -> None:
    project = prod_and_dev
    prod_before, dev_tables = snapshot(prod_file(project)), snapshot(dev_file(project))
    assert prod_before != dev_tables
    killed = flowdeck(project, "env", "promote", "dev", "--yes", env={"FLOWDECK_DEBUG_CRASH_AT": point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after = snapshot(prod_file(project))
    assert after == (dev_tables if promoted else prod_before)  # never half: every table, or none
    assert not promote_commits(project)  # the ledger heard nothing
    again = flowdeck(project, "env", "promote", "dev", "--yes")
    assert again.returncode == 0, again.stderr
    if promoted:  # the markers committed before the kill are reconciled into the ledger: nothing left to do
        assert "nothing to promote" in again.stdout
    assert snapshot(prod_file(project)) == dev_tables
    fingerprints = promote_commits(project)
    assert {output for output, _ in fingerprints} == {"orders_clean", "sales", "daily_sales"}


def test_a_failing_prod_check_refuses_the_promote_and_prod_is_untouched(prod_and_dev: Path) -> None:
    project = prod_and_dev
    prod_before = snapshot(prod_file(project))
    markers_before = rows_of(prod_file(project), "_flowdeck.commits")
    pipeline = project / "pipelines" / "daily_sales" / "pipeline.yaml"  # prod's checks now ask more than dev met
    pipeline.write_text(pipeline.read_text().replace(
        "      - unique: [order_id]\n", "      - unique: [order_id]\n      - sql: \"SELECT * FROM orders_clean "
        "WHERE double_quantity > 1\"\n        name: small_quantities\n"))
    result = flowdeck(project, "env", "promote", "dev", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the promote of environment `dev` was refused: check small_quantities" in result.stderr
    assert "prod was not changed" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(prod_file(project)) == prod_before
    assert rows_of(prod_file(project), "_flowdeck.commits") == markers_before
    assert ledger_rows(project, "SELECT outcome FROM audit_log WHERE action = 'env.promote'") == [("failed",)]


def test_only_the_configured_role_may_promote_and_only_an_admin_may_skip_required_tests(prod_and_dev: Path) -> None:
    project = prod_and_dev
    config = project / "flowdeck.yaml"
    original = config.read_text()
    prod_before = snapshot(prod_file(project))
    config.write_text(original + f"\nroles:\n  viewers: [{ME}]\n  admins: [someone-else]\n")
    viewer = flowdeck(project, "env", "promote", "dev", "--yes")
    assert viewer.returncode == 3 and "promoting an environment to prod (dev) needs the admin role" in viewer.stderr
    config.write_text(original + f"\nroles:\n  operators: [{ME}]\n  admins: [someone-else]\n")
    operator = flowdeck(project, "env", "promote", "dev", "--yes")
    assert operator.returncode == 3 and "needs the admin role" in operator.stderr, operator.stderr
    assert snapshot(prod_file(project)) == prod_before
    assert [row[0] for row in ledger_rows(project, "SELECT outcome FROM audit_log WHERE action = 'env.promote'")] \
        == ["denied", "denied"]
    # operators may promote where flowdeck.yaml says so; a failing SQL unit test of a promoted step refuses it
    config.write_text(original + f"\nroles:\n  operators: [{ME}]\n  admins: [someone-else]\n"
                      "environments:\n  promote_role: operator\n  require_tests: true\n")
    tests = project / "pipelines" / "daily_sales" / "tests" / "daily_sales.yaml"
    tests.write_text(tests.read_text().replace("orders: 2, units: 3", "orders: 2, units: 4"))
    refused = flowdeck(project, "env", "promote", "dev", "--yes")
    assert refused.returncode == 1, refused.stderr
    assert "1 of 1 SQL unit tests of the steps it built did not pass: daily_sales/counts_only_paid_orders" \
        in refused.stderr
    skipped = flowdeck(project, "env", "promote", "dev", "--yes", "--skip-tests")
    assert skipped.returncode == 3 and "promoting without the required SQL unit tests" in skipped.stderr
    assert snapshot(prod_file(project)) == prod_before
    tests.write_text(tests.read_text().replace("orders: 2, units: 4", "orders: 2, units: 3"))
    allowed = flowdeck(project, "env", "promote", "dev", "--yes")
    assert allowed.returncode == 0, allowed.stderr
    assert snapshot(prod_file(project)) == snapshot(dev_file(project))


@pytest.mark.parametrize("name", ["../dev", "/etc", "dev/../../x", "a b", "prod", "nope", ""])
def test_hostile_or_unknown_environment_names_are_refused(prod_and_dev: Path, name: str) -> None:
    project = prod_and_dev
    prod_before = snapshot(prod_file(project))
    for command in (("env", "diff", name), ("env", "promote", name, "--yes")):
        result = flowdeck(project, *command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        expected = {"prod": "`prod` is where environments are compared with and promoted to",
                    "nope": "no environment `nope`"}.get(name, "is not an environment name")
        assert expected in result.stderr, result.stderr
    assert sorted(path.name for path in (project / ".flowdeck" / "envs").iterdir()) == ["dev"]
    assert snapshot(prod_file(project)) == prod_before


def test_a_promoted_incremental_table_carries_what_it_read_so_prod_reads_no_file_again(tmp_path: Path) -> None:
    from tests.rerun.helpers import land_deliveries, step_payload

    project = copy_example(tmp_path / "project")
    last = land_deliveries(project, parts=3)[-1]
    content = last.read_bytes()
    last.unlink()
    run_in(project, "ingest_orders")  # prod has read two deliveries
    last.write_bytes(content)
    run_in(project, "ingest_orders", "dev")  # dev has read all three
    tables = ("landed_orders", "ingested_orders")
    dev_tables = {table: rows_of(dev_file(project), table) for table in tables}
    assert rows_of(prod_file(project), "landed_orders") != dev_tables["landed_orders"]
    result = flowdeck(project, "env", "promote", "dev", "--yes")
    assert result.returncode == 0, result.stderr
    assert {table: rows_of(prod_file(project), table) for table in tables} == dev_tables
    # the files dev read and its watermark came along: prod's next run reads nothing again
    run_id = run_in(project, "ingest_orders")
    assert step_payload(project, run_id, "landed_orders")["files_read"] == 0
    assert step_payload(project, run_id, "ingested_orders")["rows_read"] == 0
    assert {table: rows_of(prod_file(project), table) for table in tables} == dev_tables
