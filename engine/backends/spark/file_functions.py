"""DuckDB's file table functions in a query, as the file reads Spark's readers do the same way.

A transform may read files itself: ``read_csv('x.csv', header = true)``, ``read_csv_auto(...)``,
``read_parquet(['a.parquet', 'b.parquet'])``, ``read_json(..., columns = {...})``, or a bare
``FROM 'x.parquet'`` (DuckDB's replacement scan). Spark has no such table functions, so each
becomes a ``FileRead`` (the paths resolved as DuckDB resolves them: in the project), read by
the same Spark reader, with the same option checks (``sources``) and DuckDB's column types, as
an extract step's source; the caller registers it as a temporary view (``FileViews``) and the
query reads that view instead. An option Spark's reader cannot honour, or a path that is not a
string literal, is refused (rule ``file_function``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from sqlglot import exp

from flowdeck.engine.backends.base import FileRead
from flowdeck.engine.backends.files import format_of
from flowdeck.engine.backends.spark.context import TranslationContext
from flowdeck.engine.backends.spark.outputs import file_columns
from flowdeck.engine.backends.spark.sources import check_read_options
from flowdeck.engine.errors import SqlError
from flowdeck.engine.sql.canonical import file_path_of

# DuckDB's reader functions and the format each reads (read_ndjson: newline-delimited JSON)
READERS = {"read_csv": "csv", "read_csv_auto": "csv", "read_parquet": "parquet", "parquet_scan": "parquet",
           "read_json": "json", "read_json_auto": "json", "read_ndjson": "json", "read_ndjson_auto": "json"}
OTHER_READERS = {"read_json_objects", "read_ndjson_objects", "read_text", "read_blob", "read_xlsx", "sniff_csv"}


class FileViews(Protocol):
    """Where a query's file reads come from: a view per read, with its columns' types."""

    root: str  # the folder DuckDB resolves relative paths in (its file_search_path): the project

    def resolve(self, path: str) -> str:
        """A path as DuckDB finds it: relative to the project, or with a scheme as written."""
        ...

    def view(self, read: FileRead) -> tuple[str, dict[str, str]]:
        """The name of a view holding ``read``'s rows, and its columns' types (in the schema's dialect)."""
        ...


def resolve_path(root: str, path: str) -> str:
    """A path written in SQL as DuckDB finds it (its file_search_path is the project): relative to ``root``;
    absolute, or with a scheme (``s3a://``: one only a cluster reads), as written.

    Spark has no confinement of its own (DuckDB's is engine/backends/duckdb/confinement.py), so a path
    leading out of the project, or into a hidden folder of it (the ledger's, the secrets'), is refused here.
    """
    if "://" in path:
        return path
    joined = path if os.path.isabs(path) else os.path.join(root, path)
    project, target = Path(root).resolve(), Path(joined).resolve()
    parts = target.relative_to(project).parts if target.is_relative_to(project) else ()
    if not parts or parts[0].startswith("."):
        raise SqlError(f"the query reads {path}, which is not a file of the project",
                       hint="a query reads files inside the project folder (not its hidden folders); "
                       "read others with an extract step")
    return joined


class ProjectFiles:
    """The lint's file reads: types from DuckDB's reader (headers and a sample), no Spark involved."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)

    def resolve(self, path: str) -> str:
        """A path as DuckDB finds it."""
        return resolve_path(self.root, path)

    def view(self, read: FileRead) -> tuple[str, dict[str, str]]:
        """The view's name and DuckDB's types for its columns (none when DuckDB cannot read the files)."""
        columns = file_columns(read) or []
        return view_name(read), {column.name: column.duckdb_type for column in columns}


def view_name(read: FileRead) -> str:
    """The temporary view a file read is registered under (the same name for the same read)."""
    return "__fd_files_" + hashlib.sha256(repr(read).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FileCall:
    """A file read written in a query: the FROM item, and its read or why it cannot be read alike."""

    table: exp.Table
    name: str  # the function's name, or the path of a bare `FROM 'x.parquet'`
    read: FileRead | None
    problem: str | None = None


def file_calls(tree: exp.Expr, resolve: Callable[[str], str]) -> list[FileCall]:
    """Every file read written in ``tree``'s FROM clauses and joins."""
    calls: list[FileCall] = []
    for table in list(tree.find_all(exp.Table)):
        source = table.this
        bare = file_path_of(table)
        if bare is not None:
            calls.append(_call(table, bare, [bare], format_of(bare), {}, resolve))
            continue
        function = _function_name(source)
        if function in OTHER_READERS:
            calls.append(FileCall(table, function, None, f"{function} has no Spark reader"))
        elif function in READERS:
            arguments = _arguments(source)
            paths, options = _split(arguments)
            file_format = READERS[function]
            if function.startswith("read_ndjson"):
                options.setdefault("format", "newline_delimited")
            if paths is None:
                calls.append(FileCall(table, function, None, "the path must be a string literal or a list of them"))
            else:
                calls.append(_call(table, function, paths, file_format, options, resolve))
    return calls


def apply(tree: exp.Expr, files: FileViews | None, context: TranslationContext,
          schema: dict[str, dict[str, str]]) -> exp.Expr:
    """Replace each file read in ``tree`` by its view (adding the view's columns to ``schema``), or refuse it."""
    for call in file_calls(tree, files.resolve if files is not None else (lambda path: path)):
        if call.read is None or files is None:
            context.refuse("file_function", call.table, name=call.name if call.read is None else None,
                           detail=call.problem or "files are read only inside a project")
            continue
        name, columns = files.view(call.read)
        if columns:
            schema[name] = columns
        alias = call.table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(_implicit_alias(call)))
        call.table.replace(exp.Table(this=exp.to_identifier(name), alias=alias))
        context.rewrote("file_function")
    return tree


