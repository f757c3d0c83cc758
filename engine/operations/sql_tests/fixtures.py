"""A test's rows as a DuckDB-dialect SELECT (what a backend loads as a table): each column typed as ``types:`` says,
else by the values written.

A column's type, unless ``types:`` gives it, is read from its values: all integers → BIGINT, numbers
→ DOUBLE, true/false → BOOLEAN, dates → DATE, timestamps → TIMESTAMP (TIMESTAMPTZ with an offset),
text → VARCHAR, a mix of kinds or only nulls → VARCHAR; lists and mappings are left to the engine.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flowdeck.engine.operations.sql_tests.definitions import TableRows
from flowdeck.engine.sql.render import identifier, identifiers, literal, string

FALLBACK_TYPE = "VARCHAR"


def value_type(value: Any) -> str | None:
    """The DuckDB type of one value as YAML gives it (None for a null, a list or a mapping)."""
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT"
    if isinstance(value, (float, Decimal)):
        return "DOUBLE"
    if isinstance(value, datetime):
        return "TIMESTAMPTZ" if value.tzinfo is not None else "TIMESTAMP"
    if isinstance(value, date):
        return "DATE"
    if isinstance(value, str):
        return "VARCHAR"
    return None


def column_type(values: list[Any]) -> str | None:
    """The type of a column from its values (see the module's docstring); None: left to the engine."""
    kinds = {value_type(value) for value in values if value is not None}
    if any(isinstance(value, (list, dict)) for value in values):
        return None
    if not kinds:
        return FALLBACK_TYPE
    if kinds == {"BIGINT", "DOUBLE"}:
        return "DOUBLE"
    if len(kinds) == 1:
        return kinds.pop()
    return FALLBACK_TYPE


def rows_select(table: TableRows) -> str:
    """The SELECT giving ``table``'s rows (inline, or read from its CSV file) with their types."""
    if table.csv is not None:
        options = f", types = {literal(table.types)}" if table.types else ""
        return f"SELECT * FROM read_csv({string(str(table.csv))}, header = true{options})"
    rows = table.rows or []
    types: dict[str, str | None] = {}
    for column in table.columns:
        values = [_get(row, column) for row in rows]
        types[column] = table.types.get(column.lower()) or column_type(values)
    if not rows:  # an empty table: its columns and types, no rows
        typed = ", ".join(f"CAST(NULL AS {types[column] or FALLBACK_TYPE}) AS {identifier(column)}"
                          for column in table.columns)
        return f"SELECT {typed} LIMIT 0"
    tuples = ",\n  ".join(
        "(" + ", ".join(_typed(_get(row, column), types[column]) for column in table.columns) + ")" for row in rows
    )
    return f"SELECT * FROM (VALUES\n  {tuples}\n) AS fixture({identifiers(table.columns)})"


def _get(row: dict[str, Any], column: str) -> Any:
    """The value of ``column`` in ``row`` (names compared ignoring case, as SQL does); a column left out is null."""
    if column in row:
        return row[column]
    lowered = column.lower()
    return next((value for name, value in row.items() if str(name).lower() == lowered), None)


def _typed(value: Any, type_name: str | None) -> str:
    text = literal(value)
    return f"CAST({text} AS {type_name})" if type_name else text
