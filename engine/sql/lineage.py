"""Column-level lineage of one query with sqlglot: which upstream table columns feed each output column.

Stars are expanded and columns qualified against the schemas of the tables the query reads
(from the warehouse or the DAG), so lineage holds through ``SELECT *``, CTEs, joins and
aliases. Used by column masking (to follow a masked column under another name) and by
``flowdeck lineage``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlglot import exp
from sqlglot.lineage import lineage
from sqlglot.optimizer.qualify import qualify

from flowdeck.engine.sql.analysis import DIALECT

SourceColumn = tuple[str, str]  # (table, column), lower-case


def qualified(query: exp.Query, schema: Mapping[str, Sequence[str]]) -> exp.Query:
    """``query`` with stars expanded and every column prefixed by its source (a copy)."""
    mapping = _mapping(schema)
    return qualify(query.copy(), schema=mapping, dialect=DIALECT, validate_qualify_columns=False,
                   quote_identifiers=True)


def output_columns(query: exp.Query, schema: Mapping[str, Sequence[str]]) -> list[str]:
    """The names of ``query``'s output columns, stars expanded (``*`` stays when a schema is unknown)."""
    return [select.alias_or_name for select in qualified(query, schema).selects]


def column_sources(query: exp.Query, schema: Mapping[str, Sequence[str]]) -> dict[str, set[SourceColumn]] | None:
    """Output column (lower-case) → the upstream (table, column) pairs it derives from.

    ``None`` when sqlglot cannot trace this query (the caller decides what unknown means).
    """
    mapping = _mapping(schema)
    try:
        tree = qualified(query, schema)
        nodes = lineage(None, tree, schema=mapping, dialect=DIALECT, copy=False)
    except Exception:  # sqlglot cannot scope every query (e.g. some table functions)
        return None
    if not isinstance(nodes, dict):
        return None
    result: dict[str, set[SourceColumn]] = {}
    for column, node in nodes.items():
        leaves: set[SourceColumn] = set()
        for part in node.walk():
            source = part.source
            if part.downstream or not isinstance(source, exp.Table) or not isinstance(source.this, exp.Identifier):
                continue
            leaves.add((source.name.lower(), part.name.split(".")[-1].strip('"').lower()))
        result[column.strip('"').lower()] = leaves
    return result


def _mapping(schema: Mapping[str, Sequence[str]]) -> dict[str, object]:
    """``schema`` as sqlglot's optimizer takes it: table → {column: type}, types unknown."""
    return {table.lower(): {column: "UNKNOWN" for column in columns} for table, columns in schema.items()}
