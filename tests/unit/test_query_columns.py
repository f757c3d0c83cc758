"""Column checks of one query: what DuckDB accepts is never reported, a typo always is, with a did-you-mean."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from flowdeck.engine.sql.analysis import parse_query
from flowdeck.engine.sql.columns import TableColumns, query_columns

SCHEMA = {
    "orders": TableColumns({"order_id": "BIGINT", "amount": "DECIMAL(12,2)", "status": "VARCHAR",
                            "address": "STRUCT(city VARCHAR, zip VARCHAR)", "tags": "VARCHAR[]",
                            "order_date": "DATE"}),
    "customers": TableColumns({"customer_id": "INTEGER", "order_id": "BIGINT", "country": "VARCHAR"}),
}

# queries DuckDB runs against SCHEMA's tables: none may be reported
ACCEPTED = {
    "cte": "WITH paid AS (SELECT order_id, amount AS paid_amount FROM orders) SELECT paid_amount FROM paid",
    "alias_in_order_by": "SELECT amount * 2 AS doubled FROM orders ORDER BY doubled",
    "lateral_alias": "SELECT amount * 2 AS doubled, doubled + 1 AS more FROM orders WHERE more > 3",
    "star": "SELECT * FROM orders",
    "star_exclude": "SELECT * EXCLUDE (status) FROM orders",
    "star_replace": "SELECT * REPLACE (amount * 2 AS amount) FROM orders",
    "struct_field": "SELECT address.city, o.address.zip FROM orders AS o",
    "read_csv": "SELECT anything_at_all FROM read_csv('data/sample/orders.csv')",
    "param": "SELECT order_id FROM orders WHERE order_date >= $since",
    "using_join": "SELECT order_id, country FROM orders JOIN customers USING (order_id)",
    "correlated": "SELECT order_id FROM orders o WHERE EXISTS (SELECT 1 FROM customers c WHERE c.order_id = o.order_id AND status = 'paid')",
    "pivot_statement": "PIVOT orders ON status USING sum(amount)",
    "pivot_clause": "SELECT * FROM orders PIVOT (sum(amount) FOR status IN ('paid', 'open'))",
    "unpivot": "UNPIVOT (SELECT order_id, amount FROM orders) ON amount INTO NAME k VALUE v",
    "lambda": "SELECT list_transform(tags, lambda t: upper(t)) AS upper_tags FROM orders",
    "unnest_alias": "SELECT tag FROM orders, unnest(tags) AS u(tag)",
    "quoted_other_case": 'SELECT "Amount", ORDER_ID FROM orders',
    "rowid": "SELECT rowid, order_id FROM orders",
    "group_by_all_having_alias": "SELECT status, count(*) AS n FROM orders GROUP BY ALL HAVING n > 1",
    "qualify": "SELECT * FROM orders QUALIFY row_number() OVER (PARTITION BY status ORDER BY amount DESC) = 1",
    "values": "SELECT v.x FROM (VALUES (1), (2)) AS v(x)",
    "unnamed_expression_downstream": 'WITH c AS (SELECT count(*) FROM orders) SELECT "count_star()" FROM c',
    "unknown_table": "SELECT whatever FROM not_described",
    "star_over_unknown": "WITH u AS (SELECT * FROM not_described) SELECT whatever FROM u",
}

# (query, the name reported, its 1-based line and column, the suggestion)
TYPOS = {
    "in_aggregate": ("SELECT status, sum(amout) AS total FROM orders GROUP BY status", "amout", 1, 20, "amount"),
    "qualified": ("SELECT o.amout FROM orders AS o", "amout", 1, 10, "amount"),
    "in_where_line_3": ("SELECT order_id\nFROM orders\nWHERE stauts = 'paid'", "stauts", 3, 7, "status"),
    "through_cte": ("WITH c AS (SELECT order_id, amount FROM orders) SELECT amonut FROM c", "amonut", 1, 56, "amount"),
    "in_join_condition": ("SELECT o.order_id FROM orders o JOIN customers c ON c.order_idd = o.order_id",
                          "order_idd", 1, 55, "order_id"),
    "in_union_branch": ("SELECT order_id FROM orders UNION ALL SELECT custmer_id FROM customers",
                        "custmer_id", 1, 46, "customer_id"),
    "in_correlated_subquery": ("SELECT order_id FROM orders o WHERE EXISTS (SELECT 1 FROM customers c WHERE c.countyr = 'FR')",
                               "countyr", 1, 79, "country"),
    "projection_named_like_its_alias": ("SELECT amout FROM orders", "amout", 1, 8, "amount"),
}


def _analyse(sql: str) -> tuple[list[tuple[str, int, int, str | None]], object]:
    query = parse_query(sql, Path("q.sql"))
    result = query_columns(query.tree, sql, SCHEMA)
    return [(found.name, found.line, found.column, found.suggestion()) for found in result.missing], result


def _duckdb_with_schema() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    for table, columns in SCHEMA.items():
        connection.execute(f"CREATE TABLE {table} ({', '.join(f'{name} {kind}' for name, kind in columns.columns.items())})")
    return connection


@pytest.mark.parametrize("sql", ACCEPTED.values(), ids=list(ACCEPTED))
def test_queries_duckdb_accepts_report_no_missing_column(sql: str) -> None:
    missing, _ = _analyse(sql)
    assert missing == []
    if "not_described" not in sql and "read_csv" not in sql:  # the premise: DuckDB binds it
        _duckdb_with_schema().execute(f"DESCRIBE {sql}", {"since": "2026-01-01"} if "$since" in sql else None)


@pytest.mark.parametrize("case", TYPOS.values(), ids=list(TYPOS))
def test_a_column_that_does_not_exist_is_reported_where_it_is_with_the_name_meant(
        case: tuple[str, str, int, int, str]) -> None:
    sql, name, line, column, meant = case
    missing, _ = _analyse(sql)
    assert missing == [(name, line, column, meant)]
    with pytest.raises(duckdb.BinderException):  # the premise: DuckDB refuses it
        _duckdb_with_schema().execute(f"DESCRIBE {sql}")


def test_output_columns_carry_their_types_and_stars_are_expanded() -> None:
    _, result = _analyse("SELECT * EXCLUDE (address, tags), amount * 2 AS doubled, TRY_CAST(status AS INTEGER) AS code "
                         "FROM orders")
    assert result.output is not None and result.output.complete  # type: ignore[attr-defined]
    columns = dict(result.output.columns)  # type: ignore[attr-defined]
    assert list(columns) == ["order_id", "amount", "status", "order_date", "doubled", "code"]
    assert columns["order_id"] == "BIGINT" and columns["code"] == "INT"


def test_reads_name_the_table_columns_used_anywhere_in_the_query() -> None:
    _, result = _analyse("SELECT o.order_id FROM orders o JOIN customers c USING (order_id) WHERE c.country = 'FR'")
    assert result.reads == {("orders", "order_id"), ("customers", "order_id"),  # type: ignore[attr-defined]
                            ("customers", "country")}


def test_an_unknown_upstream_makes_the_output_unknown_not_guessed() -> None:
    _, result = _analyse("SELECT * FROM not_described")
    assert result.output is None  # type: ignore[attr-defined]
