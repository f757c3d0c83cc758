"""What flowdeck learns from a step's SQL: is it valid DuckDB, is it one query, what it reads.

sqlglot finds the tables a query reads and its ``$parameters``; DuckDB's own parser has the
last word on syntax, because sqlglot accepts some text DuckDB rejects (``... ON\nWHERE x``).
Both are costly to import, so the results for a given SQL text can be memoised in an
``AnalysisCache``: an unchanged file is not parsed again, and a run of unchanged pipelines
never imports sqlglot. The parsed tree is still there when someone asks for it (lineage,
error positions): ``ParsedQuery.tree`` parses on first use.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowdeck.engine.errors import Location, SqlError, excerpt_of
from flowdeck.engine.sql.canonical import change_facts, file_path_of
from flowdeck.engine.sql.params import ParamUse, find_param_uses
from flowdeck.engine.sql.render import RUN_DIALECT

if TYPE_CHECKING:
    import duckdb
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    from flowdeck.engine.sql.cache import AnalysisCache

DIALECT = RUN_DIALECT
SYNTAX_HINT = "fix the SQL at this position; `flowdeck validate` checks it without running anything"


@dataclass(frozen=True)
class ParsedQuery:
    """A SELECT statement read from a file: the tables it reads and the parameters it uses."""

    path: Path
    text: str
    tables: frozenset[str]
    param_uses: tuple[ParamUse, ...] = ()

    @cached_property
    def tree(self) -> exp.Query:
        """The sqlglot tree of the query (parsed on first use when the analysis came from the cache)."""
        return _parse_select(self.text, self.path)

    @cached_property
    def facts(self) -> dict[str, Any]:
        """What change detection needs (engine/sql/canonical.py): ``canonical`` text, ``volatile`` calls,
        ``files`` read directly. Stored in the analysis cache, so an unchanged query needs no sqlglot."""
        return change_facts(self.tree)


def parse_query(text: str, path: Path, cache: AnalysisCache | None = None) -> ParsedQuery:
    """Check and analyse one SELECT from ``text``; syntax errors name the file, line and column.

    With a ``cache``, a text analysed before is not parsed again.
    """
    if cache is not None:
        known = cache.get(text)
        if known is not None and "facts" in known:
            cached = ParsedQuery(path=path, text=text, tables=frozenset(known["tables"]),
                                 param_uses=tuple(ParamUse(*use) for use in known["params"]))
            cached.__dict__["facts"] = known["facts"]
            return cached
    check_duckdb_syntax(text, path)
    tree = _parse_select(text, path)
    query = ParsedQuery(path=path, text=text, tables=frozenset(tables_read(tree)),
                        param_uses=tuple(find_param_uses(text)))
    query.__dict__["tree"] = tree  # already parsed: spare the cached property the work
    if cache is not None:
        cache.put(text, {"tables": sorted(query.tables),
                         "params": [[use.name, use.start, use.end, use.line, use.column] for use in query.param_uses],
                         "facts": query.facts})
    return query


def tables_read(tree: exp.Expr) -> set[str]:
    """Names of the tables ``tree`` reads; CTEs and table functions such as read_csv are not tables."""
    from sqlglot import exp
    from sqlglot.optimizer.scope import traverse_scope

    names: set[str] = set()
    try:
        # sqlglot's scopes do not look inside DuckDB's PIVOT / UNPIVOT statement (`PIVOT t ON ...`)
        scopes = [] if any(pivot.this is not None for pivot in tree.find_all(exp.Pivot)) else traverse_scope(tree)
    except Exception:  # sqlglot cannot scope every query; fall back to a plain walk
        scopes = []
    if not scopes:
        cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        return {t.name.lower() for t in tree.find_all(exp.Table)
                if t.name and t.name.lower() not in cte_names and file_path_of(t) is None}
    for scope in scopes:
        for source in scope.sources.values():
            if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier) and source.name:
                if file_path_of(source) is None:
                    names.add(source.name.lower())
    return names


@dataclass(frozen=True)
class JoinKey:
    """``left.left_column = right.right_column`` in a JOIN's ON: two tables the query matches on these columns."""

    left: str
    left_column: str
    right: str
    right_column: str


def join_keys(tree: exp.Expr) -> list[JoinKey]:
    """The equalities between columns of two tables in the ON clauses of ``tree`` (aliases resolved to table
    names, lower case), in the order they are written; columns written without their table are left out."""
    from sqlglot import exp

    aliases = {table.alias_or_name.lower(): table.name.lower() for table in tree.find_all(exp.Table) if table.name}
    keys: list[JoinKey] = []
    for join in tree.find_all(exp.Join):
        condition = join.args.get("on")
        for equality in condition.find_all(exp.EQ) if condition is not None else ():
            left, right = equality.this, equality.expression
            if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
                continue
            left_table, right_table = aliases.get(left.table.lower()), aliases.get(right.table.lower())
            if left_table and right_table and left_table != right_table:
                keys.append(JoinKey(left_table, left.name, right_table, right.name))
    return keys


def driving_table(tree: exp.Expr) -> str | None:
    """The table the outermost SELECT reads first (``FROM orders``), lower case; None when it reads a CTE or a subquery."""
    from sqlglot import exp

    source = tree.args.get("from") or tree.args.get("from_")
    table = source.this if source is not None else None
    return table.name.lower() if isinstance(table, exp.Table) and table.name else None


