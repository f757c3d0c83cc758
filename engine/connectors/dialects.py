"""What differs between the databases flowdeck connects to: which values become which literals,
the SQL of a load, and which Arrow types each can take.

Names and values are written in each database's SQL by ``engine.sql.render``; everything else
(transactions, streaming, markers) is written once against ``Dialect``.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from flowdeck.engine.errors import StepFailed
from flowdeck.engine.sql import render

MARKER_TABLE = "_flowdeck_loads"
LOAD_STAGE_PREFIX = "__fd_load_"
SQLITE_BATCH_ROWS = 64 * 1024  # the SQLite driver's default (1,024) makes reading several times slower
NUMERIC_MAX_PRECISION = 38  # what Arrow's decimal128 (and DuckDB's DECIMAL) hold
NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
                 "UHUGEINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL")  # DuckDB type names of numbers


@dataclass(frozen=True)
class QualifiedName:
    """A table name as the user wrote it (``orders`` or ``sales.orders``), split into its parts."""

    schema: str | None
    name: str

    @classmethod
    def parse(cls, text: str) -> QualifiedName:
        """``schema.table`` or ``table``; names are used exactly as written (case included)."""
        schema, dot, name = text.strip().rpartition(".")
        return cls(schema=schema if dot else None, name=name)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


class Dialect:
    """The SQL and types of one kind of database."""

    name = "sql"
    sql: render.Dialect  # the dialect ``engine.sql.render`` writes names and values in

    def quote(self, identifier: str) -> str:
        """A quoted identifier."""
        return render.identifier(identifier, self.sql)

    def table(self, table: QualifiedName) -> str:
        """A table reference, each part quoted."""
        return render.table(table.name, table.schema, self.sql)

    def quoted_table(self, text: str) -> str:
        """A table name as the user wrote it (``orders`` or ``sales.orders``), each part quoted."""
        return self.table(QualifiedName.parse(text))

    def literal(self, value: Any) -> str:
        """A value written into SQL (watermarks: values read back from the warehouse, never user text):
        NULL, a boolean, a number, else its text."""
        if value is None or isinstance(value, bool):
            return render.literal(value, self.sql)
        if isinstance(value, (int, float, decimal.Decimal)):
            return render.number(value, self.sql)
        return render.string(str(value), self.sql)

    def stored_literal(self, value: str, value_type: str) -> str:
        """A watermark as the ledger keeps it (its text and its warehouse type), written into this database's SQL."""
        return self.literal(value)

    def marker_table(self, target: QualifiedName) -> QualifiedName:
        """Where load markers of ``target`` live: beside it, in the same schema."""
        return QualifiedName(target.schema, MARKER_TABLE)

    def create_marker_table(self, markers: QualifiedName) -> str:
        """DDL of the load marker table (one row per data version loaded by a step into a table)."""
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table(markers)} ("
            "load_id TEXT NOT NULL, pipeline TEXT NOT NULL, step TEXT NOT NULL, target TEXT NOT NULL, "
            f"run_id TEXT NOT NULL, mode TEXT NOT NULL, rows BIGINT NOT NULL, loaded_at {self.timestamp_default}, "
            "PRIMARY KEY (pipeline, step, target, load_id))"
        )

    timestamp_default = "TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP"

    def table_exists(self, table: QualifiedName) -> str:
        """A query returning one row when ``table`` exists (a table or a view)."""
        raise NotImplementedError

    def empty(self, table: QualifiedName) -> str:
        """The statement that removes every row of ``table`` inside a transaction."""
        return f"DELETE FROM {self.table(table)}"

    def delete_matching(self, table: QualifiedName, stage: QualifiedName, key: list[str]) -> str:
        """Remove the rows of ``table`` whose key is among the staged rows (the first half of an upsert).

        A row-value ``IN`` is a hashed semi-join in PostgreSQL and uses an automatic index in
        SQLite, so neither scans the stage once per target row.
        """
        columns = render.identifiers(key, dialect=self.sql)
        return (f"DELETE FROM {self.table(table)} WHERE ({columns}) IN "
                f"(SELECT {columns} FROM {self.table(stage)})")

    def insert_from(self, table: QualifiedName, stage: QualifiedName, columns: list[str]) -> str:
        """Insert every staged row into ``table`` (the second half of an upsert)."""
        names = render.identifiers(columns, dialect=self.sql)
        return f"INSERT INTO {self.table(table)} ({names}) SELECT {names} FROM {self.table(stage)}"

    def stage_name(self, tag: str) -> QualifiedName:
        """The temporary table an upsert stages its rows in (session-private, gone on disconnect)."""
        return QualifiedName(None, LOAD_STAGE_PREFIX + tag)

    def statement_options(self) -> dict[str, str]:
        """ADBC statement options for reading."""
        return {}

    def version_query(self) -> str:
        """A query returning the server's name and version in one value."""
        raise NotImplementedError

    def missing_privilege(self, table: QualifiedName, mode: str | None) -> str | None:
        """A query returning true when the user lacks a privilege a load in ``mode`` needs beyond
        DELETE and INSERT (None: nothing more to check)."""
        return None

    def source_field(self, field: pa.Field) -> pa.DataType | None:
        """The Arrow type a column read from this database should become (None: keep it)."""
        return None

    def target_field(self, field: pa.Field) -> pa.DataType | None:
        """The Arrow type a column must become for this database to store it (None: keep it)."""
        if pa.types.is_struct(field.type) or pa.types.is_map(field.type):
            raise _cannot_store(field, self)
        return None


