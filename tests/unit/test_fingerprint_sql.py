"""What fingerprints take from SQL: a canonical text that ignores layout, the calls that make a query
non-deterministic, and the files it reads by itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowdeck.engine.sql.analysis import parse_query

SQL = Path("step.sql")


def facts(text: str) -> dict[str, object]:
    return parse_query(text, SQL).facts


def test_whitespace_comments_and_letter_case_are_not_changes() -> None:
    first = facts("SELECT order_id, sum(amount) AS total FROM orders GROUP BY order_id")
    second = facts("-- totals\nselect ORDER_ID,\n       SUM(amount)   as total /* per order */\n"
                   "from Orders\ngroup by order_id\n")
    assert first["canonical"] == second["canonical"]


@pytest.mark.parametrize("changed", [
    "SELECT order_id, sum(amount) AS total FROM orders WHERE amount > 0 GROUP BY order_id",
    "SELECT order_id, max(amount) AS total FROM orders GROUP BY order_id",
    "SELECT order_id, sum(amount) AS total FROM orders_v2 GROUP BY order_id",
    "SELECT order_id, sum(amount) AS total FROM orders WHERE city = 'Lyon' GROUP BY order_id",
])
def test_a_change_of_meaning_is_a_change(changed: str) -> None:
    assert facts(changed)["canonical"] != facts("SELECT order_id, sum(amount) AS total FROM orders GROUP BY order_id")[
        "canonical"]


def test_quoted_names_and_literals_keep_their_case() -> None:
    assert facts("SELECT 'Lyon' AS city")["canonical"] != facts("SELECT 'LYON' AS city")["canonical"]


@pytest.mark.parametrize(("sql", "calls"), [
    ("SELECT now() AS at", ["now()"]),
    ("SELECT current_date AS day", ["current_date"]),
    ("SELECT current_timestamp AS at", ["current_timestamp"]),
    ("SELECT random() AS r", ["random()"]),
    ("SELECT uuid() AS id", ["uuid()"]),
    ("SELECT gen_random_uuid() AS id", ["uuid()"]),
    ("SELECT * FROM orders WHERE day < today()", ["current_date"]),  # sqlglot reads today() as CURRENT_DATE
    ("SELECT nextval('ids') AS id", ["nextval()"]),
    ("SELECT order_id, sum(amount) FROM orders GROUP BY ALL", []),
    ("SELECT date_trunc('day', ordered_at) AS day FROM orders", []),
])
def test_non_deterministic_calls_are_found(sql: str, calls: list[str]) -> None:
    assert facts(sql)["volatile"] == calls


def test_files_read_by_the_query_itself_are_found_with_their_paths_or_parameters() -> None:
    found = facts("SELECT * FROM read_csv($orders_csv, header = true) AS o "
                  "JOIN read_parquet(['a.parquet', 'b.parquet']) AS p USING (id) "
                  "JOIN 'data/customers.csv' AS c USING (id) JOIN orders USING (id)")["files"]
    assert sorted(map(str, found)) == sorted(map(str, [{"param": "orders_csv"}, {"path": "a.parquet"},
                                                       {"path": "b.parquet"}, {"path": "data/customers.csv"}]))
    assert facts("SELECT * FROM read_csv(concat('x', '.csv'))")["files"] == [{"expr": "CONCAT('x', '.csv')"}]
