"""What flowdeck learns from a step's SQL with sqlglot: does it parse, is it a query, what it reads.

Parsing happens once per file per load; the parsed tree is kept on the step so planning,
lineage and transpiling reuse it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.scope import traverse_scope

from engine.errors import Location, SqlError, excerpt_of

DIALECT = "duckdb"


@dataclass(frozen=True)
class ParsedQuery:
    """A SELECT statement read from a file, and what it reads."""

    path: Path
    text: str
    tree: exp.Query

    @property
    def tables(self) -> set[str]:
        """Names of the tables this query reads (lower-case, CTEs and table functions excluded)."""
        return tables_read(self.tree)


def parse_query(text: str, path: Path) -> ParsedQuery:
    """Parse one SELECT from ``text``; syntax errors name the file, line and column."""
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
    if not isinstance(tree, exp.Query):
        kind = type(tree).__name__.upper()
        raise SqlError(
            f"a step's SQL must be a SELECT (or WITH ... SELECT), found a {kind} statement",
            location=Location(path, 1, 1),
            excerpt=excerpt_of(text, 1, 1),
            hint="flowdeck creates and replaces the output table itself; write only the query that fills it",
        )
    return ParsedQuery(path=path, text=text, tree=tree)


def tables_read(tree: exp.Expression) -> set[str]:
    """Names of the tables ``tree`` reads; CTEs and table functions such as read_csv are not tables."""
    names: set[str] = set()
    try:
        scopes = traverse_scope(tree)
    except Exception:  # sqlglot cannot scope every query; fall back to a plain walk
        cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        return {t.name.lower() for t in tree.find_all(exp.Table) if t.name and t.name.lower() not in cte_names}
    for scope in scopes:
        for source in scope.sources.values():
            if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier) and source.name:
                names.add(source.name.lower())
    return names


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
        hint="fix the SQL at this position; `flowdeck validate` checks it without running anything",
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
