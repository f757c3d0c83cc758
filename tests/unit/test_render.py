"""engine.sql.render writes exactly the SQL text sqlglot's expression builders write, without loading sqlglot.

Property tests (hypothesis) for every dialect, over hostile names and values: quotes of every
kind, backslashes, newlines, NUL and other control characters, unicode. The literals also go
through real engines (DuckDB, SQLite) and come back unchanged.
"""

from __future__ import annotations

import datetime
import re
import sqlite3
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from flowdeck.engine.sql import render
from tests.conftest import REPO_ROOT

HOSTILE = ["'", "''", '"', "`", "\\", "\\'", "\n", "\r\n", "\t", "\x00", "\x1a", "\x7f", "é", "ß", "🦆", "--", "/*", ";",
           "$1", "?", "%", "\u2028", "\ufeff"]
texts = st.text(alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from("'\"`\\\n\r\t\x00\x1a")), max_size=40) | \
    st.lists(st.sampled_from(HOSTILE), max_size=8).map("".join)
dialects = st.sampled_from(render.DIALECTS)
numbers = st.integers() | st.floats() | st.decimals(allow_nan=True, allow_infinity=True)
scalars = st.none() | st.booleans() | numbers | texts
dates = st.dates(min_value=datetime.date(1000, 1, 1))  # sqlglot writes a date with strftime, which pads no year below 1000
timestamps = st.datetimes(min_value=datetime.datetime(1000, 1, 1)) | st.datetimes(
    min_value=datetime.datetime(1000, 1, 1), timezones=st.sampled_from([datetime.timezone.utc,
                                                                         datetime.timezone(datetime.timedelta(hours=-5))]))
PROPERTY = settings(max_examples=300, deadline=None)


@PROPERTY
@given(name=texts, dialect=dialects)
def test_identifiers_are_what_sqlglot_writes(name: str, dialect: render.Dialect) -> None:
    assert render.identifier(name, dialect) == exp.to_identifier(name, quoted=True).sql(dialect)


@PROPERTY
@given(name=texts.filter(bool), schema=st.none() | texts, dialect=dialects)
def test_table_names_are_what_sqlglot_writes(name: str, schema: str | None, dialect: render.Dialect) -> None:
    assert render.table(name, schema, dialect) == exp.table_(name, db=schema, quoted=True).sql(dialect)


@PROPERTY
@given(text=texts, dialect=dialects)
def test_strings_are_what_sqlglot_writes(text: str, dialect: render.Dialect) -> None:
    assert render.string(text, dialect) == exp.Literal.string(text).sql(dialect)


@PROPERTY
@given(value=numbers, dialect=dialects)
def test_numbers_are_what_sqlglot_writes(value: int | float | Decimal, dialect: render.Dialect) -> None:
    assert render.number(value, dialect) == exp.Literal.number(value).sql(dialect)


@PROPERTY
@given(value=scalars | st.lists(scalars, max_size=5), dialect=dialects)
def test_literals_are_what_sqlglot_writes(value: object, dialect: render.Dialect) -> None:
    assert render.literal(value, dialect) == exp.convert(value).sql(dialect)


@PROPERTY
@given(value=st.dictionaries(texts, scalars | st.lists(scalars, max_size=3), max_size=4))
def test_dicts_are_duckdb_structs_as_sqlglot_writes_them(value: dict[str, object]) -> None:
    struct = exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier(key, quoted=True), expression=exp.convert(item))
                                     for key, item in value.items()])
    assert render.literal(value, "duckdb") == struct.sql("duckdb")


@PROPERTY
@given(value=dates, dialect=dialects)
def test_dates_read_back_as_the_cast_sqlglot_writes(value: datetime.date, dialect: render.Dialect) -> None:
    written = render.date(value, dialect)
    assert sqlglot.parse_one(written, read=dialect).sql(dialect) == exp.convert(value).sql(dialect)


@PROPERTY
@given(value=timestamps, dialect=dialects)
def test_timestamps_read_back_as_the_cast_sqlglot_writes(value: datetime.datetime, dialect: render.Dialect) -> None:
    written = render.timestamp(value, dialect)
    text = exp.Literal.string(value.isoformat(sep=" "))
    # the run layer's timestamps are TIMESTAMP, with or without an offset in the text (DuckDB applies it)
    expected = text if dialect == "sqlite" else exp.cast(text, exp.DataType.build("TIMESTAMP", dialect=dialect))
    assert sqlglot.parse_one(written, read=dialect).sql(dialect) == expected.sql(dialect)
    if value.tzinfo is None:
        assert sqlglot.parse_one(written, read=dialect).sql(dialect) == exp.convert(value).sql(dialect)


ENGINES = {"duckdb": duckdb.connect, "sqlite": lambda: sqlite3.connect(":memory:")}


@pytest.mark.parametrize("dialect", sorted(ENGINES))
@PROPERTY
@given(text=texts.filter(lambda text: "\x00" not in text))  # DuckDB's SQL text ends at a NUL; sqlite3 refuses one
def test_engines_read_back_the_strings_and_names_they_are_given(dialect: render.Dialect, text: str) -> None:
    connection = ENGINES[dialect]()
    try:
        name = text or "x"  # an empty name is no name
        cursor = connection.execute(f"SELECT {render.string(text, dialect)} AS {render.identifier(name, dialect)}")
        assert cursor.fetchone() == (text,)
        assert cursor.description[0][0] == name
    finally:
        connection.close()


def test_a_value_render_cannot_write_is_refused() -> None:
    with pytest.raises(TypeError):
        render.literal({"a": 1}, "spark")
    with pytest.raises(TypeError):
        render.number(True)  # type: ignore[arg-type]


def test_rendering_does_not_load_sqlglot() -> None:
    from tests.unit.test_boundaries import _modules_after

    loaded = _modules_after("from flowdeck.engine.sql import render\n"
                            "render.literal([1, 'a', None]); render.identifier('x', 'spark')")
    assert not {name for name in loaded if name.split(".")[0] == "sqlglot"}
# Hand quoting: escaping a quote character by doubling or backslashing it, or having sqlglot write
# one identifier or literal as text. Only render.py may do either.
_HAND_QUOTING = re.compile(r"""\.replace\(\s*(['"])\\?['"`]\1\s*,|to_identifier\([^)]*\)\.sql\(|Literal\.string\([^)]*\)\.sql\(""")


def test_only_render_quotes_sql_by_hand() -> None:
    offenders = []
    for folder in ("engine", "state", "console"):
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            if path == REPO_ROOT / "engine" / "sql" / "render.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if _HAND_QUOTING.search(line):
                    offenders.append(f"{Path(path).relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    assert not offenders, "quote through engine.sql.render:\n" + "\n".join(offenders)
