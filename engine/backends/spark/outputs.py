"""A query's output columns as DuckDB names and types them, and the Spark types that hold the same.

A step must publish the same schema on both engines, but the engines type some results
differently (``len``, ``length``, ``strpos``, ``date_part``: BIGINT on DuckDB, INT on Spark;
``//``; a CSV reader's integers) and name unnamed columns differently (``count_star()`` vs
``count(1)``). So flowdeck asks DuckDB: an in-memory DuckDB creates empty tables with the
columns of the tables the query reads and binds the query over them (``CREATE TABLE … AS …
WITH NO DATA``: no row is read or computed, duplicate names get DuckDB's ``_1`` suffixes), and
the Spark query is wrapped so that each column gets DuckDB's name, and DuckDB's type cast to
its Spark equivalent (``wrap``). A type Spark cannot hold (INTERVAL, UUID, unsigned integers,
...) has no equivalent (``spark_type`` returns None): the lint refuses such an output.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import duckdb
from sqlglot import exp

from flowdeck.engine.backends.base import FileRead
from flowdeck.engine.backends.files import reader_sql
from flowdeck.engine.sql.analysis import statement_text
from flowdeck.engine.sql.render import identifier

DType = exp.DType
# DuckDB types with a Spark type that holds exactly the same values, written as sqlglot writes them for Spark
_SAME = {DType.TINYINT, DType.SMALLINT, DType.INT, DType.BIGINT, DType.FLOAT, DType.DOUBLE, DType.DECIMAL,
         DType.BOOLEAN, DType.DATE, DType.TEXT, DType.VARCHAR, DType.VARBINARY, DType.BINARY}
_TIMESTAMPS = {DType.TIMESTAMP, DType.TIMESTAMPNTZ}  # DuckDB's TIMESTAMP: microseconds, no time zone
_PROBE = "__fd_output_columns"

_lock = threading.Lock()
_connection: duckdb.DuckDBPyConnection | None = None  # opening one costs more than the binding itself


@dataclass(frozen=True)
class OutputColumn:
    """One output column as DuckDB gives it: its name and its type (DuckDB's spelling)."""

    name: str
    duckdb_type: str

    @property
    def spark_type(self) -> str | None:
        """The Spark type holding the same values, or None when Spark has none."""
        return spark_type(self.duckdb_type)


def duckdb_columns(sql: str, schema: dict[str, dict[str, str]], schema_dialect: str = "duckdb", *,
                   search_path: str | None = None) -> list[OutputColumn] | None:
    """The columns DuckDB gives ``sql`` over tables of ``schema`` (table → column → type in
    ``schema_dialect``), or None when DuckDB cannot bind it (a table or type it does not know).
    Files the query reads itself are found in ``search_path`` (the project), as a run finds them."""
    with _lock:
        connection = _scratch()
        connection.execute("SET file_search_path = ?", [search_path or ""])
        connection.execute("BEGIN TRANSACTION")
        try:
            for table, columns in schema.items():
                if table == _PROBE:
                    continue
                try:
                    definition = ", ".join(f"{identifier(name)} {_duckdb_type(kind, schema_dialect)}"
                                           for name, kind in columns.items())
                    connection.execute(f"CREATE TABLE {identifier(table)} ({definition})")
                except (duckdb.Error, ValueError):
                    continue  # a type DuckDB cannot hold: binding a query that reads it fails, as it should
            connection.execute(f"CREATE TABLE {_PROBE} AS {statement_text(sql)}\nWITH NO DATA")
            rows = connection.execute(f"DESCRIBE {_PROBE}").fetchall()
        except duckdb.Error:
            return None
        finally:
            connection.execute("ROLLBACK")
    return [OutputColumn(name=str(row[0]), duckdb_type=str(row[1])) for row in rows]


def file_columns(read: FileRead) -> list[OutputColumn] | None:
    """The columns DuckDB's reader gives ``read``'s files (reading their headers and a sample, as a DuckDB
    extract does), or None when DuckDB cannot read them (a path with a scheme: only the cluster sees it)."""
    if any("://" in path for path in read.paths):
        return None
    with _lock:
        try:
            rows = _scratch().execute(f"DESCRIBE {reader_sql(read)}").fetchall()
        except duckdb.Error:
            return None
    return [OutputColumn(name=str(row[0]), duckdb_type=str(row[1])) for row in rows]


def _scratch() -> duckdb.DuckDBPyConnection:
    """The in-memory DuckDB the bindings run in (the caller holds ``_lock``)."""
    global _connection
    if _connection is None:
        _connection = duckdb.connect(":memory:")
    return _connection


def _duckdb_type(kind: str, dialect: str) -> str:
    """A column type of ``dialect`` in DuckDB's spelling."""
    if dialect == "duckdb":
        return kind
    try:
        return exp.DataType.build(kind, dialect=dialect).sql("duckdb")
    except Exception as error:  # sqlglot's ParseError and kin: a type it cannot read
        raise ValueError(kind) from error


def spark_type(duckdb_type: str) -> str | None:
    """The Spark type holding exactly the values of ``duckdb_type``; None when Spark has none.

    One exception, documented: DuckDB's HUGEINT (an integer sum) becomes BIGINT, Spark's widest
    integer, whose sums fail loudly on overflow."""
    try:
        built = exp.DataType.build(duckdb_type, dialect="duckdb")
    except Exception:
        return None
    return _spark(built)


def _spark(kind: exp.DataType) -> str | None:
    this = kind.this
    if this in _SAME:
        return kind.sql("spark")
    if this in _TIMESTAMPS:
        return "TIMESTAMP_NTZ"
    if this == DType.INT128:
        return "BIGINT"
    if this == DType.ARRAY and not kind.args.get("values") and len(kind.expressions) == 1:
        element = _spark(kind.expressions[0])
        return f"ARRAY<{element}>" if element else None
    if this == DType.MAP and len(kind.expressions) == 2:
        key, value = (_spark(part) for part in kind.expressions)
        return f"MAP<{key}, {value}>" if key and value else None
    if this == DType.STRUCT and kind.expressions:
        fields = []
        for field in kind.expressions:
            if not isinstance(field, exp.ColumnDef) or field.args.get("kind") is None:
                return None
            inner = _spark(field.args["kind"])
            if inner is None:
                return None
            fields.append(f"{identifier(field.name, 'spark')}: {inner}")
        return f"STRUCT<{', '.join(fields)}>"
    return None


def same_type(duckdb_type: str, spark: str) -> bool:
    """Whether a Spark column type (``simpleString``) is the one flowdeck gives a DuckDB column type."""
    expected = spark_type(duckdb_type)
    try:
        return expected is not None and exp.DataType.build(expected, dialect="spark") == exp.DataType.build(
            spark, dialect="spark")
    except Exception:
        return False


def wrap(spark_sql: str, columns: list[OutputColumn]) -> str:
    """``spark_sql`` with its columns renamed (by position) and cast to DuckDB's names and types."""
    inner = [identifier(f"__fd_c{index}", "spark") for index in range(len(columns))]
    projections = []
    for name, column in zip(inner, columns):
        target = column.spark_type
        value = f"CAST({name} AS {target})" if target else name
        projections.append(f"{value} AS {identifier(column.name, 'spark')}")
    return f"SELECT {', '.join(projections)} FROM (\n{spark_sql}\n) AS __fd_output({', '.join(inner)})"
