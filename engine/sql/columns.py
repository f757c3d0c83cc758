"""The columns of one query: which it reads, which it outputs (with types), and which do not exist.

The query is qualified by sqlglot against the columns of the tables it reads (``optimizer.qualify``
with stars, ``EXCLUDE`` / ``REPLACE``, ``USING`` and DuckDB's lateral aliases expanded), then each
column reference is looked up in the sources of its scope and of the scopes around it (a
correlated subquery). A reference is reported only when every source it could come from has a
known schema: a table whose columns are unknown (a file not there yet, a table function such as
``read_csv``, a Python step), a ``SELECT *`` over one, or an expression DuckDB names by itself
makes the whole scope unknown, and nothing is guessed. PIVOT / UNPIVOT queries are not checked.

Names are compared lower-case: DuckDB's identifiers are case-insensitive, quoted or not.
"""
# sqlglot is imported inside the functions, so that reading a cached analysis never loads it

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowdeck.engine.sql.analysis import DIALECT

if TYPE_CHECKING:  # sqlglot is imported where it is used: the types below are read without it (cached analyses)
    from sqlglot import exp
    from sqlglot.optimizer.scope import Scope
    from sqlglot.schema import MappingSchema

UNKNOWN_TYPE = ""
# DuckDB's own columns of every table, read without being declared
_PSEUDO_COLUMNS = frozenset({"rowid"})
# the names sqlglot gives outputs it cannot name (DuckDB names them after the expression: `count_star()`)
_UNNAMED = re.compile(r"_col_\d+")


@dataclass(frozen=True)
class TableColumns:
    """The columns of a table, in order: lower-case name → DuckDB type (``""`` when not known).

    ``complete`` is False when the table has more columns than the ones listed (an expression DuckDB
    names by itself): references to it are then not checked, since any name might exist.
    """

    columns: Mapping[str, str]
    complete: bool = True

    def names(self) -> list[str]:
        """The column names, in order."""
        return list(self.columns)


@dataclass(frozen=True)
class MissingColumn:
    """A column reference no source has: the name as written, where (1-based), and what it could have meant."""

    name: str
    line: int
    column: int
    candidates: tuple[str, ...]
    table: str | None = None  # the table it was looked for in, when the reference named one (or only one fits)

    def suggestion(self) -> str | None:
        """The closest existing name (``amout`` → ``amount``), if one is close enough."""
        close = difflib.get_close_matches(self.name.lower(), self.candidates, n=1, cutoff=0.6)
        return close[0] if close else None


@dataclass(frozen=True)
class QueryColumns:
    """What qualification tells of a query: its output (None when unknown), the (table, column) pairs it
    reads from the tables named in the schema, and the references to columns that do not exist."""

    output: TableColumns | None
    reads: frozenset[tuple[str, str]]
    missing: tuple[MissingColumn, ...]


def query_columns(tree: exp.Query, text: str, schema: Mapping[str, TableColumns]) -> QueryColumns:
    """Qualify ``tree`` (parsed from ``text``) against ``schema`` (table → its columns; a table absent
    from it has unknown columns) and say what it reads, outputs and names that does not exist."""
    from sqlglot import exp
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import traverse_scope
    from sqlglot.schema import MappingSchema

    if any(True for _ in tree.find_all(exp.Pivot)):
        return QueryColumns(output=None, reads=frozenset(), missing=())
    known = {table.lower(): columns for table, columns in schema.items() if columns.complete}
    mapping = {table: {name: _sqlglot_type(kind) for name, kind in columns.columns.items()}
               for table, columns in known.items()}
    copy = tree.copy()
    for identifier in copy.find_all(exp.Identifier):
        identifier.set("this", identifier.this.lower())
    try:
        sqlglot_schema = MappingSchema(dict(mapping), dialect=DIALECT)
        qualified = qualify(copy, schema=sqlglot_schema, dialect=DIALECT, validate_qualify_columns=False,
                            allow_partial_qualification=True, quote_identifiers=False)
        scopes = traverse_scope(qualified)
    except Exception:  # sqlglot cannot qualify every query DuckDB runs: then nothing is known of it
        return QueryColumns(output=None, reads=frozenset(), missing=())
    reads: set[tuple[str, str]] = set()
    missing: list[MissingColumn] = []
    for scope in scopes:
        if isinstance(scope.expression, exp.Select):
            _check_scope(scope, mapping, text, reads, missing)
    unique = {(found.line, found.column, found.name): found for found in missing}  # a correlated reference is seen twice
    return QueryColumns(output=_output(tree, qualified, sqlglot_schema), reads=frozenset(reads), missing=tuple(unique.values()))


def _sqlglot_type(kind: str) -> str:
    """A DuckDB type as sqlglot's schema takes it; one sqlglot cannot read is left unknown."""
    from sqlglot import exp

    if not kind:
        return "UNKNOWN"
    try:
        exp.DataType.build(kind, dialect=DIALECT)
    except Exception:  # a type sqlglot does not know (an extension's): its name is still known
        return "UNKNOWN"
    return kind


def _source_columns(scope: Scope, name: str, mapping: Mapping[str, Mapping[str, str]]) -> set[str] | None:
    """The columns of source ``name`` of ``scope``, or None when they are not known."""
    from sqlglot import exp
    from sqlglot.optimizer.scope import Scope

    source = scope.sources.get(name)
    if isinstance(source, exp.Table):
        aliases = source.args.get("alias")
        alias_columns = aliases.columns if isinstance(aliases, exp.TableAlias) else []
        if alias_columns:  # `range(10) AS r(i)`, `unnest(l) AS u(x)`: named by the query itself
            return {column.name for column in alias_columns}
        if not isinstance(source.this, exp.Identifier):
            return None  # a table function (read_csv(...)): its columns are only known when it runs
        table = mapping.get(source.name)
        return set(table) if table is not None else None
    if isinstance(source, Scope):
        expression = source.expression
        if isinstance(expression, exp.Values):
            aliases = expression.args.get("alias")
            names = [column.name for column in aliases.columns] if isinstance(aliases, exp.TableAlias) else []
            return set(names) or None
        selects = expression.named_selects if isinstance(expression, exp.Query) else []
        if not selects or any(select == "*" or _UNNAMED.fullmatch(select) for select in selects):
            return None
        return set(selects)
    return None


