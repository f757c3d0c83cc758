"""DuckDB-dialect SQL to Spark SQL: sqlglot, then flowdeck's rewrites, then the lint's verdict.

``transpile`` parses one query in DuckDB's dialect, types its columns from a schema (so the
type-dependent rules can decide), refuses what cannot be translated faithfully (see
``lint``), rewrites what can (see ``rewrite``), and generates Spark SQL with a Spark dialect
that keeps QUALIFY (Spark 4 has it). No JVM is involved: it is pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp, transforms
from sqlglot.dialects.spark import Spark
from sqlglot.errors import ParseError, TokenError
from sqlglot.generators.spark import SparkGenerator
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.tokens import TokenType

from flowdeck.engine.backends.spark.rules import RULES, SparkRule

READ_DIALECT = "duckdb"
Schema = dict[str, dict[str, str]]


class FlowdeckSparkGenerator(SparkGenerator):
    """Spark's generator, minus the QUALIFY-to-subquery transform (Spark 4 runs QUALIFY itself)."""

    TRANSFORMS = {
        **SparkGenerator.TRANSFORMS,
        exp.Select: transforms.preprocess(
            [transforms.eliminate_distinct_on, transforms.unnest_to_explode, transforms.any_to_exists]
        ),
    }


class FlowdeckSpark(Spark):
    """The Spark dialect flowdeck generates: Spark 4 SQL with native QUALIFY."""

    Generator = FlowdeckSparkGenerator


@dataclass(frozen=True)
class Finding:
    """A construct the lint refuses: which rule, where in the SQL text (1-based), and as written."""

    rule: SparkRule
    line: int
    column: int
    construct: str
    detail: str | None = None

    def message(self) -> str:
        """One sentence: what is refused and why."""
        detail = f" ({self.detail})" if self.detail else ""
        return f"`{self.construct}` cannot run on Spark with the same result{detail}: {self.rule.why}"


@dataclass
class Transpiled:
    """The Spark SQL of one query, the rules that rewrote it, and the findings that refuse it."""

    sql: str
    findings: list[Finding] = field(default_factory=list)
    rewrites: list[str] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        """Whether the lint refuses the query."""
        return bool(self.findings)


