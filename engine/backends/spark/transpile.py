"""DuckDB-dialect SQL to Spark SQL: sqlglot, then flowdeck's rewrites, then the lint's verdict.

``transpile`` parses one query in DuckDB's dialect, types its columns from a schema (so the
type-dependent rules can decide), refuses what cannot be translated faithfully (see
``query_checks``), rewrites what can (see ``rewrite``), and generates Spark SQL with a Spark
dialect that keeps QUALIFY (``dialect``); what the checks and rewrites find is gathered in a
``TranslationContext`` (``context``). No JVM is involved: it is pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.optimizer.annotate_types import TypeAnnotator, annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema
from sqlglot.typing import ExprMetadataType

from flowdeck.engine.backends.spark import file_functions, query_checks, rewrite
from flowdeck.engine.backends.spark.context import Finding, TranslationContext
from flowdeck.engine.backends.spark.dialect import FlowdeckSpark
from flowdeck.engine.backends.spark.file_functions import FileViews
from flowdeck.engine.backends.spark.outputs import duckdb_columns, wrap
from flowdeck.engine.sql.params import typed_nulls
from flowdeck.engine.sql.render import RUN_DIALECT

READ_DIALECT = RUN_DIALECT
Schema = dict[str, dict[str, str]]


def _duckdb_division(annotator: TypeAnnotator, expression: exp.Div) -> exp.Div:
    """DuckDB's `/` is a DOUBLE whatever its operands (DECIMAL included), except with an INTERVAL."""
    annotator._annotate_div(expression)
    if not any(side.is_type(exp.DType.INTERVAL) for side in (expression.left, expression.right)):
        annotator._set_type(expression, exp.DType.DOUBLE)
    return expression


# sqlglot's typing of DuckDB, with the results DuckDB types otherwise: the checks decide by these types
_DUCKDB_TYPES: ExprMetadataType = {
    **DuckDB.EXPRESSION_METADATA,
    exp.Div: {"annotator": _duckdb_division},
    **{kind: {"returns": exp.DType.DOUBLE} for kind in (exp.Corr, exp.CovarPop, exp.CovarSamp)},
}


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


def transpile(sql: str, *, schema: Schema | None = None, schema_dialect: str = READ_DIALECT,
              output: bool = True, name_columns: bool | None = None, files: FileViews | None = None,
              params: dict[str, str] | None = None) -> Transpiled:
    """Translate one DuckDB query into Spark SQL, or say why it cannot be translated faithfully.

    ``schema`` maps table → column → type (in ``schema_dialect``) for the tables the query
    reads; without it, type-dependent constructs are refused. ``output`` says the query
    fills a table: its columns get DuckDB's names and types (``outputs``), and where those
    cannot be known, unnamed columns are refused. ``name_columns`` does the naming and typing
    without the refusals (a read-only query's result); it defaults to ``output``. ``files``
    provides the views file functions (``read_csv(...)``, ``FROM 'x.parquet'``) are read from;
    without it they are refused. ``params`` gives the types of ``$parameters`` still in the text
    (the lint's, before a run binds their values).
    """
    context = TranslationContext(sql)
    try:
        tree = sqlglot.parse_one(sql, read=READ_DIALECT)
    except (ParseError, TokenError) as error:
        raise ValueError(f"the SQL does not parse: {str(error).splitlines()[0]}") from None
    schema = dict(schema or {})
    tree = file_functions.apply(tree, files, context, schema)
    columns = duckdb_columns(typed_nulls(sql, params) if params is not None else sql, schema, schema_dialect,
                             search_path=files.root if files else None) if (output or name_columns) else None
    query_checks.check_syntax(tree, context)
    if output and columns is None:
        query_checks.check_output_names(tree, context)
    tree = _typed(tree, schema, schema_dialect)
    query_checks.check_types(tree, context)
    tree = rewrite.rewrite(tree, context)
    spark_sql = tree.sql(dialect=FlowdeckSpark)
    query_checks.check_generated(spark_sql, tree, context)
    if columns is not None and not context.findings:
        if output:
            query_checks.check_output_columns(tree, columns, context)
        if not context.findings:
            spark_sql = wrap(spark_sql, columns)
    return Transpiled(sql=spark_sql, findings=context.findings, rewrites=context.rewrites)


def _typed(tree: exp.Expr, schema: Schema | None, schema_dialect: str) -> exp.Expr:
    """Qualify (expanding stars) and annotate types; without a usable schema, annotate what can be."""
    mapping: dict[str, Any] = {table: dict(columns) for table, columns in (schema or {}).items()}
    try:
        # column types are parsed in the dialect they come in (DuckDB's from the lint, Spark's at run time)
        types = MappingSchema(mapping, dialect=schema_dialect) if mapping else None
        qualified = qualify(tree.copy(), schema=types, dialect=READ_DIALECT, validate_qualify_columns=False,
                            quote_identifiers=True, identify=False, expand_alias_refs=False)
        _keep_output_names(tree, qualified)
        return annotate_types(qualified, schema=types, dialect=READ_DIALECT, expression_metadata=_DUCKDB_TYPES)
    except Exception:  # sqlglot cannot qualify every query; fall back to local typing
        return annotate_types(tree, dialect=READ_DIALECT, expression_metadata=_DUCKDB_TYPES)


def _keep_output_names(original: exp.Expr, qualified: exp.Expr) -> None:
    """qualify names unnamed outputs `_col_N`; they get DuckDB's names (or are refused), so drop the alias."""
    if not isinstance(original, exp.Select) or not isinstance(qualified, exp.Select):
        return
    if len(original.selects) != len(qualified.selects):
        return  # a star was expanded: every output is a named column
    for before, after in zip(original.selects, qualified.selects):
        if not isinstance(before, exp.Alias) and isinstance(after, exp.Alias) and after.alias.startswith("_col_"):
            after.replace(after.this)