def _check_scope(scope: Scope, mapping: Mapping[str, Mapping[str, str]], text: str,
                 reads: set[tuple[str, str]], missing: list[MissingColumn]) -> None:
    """Look up each column reference of ``scope``; record what it reads, and what does not exist."""
    from sqlglot import exp

    aliases = set(scope.expression.named_selects) if isinstance(scope.expression, exp.Select) else set()
    projections = {id(select) for select in scope.expression.selects} if isinstance(scope.expression, exp.Select) else set()
    seen: set[int] = set()
    for column in scope.columns:
        if id(column) in seen:
            continue
        seen.add(id(column))
        if isinstance(column.this, exp.Star):
            continue
        name = column.name
        table = column.table
        if table:
            owner = _owner(scope, table)
            if owner is None:
                continue  # a struct field (`s.x`) or a name sqlglot could not place: DuckDB will say
            columns = _source_columns(owner, table, mapping)
            if columns is None:
                continue
            if name in columns:
                _record(owner, table, name, reads)
            elif not isinstance(column.parent, exp.Dot):
                missing.append(_missing(column, text, sorted(columns), table))
            continue
        if name in _PSEUDO_COLUMNS or (name in aliases and not _in_projection(column, projections)):
            continue  # ORDER BY / HAVING may name an output alias (sqlglot expands the others)
        candidates: set[str] = set()
        found = unknown = False
        level: Scope | None = scope
        while level is not None and not found and not unknown:
            for source in level.sources:
                columns = _source_columns(level, source, mapping)
                if columns is None:
                    unknown = True
                elif name in columns:
                    _record(level, source, name, reads)
                    found = True
                else:
                    candidates |= columns
            level = level.parent if level.can_be_correlated else None
        if not found and not unknown and candidates:
            missing.append(_missing(column, text, sorted(candidates), None))


def _in_projection(column: exp.Column, projections: set[int]) -> bool:
    """Whether ``column`` is part of one of the select list's expressions (not ORDER BY, HAVING, ...)."""
    node: exp.Expr | None = column
    while node is not None:
        if id(node) in projections:
            return True
        node = node.parent
    return False


def _owner(scope: Scope, table: str) -> Scope | None:
    """The scope (this one or one around it) where ``table`` is a source."""
    level: Scope | None = scope
    while level is not None:
        if table in level.sources:
            return level
        level = level.parent
    return None


def _record(scope: Scope, source: str, name: str, reads: set[tuple[str, str]]) -> None:
    """Remember that ``name`` of a table is read (sources that are CTEs or subqueries are not tables)."""
    from sqlglot import exp

    found = scope.sources.get(source)
    if isinstance(found, exp.Table) and isinstance(found.this, exp.Identifier):
        reads.add((found.name, name))


def _missing(column: exp.Column, text: str, candidates: list[str], table: str | None) -> MissingColumn:
    """A ``MissingColumn`` at the reference's position in ``text`` (as parsed, before lower-casing)."""
    from sqlglot import exp

    identifier = column.this
    start = identifier.meta.get("start") if isinstance(identifier, exp.Identifier) else None
    line = column_number = 0
    written = column.name
    if isinstance(start, int):
        line = text.count("\n", 0, start) + 1
        column_number = start - (text.rfind("\n", 0, start) + 1) + 1
        end = identifier.meta.get("end")
        if isinstance(end, int):
            written = text[start:end + 1].strip('"') or written
    return MissingColumn(name=written, line=line, column=column_number, candidates=tuple(candidates), table=table)


def _output(original: exp.Query, qualified: exp.Query, schema: MappingSchema) -> TableColumns | None:
    """The output columns of the query and their types; None when a star could not be expanded."""
    from sqlglot import exp
    from sqlglot.optimizer.annotate_types import annotate_types

    selects = qualified.selects
    names = [select.alias_or_name for select in selects]
    if any(name == "*" or isinstance(select, exp.Star) or (isinstance(select, exp.Column) and isinstance(select.this, exp.Star))
           for name, select in zip(names, selects)):
        return None
    written = original.selects
    if len(written) == len(selects) and not any(select.find(exp.Star) for select in written):
        # the names as written: sqlglot renames a lateral alias reference (`x AS a2, a2`) after its source
        names = [select.alias_or_name.lower() if select.alias_or_name else name for select, name in zip(written, names)]
    complete = not any(_UNNAMED.fullmatch(name) for name in names)
    types = [UNKNOWN_TYPE] * len(names)
    try:
        annotated = annotate_types(qualified, schema=schema, dialect=DIALECT)
        types = [_type_name(select) for select in annotated.selects]
    except Exception:  # types are a bonus: the names are known without them
        pass
    columns = {name: kind for name, kind in zip(names, types) if not _UNNAMED.fullmatch(name)}
    return TableColumns(columns=columns, complete=complete)


def _type_name(select: exp.Expr) -> str:
    """The DuckDB type sqlglot gave an output, or ``""`` when it could not tell."""
    from sqlglot import exp

    kind = select.type
    if kind is None or kind.this in (exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL):
        return UNKNOWN_TYPE
    return kind.sql(dialect=DIALECT)