def _implicit_alias(call: FileCall) -> str:
    """The name DuckDB gives an unaliased file read: the function's, or a bare path's file name stem."""
    if call.name in READERS:
        return call.name
    return PurePosixPath(call.name).name.split(".")[0]


def _call(table: exp.Table, name: str, paths: list[str], file_format: str | None, options: dict[str, Any],
          resolve: Callable[[str], str]) -> FileCall:
    hive = bool(options.pop("hive_partitioning", False))
    filename = bool(options.pop("filename", False))
    if file_format is None:
        return FileCall(table, name, None, "cannot tell the file format from the path")
    problems = check_read_options(file_format, options)
    if problems:
        return FileCall(table, name, None, problems[0].message)
    read = FileRead(paths=[resolve(path) for path in paths], format=file_format, options=options,
                    hive_partitioning=hive, filename=filename)
    return FileCall(table, name, read)


def _function_name(source: exp.Expr) -> str | None:
    if isinstance(source, exp.ReadCSV):
        return "read_csv"
    if isinstance(source, exp.ReadParquet):
        return "read_parquet"
    if isinstance(source, exp.Anonymous):
        return source.name.lower()
    return None


def _arguments(source: exp.Expr) -> list[exp.Expr]:
    first = source.this if isinstance(source, exp.ReadCSV) else None
    return [*([first] if first is not None else []), *source.expressions]


def _split(arguments: list[exp.Expr]) -> tuple[list[str] | None, dict[str, Any]]:
    """The paths (the first argument: a string or a list of strings) and the named options."""
    paths: list[str] | None = None
    options: dict[str, Any] = {}
    for index, argument in enumerate(arguments):
        if isinstance(argument, (exp.EQ, exp.PropertyEQ)):
            options[argument.this.name.lower()] = _value(argument.expression)
        elif index == 0:
            if isinstance(argument, exp.Literal) and argument.is_string:
                paths = [argument.this]
            elif isinstance(argument, exp.Array) and all(
                    isinstance(item, exp.Literal) and item.is_string for item in argument.expressions):
                paths = [item.this for item in argument.expressions]
    return paths, options


def _value(node: exp.Expr) -> Any:
    """A reader option's value as the extract step's options hold it (text, number, bool, list, mapping)."""
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Literal):
        return node.this if node.is_string else (int(node.this) if node.is_int else float(node.this))
    if isinstance(node, exp.Array):
        return [_value(item) for item in node.expressions]
    if isinstance(node, exp.Struct):
        return {str(item.this.name): _value(item.expression) for item in node.expressions
                if isinstance(item, exp.PropertyEQ)}
    return node.sql(dialect="duckdb")
