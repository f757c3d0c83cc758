"""Bad input gets a plain-language error and the right exit code, and changes nothing.

Each case starts from a project that has run once (so there is a warehouse and a ledger to
protect), breaks one thing, and checks the message, the exit code, the absence of a
traceback, and that the warehouse and the ledger are exactly as consistent as before.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import (
    assert_consistent,
    ledger_rows,
    run_flowdeck,
    warehouse_rows,
    warehouse_snapshot,
)

PIPELINE_DIR = Path("pipelines/daily_sales")


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


# (file, text to replace, replacement, words the error must hold (regular expressions),
#  where it must point: (text on the line, column) or None, extra commands that must refuse too)
CASES = {
    "yaml_syntax": ("pipelines/daily_sales/pipeline.yaml", "  since:\n    type: date", "  since:\n    type: date\n   default: [",
                    [r"pipeline\.yaml:\d+:\d+: this is not valid YAML"], None, []),
    "unknown_key": ("pipelines/daily_sales/pipeline.yaml", "schedule:", "shedule:",
                    ["unknown key `shedule`", "did you mean `schedule`\\?", r"\n +\d+ \| shedule:\n +\^"], ("shedule:", 1), []),
    "unknown_project_key": ("flowdeck.yaml", "warehouse:", "warehous:",
                            ["unknown key `warehous`", "did you mean `warehouse`\\?"], ("warehous:", 1), [("pipelines",)]),
    "missing_sql_file": ("pipelines/daily_sales/pipeline.yaml", "sql: sales.sql", "sql: sales_v2.sql",
                         ["SQL file not found: sales_v2.sql"], ("sql: sales_v2.sql", 10), []),
    # sqlglot alone accepts this (it reads `ON WHERE` as a join without a condition); DuckDB does not
    "sql_syntax": ("pipelines/daily_sales/sales.sql", "JOIN raw_products AS p ON p.product_id = o.product_id",
                   "JOIN raw_products AS p ON\nWHERE p.product_id = o.product_id",
                   ['SQL syntax error at or near "WHERE"', r"\d \| WHERE p\.product_id = o\.product_id\n +\^"],
                   ("WHERE p.product_id", 1), []),
    # orders_clean now also reads daily_sales, which is built from orders_clean
    "cycle": ("pipelines/daily_sales/orders_clean.sql", "    FROM raw_orders\n",
              "    FROM raw_orders\n    WHERE order_id NOT IN (SELECT orders FROM daily_sales)\n",
              [r"cycle: (orders_clean|sales|daily_sales)( -> (orders_clean|sales|daily_sales)){3}\n"], None, []),
    "unknown_table": ("pipelines/daily_sales/sales.sql", "JOIN raw_customers AS c", "JOIN raw_customer AS c",
                      ["step `sales` reads table `raw_customer`, which no step produces", "did you mean `raw_customers`\\?"],
                      ("raw_customer AS c", 6), []),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_in_plain_words_and_changes_nothing(ran_daily_sales: Path, case: str) -> None:
    project = ran_daily_sales
    relative, old, new, words, where, more_commands = CASES[case]
    before = warehouse_snapshot(project)
    _replace(project / relative, old, new)
    results = [run_flowdeck(*command, project=project)
               for command in [("run", "daily_sales"), ("validate",), *more_commands]]
    for result in results:
        assert result.returncode == 2, result
        assert "Traceback" not in result.output, result
        for word in words:
            assert re.search(word, result.stderr), (word, result)
        if where is not None:
            text, column = where
            line = next(number for number, content in enumerate((project / relative).read_text().splitlines(), 1)
                        if text in content)
            assert f"{Path(relative).name}:{line}:{column}: " in result.stderr, result
    assert len(ledger_rows(project, "SELECT run_id FROM runs")) == 1  # the good run only: nothing was queued
    assert warehouse_snapshot(project) == before
    assert_consistent(project)


def test_sql_syntax_error_column_counts_characters_not_bytes(ran_daily_sales: Path) -> None:
    project = ran_daily_sales
    sql = project / PIPELINE_DIR / "daily_sales.sql"
    _replace(sql, "    country,\n", "    country, 'déjà vu' AS note, FROM FROM,\n")
    result = run_flowdeck("validate", "daily_sales", project=project)
    line_text = next(text for text in sql.read_text().splitlines() if "déjà vu" in text)
    line = sql.read_text().splitlines().index(line_text) + 1
    column = line_text.index("FROM FROM") + len("FROM ") + 1
    assert result.returncode == 2, result
    assert f"daily_sales.sql:{line}:{column}:" in result.stderr, result


def test_every_problem_of_a_pipeline_is_reported_at_once(ran_daily_sales: Path) -> None:
    project = ran_daily_sales
    _replace(project / PIPELINE_DIR / "sales.sql", "JOIN raw_customers AS c", "JOIN raw_customer AS c")
    _replace(project / PIPELINE_DIR / "pipeline.yaml", "sql: daily_sales.sql", "sql: nowhere.sql")
    result = run_flowdeck("validate", "daily_sales", project=project)
    assert result.returncode == 2
    assert "SQL file not found: nowhere.sql" in result.stderr
    # the unknown table is only checked once every file is readable; a second validate shows it
    _replace(project / PIPELINE_DIR / "pipeline.yaml", "sql: nowhere.sql", "sql: daily_sales.sql")
    _replace(project / PIPELINE_DIR / "orders_clean.sql", "FROM raw_orders", "FROM raw_orderz")
    result = run_flowdeck("validate", "daily_sales", project=project)
    assert "`raw_customer`" in result.stderr and "`raw_orderz`" in result.stderr, result


def test_failing_blocking_check_fails_the_run_and_leaves_the_published_table_as_it_was(ran_daily_sales: Path) -> None:
    project = ran_daily_sales
    published_before = warehouse_rows(project, "SELECT * FROM orders_clean ORDER BY order_id")
    daily_before = warehouse_rows(project, "SELECT * FROM daily_sales ORDER BY ALL")
    with open(project / "data/sample/orders.csv", "a") as handle:
        handle.write("900001,1,1,2,2026-11-20,lost,2026-11-20 10:00:00\r\n")  # the file has CRLF line ends

    result = run_flowdeck("run", "daily_sales", project=project)

    assert result.returncode == 1, result
    assert "Traceback" not in result.output
    assert "check accepted_values(status) failed on column status in step `orders_clean`" in result.output
    assert "for example: {status='lost', occurrences=1}" in result.output  # a failing row is shown
    # the check ran on the staged data; what readers see is the previous good version
    assert warehouse_rows(project, "SELECT * FROM orders_clean ORDER BY order_id") == published_before
    assert warehouse_rows(project, "SELECT * FROM daily_sales ORDER BY ALL") == daily_before
    assert warehouse_rows(project, "SELECT count(*) FROM raw_orders WHERE order_id = '900001'") == [(1,)]

    shown = run_flowdeck("show", "last", "--json", project=project).json()
    assert shown["status"] == "failed"
    statuses = {step["step"]: step["status"] for step in shown["steps"]}
    assert statuses["orders_clean"] == "failed"
    assert statuses["raw_orders"] == "succeeded"
    assert {statuses[name] for name in ("sales", "daily_sales", "export_daily_sales", "check_orders_reference_customers")} == {"skipped"}
    failed = [check for check in shown["checks"] if check["status"] == "failed"]
    assert [(check["check"], check["failing_rows"], check["sample"]) for check in failed] == [
        ("accepted_values(status)", 1, [{"status": "lost", "occurrences": 1}])
    ]
    markers = warehouse_rows(project, f"SELECT step FROM _flowdeck.commits WHERE run_id = '{shown['run_id']}'")
    assert "orders_clean" not in {step for (step,) in markers}
    assert_consistent(project)


def test_sql_error_at_run_time_fails_the_step_with_exit_1(ran_daily_sales: Path) -> None:
    project = ran_daily_sales
    before = warehouse_rows(project, "SELECT * FROM daily_sales ORDER BY ALL")
    _replace(project / PIPELINE_DIR / "daily_sales.sql", "sum(quantity)", "sum(quantiti)")
    result = run_flowdeck("run", "daily_sales", project=project)
    assert result.returncode == 1, result
    assert "Traceback" not in result.output
    assert "building daily_sales" in result.output and "quantiti" in result.output
    assert warehouse_rows(project, "SELECT * FROM daily_sales ORDER BY ALL") == before
    assert_consistent(project)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("run", "daily_sales", "--param", "since=yesterday"), "parameter `since` must be a date, got 'yesterday'"),
        (("run", "daily_sales", "--param", "until=2026-01-01"), "has no parameter `until`"),
        (("run", "daily_sales", "--param", "since"), "--param expects NAME=VALUE"),
        (("run", "daily_salez"), "did you mean `daily_sales`?"),
    ],
)
def test_bad_run_request_is_refused_before_queuing(ran_daily_sales: Path, args: tuple[str, ...], words: str) -> None:
    project = ran_daily_sales
    before = warehouse_snapshot(project)
    result = run_flowdeck(*args, project=project)
    assert result.returncode == 2, result
    assert words in result.stderr and "Traceback" not in result.output
    assert len(ledger_rows(project, "SELECT run_id FROM runs")) == 1
    assert warehouse_snapshot(project) == before
