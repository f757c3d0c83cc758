"""SQL text of names and values for every dialect flowdeck writes: the one place SQL is quoted.

flowdeck writes four dialects: DuckDB, the dialect of the run layer (steps, checks, the
warehouse's own statements; the Spark backend transpiles it), Spark (the Spark backend's own
statements), and PostgreSQL and SQLite (the database connectors). sqlglot's expression
builders are the reference for every function here:

- ``identifier(name, d)`` is ``exp.to_identifier(name, quoted=True).sql(d)``;
- ``table(name, schema, d)`` is ``exp.table_(name, db=schema, quoted=True).sql(d)``;
- ``string(text, d)`` is ``exp.Literal.string(text).sql(d)``;
- ``literal(value, d)`` is ``exp.convert(value).sql(d)`` for None, booleans, numbers, text and
  lists; a dict becomes a DuckDB struct (``{'key': value}``, what DuckDB's reader options take);
- ``date`` and ``timestamp`` write the typed literal a person writes (``DATE '2026-11-01'``),
  which sqlglot reads as exactly the ``CAST('2026-11-01' AS DATE)`` it writes for the value
  (SQLite has no typed literals: there, as in sqlglot, a date is its text).

Loading sqlglot costs about 100 ms a process, and a run or a validation of unchanged SQL must
not pay it, so this module writes the same text without importing sqlglot;
tests/unit/test_render.py proves the two equal with hypothesis, for every dialect and for
hostile names and values (quotes, backslashes, newlines, NUL, unicode).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

Dialect = Literal["duckdb", "spark", "postgres", "sqlite"]
DIALECTS: tuple[Dialect, ...] = ("duckdb", "spark", "postgres", "sqlite")
RUN_DIALECT: Dialect = "duckdb"
"""The dialect of all SQL the run layer writes (the Spark backend transpiles it)."""

NULL = "NULL"

# Spark strings are C-like: a backslash escapes, control characters are written as escapes
# (sqlglot's Spark dialect: \b \t \n \r by name, NUL as \0, SUB as \Z, the rest in octal).
_SPARK_ESCAPES: dict[int, str] = {code: f"\\{code:03o}" for code in (*range(0x01, 0x20), 0x7F)}
_SPARK_ESCAPES.update({0x00: "\\0", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x1A: "\\Z",
                       ord("\\"): "\\\\", ord("'"): "\\'"})
# The others follow the standard: a quote inside a string is doubled, nothing else changes.
_STANDARD_ESCAPES: dict[int, str] = {ord("'"): "''"}
_STRING_ESCAPES: dict[str, dict[int, str]] = {"duckdb": _STANDARD_ESCAPES, "spark": _SPARK_ESCAPES,
                                              "postgres": _STANDARD_ESCAPES, "sqlite": _STANDARD_ESCAPES}
_IDENTIFIER_QUOTES: dict[str, str] = {"duckdb": '"', "spark": "`", "postgres": '"', "sqlite": '"'}


def identifier(name: str, dialect: Dialect = RUN_DIALECT) -> str:
    """A quoted identifier (a table, column or schema name), exactly as written, case included."""
    quote = _IDENTIFIER_QUOTES[dialect]
    return quote + name.replace(quote, quote + quote) + quote


def identifiers(names: Iterable[str], *, of: str | None = None, dialect: Dialect = RUN_DIALECT) -> str:
    """Quoted identifiers separated by commas (a column list), each prefixed ``of.`` when given
    (``of`` is one of flowdeck's own table aliases, written as is)."""
    prefix = f"{of}." if of else ""
    return ", ".join(prefix + identifier(name, dialect) for name in names)


def table(name: str, schema: str | None = None, dialect: Dialect = RUN_DIALECT) -> str:
    """A table name, schema-qualified when ``schema`` is given, each part quoted."""
    quoted = identifier(name, dialect)
    return f"{identifier(schema, dialect)}.{quoted}" if schema else quoted


def string(text: str, dialect: Dialect = RUN_DIALECT) -> str:
    """A string literal holding exactly ``text``."""
    return "'" + text.translate(_STRING_ESCAPES[dialect]) + "'"


def boolean(value: bool, dialect: Dialect = RUN_DIALECT) -> str:
    """TRUE or FALSE (every dialect here spells them alike)."""
    return "TRUE" if value else "FALSE"


def number(value: int | float | Decimal, dialect: Dialect = RUN_DIALECT) -> str:
    """A numeric literal, as sqlglot's ``Literal.number`` writes it (a negative one is the negation
    of its absolute value, so ``-1e-07`` reads back as ``-1E-7``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise TypeError(f"not a number: {value!r}")
    text = str(value)
    try:
        parsed: int | Decimal = int(text)
    except ValueError:
        parsed = Decimal(text)
    try:
        negative = parsed < 0
    except ArithmeticError:  # a signalling or quiet Decimal NaN does not compare: written as it is
        return text
    if not negative:
        return text
    magnitude = str(abs(parsed))
    return "-" + (" " if magnitude.startswith("-") else "") + magnitude


def date(value: datetime.date, dialect: Dialect = RUN_DIALECT) -> str:
    """A date: ``DATE '2026-11-01'`` (in SQLite, which has no date type, its text)."""
    text = string(value.isoformat(), dialect)
    return text if dialect == "sqlite" else f"DATE {text}"


def timestamp(value: datetime.datetime, dialect: Dialect = RUN_DIALECT) -> str:
    """A timestamp: ``TIMESTAMP '2026-11-01 06:00:00'`` (an offset, when the value has one, is
    part of the text; in SQLite, its text)."""
    text = string(value.isoformat(sep=" "), dialect)
    return text if dialect == "sqlite" else f"TIMESTAMP {text}"


def literal(value: Any, dialect: Dialect = RUN_DIALECT) -> str:
    """The literal of a Python value: None, a boolean, a number, text, a date or timestamp, a list
    of those, or (DuckDB only) a dict as a struct."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NULL
    if isinstance(value, bool):
        return boolean(value, dialect)
    if isinstance(value, (int, float, Decimal)):
        return number(value, dialect)
    if isinstance(value, str):
        return string(value, dialect)
    if isinstance(value, datetime.datetime):
        return timestamp(value, dialect)
    if isinstance(value, datetime.date):
        return date(value, dialect)
    if isinstance(value, list):
        items = ", ".join(literal(item, dialect) for item in value)
        return f"[{items}]" if dialect == "duckdb" else f"ARRAY[{items}]" if dialect == "postgres" else f"ARRAY({items})"
    if isinstance(value, Mapping) and dialect == "duckdb":
        return "{" + ", ".join(f"{string(str(key))}: {literal(item)}" for key, item in value.items()) + "}"
    raise TypeError(f"no {dialect} literal for {type(value).__name__} {value!r}")
