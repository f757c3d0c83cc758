"""Files in and out of a warehouse, in DuckDB's SQL: the reader query of a ``FileRead`` and the one file writer.

Both backends use them: the DuckDB backend stages extract steps with ``reader_sql`` and exports
with ``write_file``; the Spark backend exports through ``write_file`` too (so the same data
gives the same file on either engine), and its lint types a pipeline's sources with ``reader_sql``.
Neither loads DuckDB: ``write_file`` is handed the connection to run on.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowdeck.engine.backends.base import FileRead
from flowdeck.engine.sql.render import identifier, identifiers, literal, string

if TYPE_CHECKING:
    import duckdb

READERS = {"csv": "read_csv", "parquet": "read_parquet", "json": "read_json"}


def reader_sql(read: FileRead) -> str:
    """The DuckDB query that reads ``read``'s files (read_csv / read_parquet / read_json with its options)."""
    options = dict(read.options)
    if read.hive_partitioning:
        options["hive_partitioning"] = True
    if read.filename:
        options["filename"] = True
    arguments = ", ".join([literal(read.paths), *(f"{identifier(key)} = {literal(value)}" for key, value in options.items())])
    return f"SELECT * FROM {READERS[read.format]}({arguments})"


def write_file(cursor: duckdb.DuckDBPyConnection, relation: str, path: Path, file_format: str,
               options: dict[str, Any], *, order_by: list[str] | None = None) -> int:
    """COPY ``relation`` to exactly ``path``, rows sorted by ``order_by`` (every column when None,
    the relation's order when empty); return the row count."""
    settings = ", ".join([f"FORMAT {file_format}", *(f"{identifier(key)} {literal(value)}" for key, value in options.items())])
    if order_by is None:
        order = " ORDER BY ALL"
    else:
        order = f" ORDER BY {identifiers(order_by)}" if order_by else ""
    result = cursor.execute(f"COPY (SELECT * FROM {identifier(relation)}{order}) TO {string(str(path))} ({settings})").fetchone()
    return int(result[0]) if result else 0
