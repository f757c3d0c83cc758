"""Files in and out of a warehouse: the ``FileRead`` of an extract's source, its format, DuckDB's
reader query of it, the one file writer, and making a rename durable.

Both backends use them: the DuckDB backend stages extract steps with ``reader_sql`` and exports
with ``write_file``; the Spark backend exports through ``write_file`` too (so the same data
gives the same file on either engine), and its lint types a pipeline's sources with ``file_read``
and ``reader_sql``. ``file_columns`` tells the columns a source will have without reading its rows
(validation's column checks). Nothing here loads DuckDB at import: ``write_file`` is handed the
connection to run on, ``file_columns`` opens its own in-memory one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowdeck.engine.backends.base import FileRead
from flowdeck.engine.errors import StepFailed
from flowdeck.engine.project.config.steps import FileSource
from flowdeck.engine.sql.params import bind_path_inside
from flowdeck.engine.sql.render import identifier, identifiers, literal, string

if TYPE_CHECKING:
    import duckdb

    from flowdeck.engine.project.project import Project

READERS = {"csv": "read_csv", "parquet": "read_parquet", "json": "read_json"}


def file_read(project: Project, step: str, source: FileSource, params: dict[str, Any]) -> FileRead:
    """The files an extract step's source names: a path or glob resolved in the project, or a path
    with a scheme (``s3a://``, ``hdfs://``: one only a Spark cluster reads) exactly as written."""
    pattern = bind_path_inside(source.path, params, project.root)
    path = pattern if "://" in pattern else str(project.resolve_path(pattern))
    return FileRead(paths=[path], format=source.format or file_format(Path(path), step),
                    options=dict(source.options), hive_partitioning=source.hive_partitioning,
                    filename=source.filename)


def format_of(path: Path | str) -> str | None:
    """The file format its extension names (csv, parquet, json), or None."""
    for suffix in reversed([suffix.lower() for suffix in Path(path).suffixes]):
        if suffix in (".csv", ".tsv"):
            return "csv"
        if suffix in (".parquet", ".pq"):
            return "parquet"
        if suffix in (".json", ".ndjson", ".jsonl"):
            return "json"
    return None


def file_format(path: Path, step: str) -> str:
    """The format of the file a step reads or writes, from its extension; a ``StepFailed`` when it names none."""
    found = format_of(path)
    if found is None:
        raise StepFailed(
            f"step `{step}`: cannot tell the file format of {path.name}",
            hint="set `format:` to csv, parquet or json",
        )
    return found


def reader_sql(read: FileRead) -> str:
    """The DuckDB query that reads ``read``'s files (read_csv / read_parquet / read_json with its options)."""
    options = dict(read.options)
    if read.hive_partitioning:
        options["hive_partitioning"] = True
    if read.filename:
        options["filename"] = True
    arguments = ", ".join([literal(read.paths), *(f"{identifier(key)} = {literal(value)}" for key, value in options.items())])
    return f"SELECT * FROM {READERS[read.format]}({arguments})"


def file_columns(read: FileRead) -> list[tuple[str, str]]:
    """The columns (name, DuckDB type) reading ``read`` gives, from the files' headers and metadata.

    DuckDB describes the reader's query: a CSV's header and a sample of its first rows (for the
    types), a Parquet file's footer, a JSON file's first records; the rows are not read. The
    connection is in memory, reaches only these files and loads no extension.
    """
    import duckdb

    connection = duckdb.connect(":memory:")
    try:
        # only these files are reachable, and nothing can change that (the paths went through the project's gate)
        connection.execute("SET allowed_paths = ?", [[str(path) for path in read.paths]])
        for setting in ("enable_external_access = false", "autoinstall_known_extensions = false",
                        "autoload_known_extensions = false", "lock_configuration = true"):
            connection.execute(f"SET {setting}")
        rows = connection.execute(f"DESCRIBE {reader_sql(read)}").fetchall()
    finally:
        connection.close()
    return [(str(row[0]), str(row[1])) for row in rows]


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


def fsync_directory(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX: the directory entry is data of the directory)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