def whole_result_work(text: str) -> str | None:
    """``ORDER BY`` or ``DISTINCT`` when the query's outermost level sorts its whole result (an ORDER BY
    with no LIMIT) or de-duplicates it (SELECT DISTINCT); None otherwise, or when it does not parse."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(statement_text(text), read=DIALECT)
    except Exception:  # the SQL a step ran, read back for advice: never worth an error
        return None
    if tree.args.get("order") is not None and tree.args.get("limit") is None and tree.args.get("fetch") is None:
        return "ORDER BY"
    if isinstance(tree, exp.Select) and tree.args.get("distinct") is not None:
        return "DISTINCT"
    return None


# -- DuckDB's parser ---------------------------------------------------------------------------

_parser_lock = threading.Lock()
_parser_connection: duckdb.DuckDBPyConnection | None = None


def check_duckdb_syntax(text: str, path: Path) -> None:
    """Raise ``SqlError`` at the line and column where DuckDB's parser rejects ``text``.

    Uses ``json_serialize_sql``, which parses without binding: no table needs to exist.
    Statements it cannot serialise (anything but SELECT) are left to the caller's checks.
    """
    global _parser_connection
    import duckdb

    with _parser_lock:
        if _parser_connection is None:
            _parser_connection = duckdb.connect(":memory:")
            for setting in ("allowed_directories = []", "enable_external_access = false",
                            "autoinstall_known_extensions = false", "autoload_known_extensions = false",
                            "lock_configuration = true"):  # it only parses: nothing outside it is reachable
                _parser_connection.execute(f"SET {setting}")
        row = _parser_connection.execute("SELECT json_serialize_sql(?)", [text]).fetchone()
    result: dict[str, Any] = json.loads(row[0]) if row else {}
    if not result.get("error") or result.get("error_type") != "parser":
        return
    message = str(result.get("error_message") or "syntax error")
    line, column = _line_column(text, result.get("position"))
    raise SqlError(
        f"SQL {message}" if message.startswith("syntax error") else f"SQL syntax error: {message}",
        location=Location(path, line, column),
        excerpt=excerpt_of(text, line, column) if line else None,
        hint=SYNTAX_HINT,
    )


def _line_column(text: str, position: Any) -> tuple[int, int]:
    """1-based line and column of DuckDB's error position (a byte offset into the UTF-8 text)."""
    try:
        offset = int(position)
    except (TypeError, ValueError):
        return 0, 0
    prefix = text.encode("utf-8")[:offset].decode("utf-8", errors="ignore")
    line = prefix.count("\n") + 1
    column = len(prefix) - (prefix.rfind("\n") + 1) + 1
    return line, column


# -- sqlglot -----------------------------------------------------------------------------------


def _parse_select(text: str, path: Path) -> exp.Query:
    """Parse ``text`` with sqlglot; it must hold exactly one SELECT."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    try:
        statements = [statement for statement in sqlglot.parse(text, read=DIALECT) if statement is not None]
    except ParseError as error:
        raise _syntax_error(error, text, path) from None
    except TokenError as error:
        raise _token_error(error, text, path) from None
    if not statements:
        raise SqlError("the SQL file is empty", location=Location(path), hint="write one SELECT statement in it")
    if len(statements) > 1:
        raise SqlError(
            f"the SQL file holds {len(statements)} statements; a step runs exactly one SELECT",
            location=Location(path),
            hint="split them into steps, one .sql file each",
        )
    tree = statements[0]
    if isinstance(tree, exp.Pivot) and tree.this is not None:
        # DuckDB's PIVOT / UNPIVOT statement is a query too; it is analysed as the SELECT that reads
        # it (the step still runs the text as written)
        return exp.select("*").from_(exp.Subquery(this=tree))
    if not isinstance(tree, exp.Query):
        kind = type(tree).__name__.upper()
        raise SqlError(
            f"a step's SQL must be a SELECT (or WITH ... SELECT), found a {kind} statement",
            location=Location(path, 1, 1),
            excerpt=excerpt_of(text, 1, 1),
            hint="flowdeck creates and replaces the output table itself; write only the query that fills it",
        )
    return tree


def _syntax_error(error: ParseError, text: str, path: Path) -> SqlError:
    detail = error.errors[0] if error.errors else {}
    line = int(detail.get("line") or 0)
    column = int(detail.get("col") or 0)
    highlight = detail.get("highlight") or ""
    if highlight and column:
        column = max(column - len(highlight) + 1, 1)  # sqlglot points at the end of the token
    description = str(detail.get("description") or error).split("\n")[0]
    near = f" near `{highlight}`" if highlight else ""
    return SqlError(
        f"SQL syntax error{near}: {description}",
        location=Location(path, line, column),
        excerpt=excerpt_of(text, line, column),
        hint=SYNTAX_HINT,
    )


def _token_error(error: TokenError, text: str, path: Path) -> SqlError:
    message = str(error)
    line = 0
    fragment = message.split("Error tokenizing '", 1)[-1].rstrip("'")
    position = text.find(fragment.strip()) if fragment else -1
    if position >= 0:
        line = text.count("\n", 0, position) + 1
    return SqlError(
        "SQL syntax error: an unterminated string, identifier or comment",
        location=Location(path, line),
        excerpt=excerpt_of(text, line) if line else None,
        hint="close the quote or comment that starts on this line",
    )


def statement_text(text: str) -> str:
    """A query without its trailing semicolons, so it can be wrapped (``CREATE ... AS``, a subquery)."""
    stripped = text.strip()
    while stripped.endswith(";"):
        stripped = stripped[:-1].rstrip()
    return stripped


def statement_first_line(text: str) -> int:
    """The line of ``text`` (1-based) that ``statement_text(text)`` begins on: its leading blank lines skipped."""
    return text.count("\n", 0, len(text) - len(text.lstrip())) + 1