class _Context:
    """What the rules share while walking one query: the source text and what was found."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.findings: list[Finding] = []
        self.rewrites: list[str] = []

    def refuse(self, rule_id: str, node: exp.Expr, detail: str | None = None, name: str | None = None) -> None:
        if name is None and isinstance(node, exp.Func):  # point at the function's name, not its first argument
            name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
        line, column = position(node, self.text, name)
        if not line and name:  # a node made up for the message: find the name in the text
            line, column = _find_call(self.text, name)
        construct = _excerpt(node)
        if not any(f.rule.id == rule_id and f.line == line and f.construct == construct for f in self.findings):
            self.findings.append(Finding(RULES[rule_id], line, column, construct, detail))

    def rewrote(self, rule_id: str) -> None:
        if rule_id not in self.rewrites:
            self.rewrites.append(rule_id)


def transpile(sql: str, *, schema: Schema | None = None, schema_dialect: str = READ_DIALECT,
              output: bool = True) -> Transpiled:
    """Translate one DuckDB query into Spark SQL, or say why it cannot be translated faithfully.

    ``schema`` maps table → column → type (in ``schema_dialect``) for the tables the query
    reads; without it, type-dependent constructs are refused. ``output`` says the query
    fills a table, so its columns must be named.
    """
    from flowdeck.engine.backends.spark import lint, rewrite

    context = _Context(sql)
    try:
        tree = sqlglot.parse_one(sql, read=READ_DIALECT)
    except (ParseError, TokenError) as error:
        raise ValueError(f"the SQL does not parse: {str(error).splitlines()[0]}") from None
    lint.check_syntax(tree, context, output=output)
    tree = _typed(tree, schema, schema_dialect)
    lint.check_types(tree, context)
    tree = rewrite.rewrite(tree, context)
    spark_sql = tree.sql(dialect=FlowdeckSpark)
    lint.check_generated(spark_sql, tree, context)
    return Transpiled(sql=spark_sql, findings=context.findings, rewrites=context.rewrites)


def _typed(tree: exp.Expr, schema: Schema | None, schema_dialect: str) -> exp.Expr:
    """Qualify (expanding stars) and annotate types; without a usable schema, annotate what can be."""
    from sqlglot.schema import MappingSchema

    mapping: dict[str, Any] = {table: dict(columns) for table, columns in (schema or {}).items()}
    try:
        # column types are parsed in the dialect they come in (DuckDB's from the lint, Spark's at run time)
        types = MappingSchema(mapping, dialect=schema_dialect) if mapping else None
        qualified = qualify(tree.copy(), schema=types, dialect=READ_DIALECT, validate_qualify_columns=False,
                            quote_identifiers=False, identify=False, expand_alias_refs=False)
        _keep_output_names(tree, qualified)
        return annotate_types(qualified, schema=types, dialect=READ_DIALECT)
    except Exception:  # sqlglot cannot qualify every query; fall back to local typing
        return annotate_types(tree, dialect=READ_DIALECT)


def _keep_output_names(original: exp.Expr, qualified: exp.Expr) -> None:
    """qualify names unnamed outputs `_col_N`; the lint refuses those anyway, so drop the alias."""
    if not isinstance(original, exp.Select) or not isinstance(qualified, exp.Select):
        return
    if len(original.selects) != len(qualified.selects):
        return  # a star was expanded: every output is a named column
    for before, after in zip(original.selects, qualified.selects):
        if not isinstance(before, exp.Alias) and isinstance(after, exp.Alias) and after.alias.startswith("_col_"):
            after.replace(after.this)


def position(node: exp.Expr, text: str, name: str | None = None) -> tuple[int, int]:
    """Line and column (1-based) of ``node`` in ``text``; of the word ``name`` before it when given."""
    line = column = 0
    for child in node.walk():
        meta = getattr(child, "_meta", None) or {}
        if "line" in meta:
            line, column = int(meta["line"]), int(meta.get("col", 0))
            if "start" in meta:  # `col` is the end of the token; the start is more useful
                start = int(meta["start"])
                column = start - (text.rfind("\n", 0, start) + 1) + 1
            break
    if line and name:
        source = text.splitlines()[line - 1] if line <= len(text.splitlines()) else ""
        found = source.lower().rfind(name.lower(), 0, max(column - 1, 0))
        if found >= 0:
            column = found + 1
    return line, column


def _find_call(text: str, name: str) -> tuple[int, int]:
    import re

    match = re.search(rf"\b{re.escape(name)}\s*\(", text, flags=re.IGNORECASE)
    if match is None:
        return 0, 0
    line = text.count("\n", 0, match.start()) + 1
    return line, match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1


def _excerpt(node: exp.Expr) -> str:
    try:
        text = node.sql(dialect=READ_DIALECT)
    except Exception:
        text = type(node).__name__
    return text if len(text) <= 80 else text[:77] + "..."


@lru_cache(maxsize=1)
def spark_functions() -> frozenset[str]:
    """Names of Spark 4.3's built-in functions (from SHOW FUNCTIONS), lower-case."""
    path = Path(__file__).with_name("spark_functions.txt")
    names = [line.strip().lower() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return frozenset(names)


def called_functions(spark_sql: str) -> list[str]:
    """Names written as function calls in Spark SQL text (identifiers followed by a parenthesis)."""
    tokens = FlowdeckSpark().tokenize(spark_sql)
    names: list[str] = []
    for previous, token, following in zip([None, *tokens], tokens, [*tokens[1:], None]):
        if following is None or following.token_type != TokenType.L_PAREN:
            continue
        if token.token_type != TokenType.VAR:
            continue
        if previous is not None and previous.token_type in (TokenType.ALIAS, TokenType.DOT):
            continue  # `AS t(x)` aliases columns; `a.b(` is not a call Spark resolves by name
        names.append(token.text)
    return names
