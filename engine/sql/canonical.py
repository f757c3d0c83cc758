"""What change detection needs from a query: its canonical text, the calls that make it non-deterministic,
and the files it reads directly (``read_csv(...)``, ``FROM 'x.parquet'``).

The canonical text is sqlglot's rendering of the parsed query without comments, with identifiers
and keywords in one case, so whitespace, comments and letter case do not count as a change.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlglot import exp

# sqlglot's classes for the non-deterministic functions it knows by name (looked up by name: the set
# differs between sqlglot versions), and how a person writes each.
_VOLATILE_CLASSES = {
    "CurrentDate": "current_date", "CurrentTime": "current_time", "CurrentTimestamp": "current_timestamp",
    "CurrentDatetime": "current_datetime", "CurrentTimestampLTZ": "current_timestamp", "Localtime": "localtime",
    "Localtimestamp": "localtimestamp", "Rand": "random()", "Randn": "randn()", "Uuid": "uuid()",
}
# functions sqlglot leaves anonymous in DuckDB's dialect
_VOLATILE_NAMES = {"now", "get_current_timestamp", "get_current_time", "today", "transaction_timestamp",
                   "current_localtimestamp", "current_localtime", "random", "setseed", "uuid", "gen_random_uuid",
                   "uuidv4", "uuidv7", "nextval", "currval", "current_query", "txid_current"}
_FILE_FUNCTIONS = {"glob", "st_read", "sniff_csv", "parquet_metadata", "parquet_schema"}


def change_facts(tree: exp.Expr) -> dict[str, Any]:
    """The canonical text of a query, its non-deterministic calls and the files it reads directly."""
    return {"canonical": canonical_sql(tree), "volatile": volatile_calls(tree), "files": file_reads(tree)}


_FILE_SUFFIXES = {".csv", ".tsv", ".parquet", ".pq", ".json", ".jsonl", ".ndjson"}


def file_path_of(table: exp.Table) -> str | None:
    """The path of a bare ``FROM 'x.parquet'`` (DuckDB's replacement scan reads it), or None for a table.

    A step's output is a plain identifier, so a name with a dot, a slash or a glob and a data file's
    extension (``.csv``, ``.parquet``, ``.json``, ... compressed or not) is a file, not a table."""
    from sqlglot import exp

    source = table.this
    if not isinstance(source, exp.Identifier) or table.args.get("db") or not any(ch in source.name for ch in "./*"):
        return None
    suffixes = {suffix.lower() for suffix in PurePosixPath(source.name).suffixes}
    return source.name if suffixes & _FILE_SUFFIXES else None


def canonical_sql(tree: exp.Expr) -> str:
    """The query as sqlglot renders it for DuckDB: no comments, one spacing, identifiers normalised."""
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

    return normalize_identifiers(tree.copy(), dialect="duckdb").sql(dialect="duckdb", comments=False)


def volatile_calls(tree: exp.Expr) -> list[str]:
    """The calls whose result changes from one run to the next (``now()``, ``random()``...), as written."""
    from sqlglot import exp

    found: list[str] = []
    for node in tree.walk():
        if isinstance(node, exp.Anonymous):
            name = node.name.lower()
            label = f"{name}()" if name in _VOLATILE_NAMES else None
        else:
            label = _VOLATILE_CLASSES.get(type(node).__name__)
        if label and label not in found:
            found.append(label)
    return found


def file_reads(tree: exp.Expr) -> list[dict[str, Any]]:
    """The files the query reads by itself, one entry per path argument: ``{"path": text}`` for a literal,
    ``{"param": name}`` for a ``$parameter``, ``{"expr": sql}`` for anything else (unknown until run)."""
    from sqlglot import exp

    reads: list[dict[str, Any]] = []
    for node in tree.walk():
        if isinstance(node, exp.Table):
            path = file_path_of(node)
            if path is not None:
                reads.append({"path": path})
            continue
        if not isinstance(node, exp.Func) or not _reads_files(node):
            continue
        first = node.this if not isinstance(node, exp.Anonymous) and node.this is not None else \
            (node.expressions[0] if node.expressions else None)
        arguments = first.expressions if isinstance(first, exp.Array) else [first]
        for argument in arguments:
            if isinstance(argument, exp.Literal) and argument.is_string:
                reads.append({"path": argument.this})
            elif isinstance(argument, (exp.Placeholder, exp.Parameter)):
                reads.append({"param": argument.name})
            else:
                reads.append({"expr": argument.sql(dialect="duckdb") if argument is not None else "?"})
    return reads


def _reads_files(node: exp.Func) -> bool:
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        return name.startswith("read_") or name.endswith("_scan") or name in _FILE_FUNCTIONS
    return type(node).__name__.startswith("Read")
