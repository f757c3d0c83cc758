"""A SQL unit test's rows as DuckDB SQL (engine/operations/sql_tests/fixtures.py): the types read from the values."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from flowdeck.engine.errors import Location
from flowdeck.engine.operations.sql_tests.definitions import TableRows
from flowdeck.engine.operations.sql_tests.fixtures import rows_select


def loaded(rows: list[dict[str, Any]], columns: list[str], types: dict[str, str] | None = None) -> duckdb.DuckDBPyRelation:
    table = TableRows(name="t", columns=columns, rows=rows, csv=None, types=types or {}, location=Location(Path("t.yaml")))
    connection = duckdb.connect()
    connection.execute(f"CREATE TABLE t AS {rows_select(table)}")
    return connection.sql("SELECT * FROM t")


def test_each_column_gets_the_type_of_its_values() -> None:
    relation = loaded([
        {"id": 1, "price": 2, "paid": True, "day": date(2026, 11, 1), "at": datetime(2026, 11, 1, 6), "name": "a",
         "nothing": None, "mixed": 1, "zoned": datetime(2026, 11, 1, 6, tzinfo=timezone.utc)},
        {"id": 2, "price": 2.5, "paid": None, "day": None, "at": None, "name": "it's", "mixed": "x"},
    ], ["id", "price", "paid", "day", "at", "name", "nothing", "mixed", "zoned"])
    assert [str(kind) for kind in relation.types] == ["BIGINT", "DOUBLE", "BOOLEAN", "DATE", "TIMESTAMP", "VARCHAR",
                                                      "VARCHAR", "VARCHAR", "TIMESTAMP WITH TIME ZONE"]
    assert relation.fetchall()[1][:6] == (2, 2.5, None, None, None, "it's")  # a column a row leaves out is null


def test_types_override_and_name_the_columns_of_an_empty_table() -> None:
    relation = loaded([{"amount": 1.5}], ["amount"], {"amount": "DECIMAL(10,2)"})
    assert [str(kind) for kind in relation.types] == ["DECIMAL(10,2)"]
    empty = loaded([], ["id", "day"], {"id": "INTEGER", "day": "DATE"})
    assert [str(kind) for kind in empty.types] == ["INTEGER", "DATE"] and empty.fetchall() == []


def test_column_names_are_matched_ignoring_case_and_quoted() -> None:
    relation = loaded([{"Order Id": 1}, {"order id": 2}], ["Order Id"])
    assert relation.columns == ["Order Id"] and relation.fetchall() == [(1,), (2,)]