class PostgreSQL(Dialect):
    """PostgreSQL, through adbc-driver-postgresql (libpq; COPY in binary for reads and writes)."""

    name = "postgresql"
    sql: render.Dialect = "postgres"
    timestamp_default = "TIMESTAMPTZ NOT NULL DEFAULT now()"

    def literal(self, value: Any) -> str:
        # An untyped string literal takes the type of the column it is compared with, so a
        # timestamp, date, numeric or text watermark compares as its own type.
        if value is None or isinstance(value, bool):
            return super().literal(value)
        return render.string(str(value), self.sql)

    def table_exists(self, table: QualifiedName) -> str:
        schema = self.literal(table.schema) if table.schema else "current_schema()"
        return ("SELECT 1 FROM information_schema.tables "
                f"WHERE table_schema = {schema} AND table_name = {self.literal(table.name)}")

    def empty(self, table: QualifiedName) -> str:
        # TRUNCATE is transactional in PostgreSQL and does not leave a million dead rows behind;
        # readers of the table wait for the load's commit instead of seeing the old rows.
        return f"TRUNCATE {self.table(table)}"

    def stage_name(self, tag: str) -> QualifiedName:
        return QualifiedName("pg_temp", LOAD_STAGE_PREFIX + tag)

    def version_query(self) -> str:
        return "SELECT 'PostgreSQL ' || current_setting('server_version')"

    def missing_privilege(self, table: QualifiedName, mode: str | None) -> str | None:
        if mode != "replace":
            return None
        return f"SELECT NOT has_table_privilege({self.literal(self.table(table))}, 'TRUNCATE')"

    def source_field(self, field: pa.Field) -> pa.DataType | None:
        kind = field.type
        # json and uuid arrive as Arrow's canonical extension types, which DuckDB reads as JSON and
        # UUID; types without an Arrow equivalent arrive "opaque", as their text.
        if not isinstance(kind, pa.OpaqueType):
            return None
        # numeric(p, s) becomes an exact decimal; an unconstrained numeric has no fixed scale
        # (and numeric(p > 38) does not fit one) and becomes a double.
        if kind.type_name == "numeric":
            metadata = field.metadata or {}
            typmod = int(metadata.get(b"POSTGRESQL:typmod", b"-1") or -1)
            if typmod >= 4:
                precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
                if precision <= NUMERIC_MAX_PRECISION:
                    return pa.decimal128(precision, scale)
            return pa.float64()
        return kind.storage_type


class SQLite(Dialect):
    """SQLite, through adbc-driver-sqlite (a file on this machine)."""

    name = "sqlite"
    sql: render.Dialect = "sqlite"

    def stored_literal(self, value: str, value_type: str) -> str:
        # SQLite compares a number with text as text (every number is smaller): keep numbers bare
        if value_type.upper().startswith(NUMERIC_TYPES):
            try:
                float(value)
                return value
            except ValueError:
                pass
        return self.literal(value)

    def table_exists(self, table: QualifiedName) -> str:
        master = f"{self.quote(table.schema)}.sqlite_master" if table.schema else "sqlite_master"
        return f"SELECT 1 FROM {master} WHERE type IN ('table', 'view') AND name = {self.literal(table.name)}"

    def stage_name(self, tag: str) -> QualifiedName:
        return QualifiedName("temp", LOAD_STAGE_PREFIX + tag)

    def version_query(self) -> str:
        return "SELECT 'SQLite ' || sqlite_version()"

    def statement_options(self) -> dict[str, str]:
        return {"adbc.sqlite.query.batch_rows": str(SQLITE_BATCH_ROWS)}

    def target_field(self, field: pa.Field) -> pa.DataType | None:
        kind = field.type
        if pa.types.is_decimal(kind):
            return pa.float64()  # SQLite has no decimal type: numbers are integers or doubles
        if pa.types.is_time(kind) or pa.types.is_interval(kind) or pa.types.is_duration(kind):
            return pa.string()
        if pa.types.is_dictionary(kind):
            return kind.value_type
        if pa.types.is_nested(kind):
            raise _cannot_store(field, self)
        return None


def _cannot_store(field: pa.Field, dialect: Dialect) -> StepFailed:
    return StepFailed(
        f"column `{field.name}` is a {field.type}, which flowdeck cannot write to {dialect.name}",
        hint=f"turn it into text in a transform first, e.g. to_json({field.name}) AS {field.name}",
    )


DIALECTS: dict[str, Dialect] = {"postgresql": PostgreSQL(), "sqlite": SQLite()}


def adapted_schema(schema: pa.Schema, choose: Any) -> pa.Schema | None:
    """``schema`` with the types ``choose(field)`` asks for; None when nothing changes."""
    changed = False
    fields = []
    for field in schema:
        wanted = choose(field)
        if wanted is not None and wanted != field.type:
            changed = True
            fields.append(pa.field(field.name, wanted, nullable=field.nullable))
        else:
            fields.append(field.remove_metadata())
    return pa.schema(fields) if changed else None


def adapt_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Cast ``batch`` to ``schema`` (extension columns are cast from their storage)."""
    columns = []
    for column, field in zip(batch.columns, schema):
        if isinstance(column.type, pa.BaseExtensionType):
            column = column.storage
        columns.append(column if column.type == field.type else column.cast(field.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)
