"""The Spark lint's checks of one query: refuse, before anything runs, every construct Spark would
run differently.

They run on the DuckDB syntax tree, first without types (``check_syntax``), then with them
(``check_types``), and once on the generated Spark SQL (``check_generated``); a refusal is a
``Finding`` in the query's ``TranslationContext`` naming a rule of ``rules.py`` (with its
Spark-safe alternative). ``transpile`` runs them; ``lint`` reports them for a whole pipeline.
"""

from __future__ import annotations

import re

from sqlglot import exp

from flowdeck.engine.backends.spark.context import TranslationContext, counted_list, is_wrapped
from flowdeck.engine.backends.spark.dialect import called_functions, spark_functions
from flowdeck.engine.backends.spark.outputs import OutputColumn

_LIST_AGGREGATES = (exp.ArrayAgg, exp.GroupConcat)
_PICK_ANY = (exp.AnyValue, exp.First, exp.Last)
_RANDOM = (exp.Rand, exp.Randn, exp.Uuid)
_FLOATS = {exp.DType.DOUBLE, exp.DType.FLOAT}
_NESTED = {exp.DType.ARRAY, exp.DType.LIST, exp.DType.STRUCT, exp.DType.MAP}
_SPARK_KEYWORD_CALLS = {"array", "struct", "map", "cast", "try_cast", "exists", "in", "values", "over", "filter",
                        "within", "using", "interval", "extract", "position", "trim", "overlay", "substring",
                        "date", "timestamp", "timestamp_ntz", "timestamp_ltz", "decimal", "varchar", "char", "group"}


def check_syntax(tree: exp.Expr, context: TranslationContext) -> None:
    """Refusals that need no types: DuckDB-only syntax, non-deterministic picks, file functions."""
    for node in tree.walk():
        if isinstance(node, _LIST_AGGREGATES) and not _is_ordered(node):
            if not _only_counted(node):
                context.refuse("unordered_list_agg", node)
        elif isinstance(node, exp.IgnoreNulls) and isinstance(node.this, exp.AnyValue):
            continue
        elif isinstance(node, _PICK_ANY) and not isinstance(node.parent, exp.Window):
            if not (isinstance(node.parent, exp.IgnoreNulls) and isinstance(node.parent.parent, exp.Window)):
                context.refuse("nondeterministic_pick", node)
        elif isinstance(node, exp.Anonymous) and node.name.lower() in ("arbitrary", "any_value", "first", "last"):
            context.refuse("nondeterministic_pick", node, name=node.name)
        elif isinstance(node, exp.Select):
            _check_select(node, context)
        elif isinstance(node, exp.JSONExtract):
            context.refuse("json_extract", node)
        elif isinstance(node, exp.Anonymous) and node.name.lower() == "hash":
            context.refuse("hash", node, name="hash")
        elif isinstance(node, exp.Reverse):  # DuckDB's reverse takes text only (a list is list_reverse)
            context.refuse("reverse", node, name="reverse")
        elif isinstance(node, exp.DataType) and node.this in (exp.DType.TIMESTAMPTZ, exp.DType.TIMESTAMPLTZ):
            context.refuse("timestamptz", node.parent or node)
        elif isinstance(node, (exp.AtTimeZone, exp.ConvertTimezone)):
            context.refuse("timestamptz", node)
        elif isinstance(node, exp.Table):
            _check_table(node, context)
        elif isinstance(node, exp.Union) and node.args.get("by_name"):
            context.refuse("duckdb_only_syntax", node, detail="UNION BY NAME")
        elif isinstance(node, (exp.Pivot, exp.Columns, exp.Comprehension, exp.SimilarTo)):
            context.refuse("duckdb_only_syntax", node, detail=type(node).__name__.upper())
        elif isinstance(node, exp.Star) and (node.args.get("replace") or node.args.get("rename")):
            context.refuse("duckdb_only_syntax", node, detail="* REPLACE / * RENAME")
        elif isinstance(node, exp.Join) and str(node.args.get("method") or "").upper() in ("ASOF", "POSITIONAL"):
            context.refuse("duckdb_only_syntax", node, detail=f"{node.args['method']} JOIN")
        elif isinstance(node, exp.PercentileDisc):
            context.refuse("median_decimal", node, detail="quantile_disc")
        elif isinstance(node, _RANDOM) and _in_aggregate(node):
            context.refuse("nondeterministic_in_aggregate", node)


def _in_aggregate(node: exp.Expr) -> bool:
    """Whether ``node`` is inside an aggregate's arguments (a subquery in between ends the search)."""
    parent = node.parent
    while parent is not None and not isinstance(parent, (exp.Query, exp.Subquery)):
        if isinstance(parent, exp.AggFunc):
            return True
        parent = parent.parent
    return False


def _check_select(node: exp.Select, context: TranslationContext) -> None:
    limit = node.args.get("limit")
    keeps_nothing = isinstance(limit, exp.Limit) and limit.expression is not None and limit.expression.name == "0"
    if (limit or node.args.get("offset")) and not node.args.get("order") and not keeps_nothing:
        context.refuse("limit_without_order", limit or node.args["offset"], name="limit")
    generators = [projection for projection in node.selects if projection.find(exp.Unnest, exp.Explode)]
    if len(generators) > 1:
        context.refuse("several_unnest", generators[1])
    for projection in generators:
        nested = [found for found in projection.find_all(exp.Unnest, exp.Explode) if found is not projection.unalias()]
        if nested:  # Spark runs a generator only as a column of its own (UNSUPPORTED_GENERATOR at run time)
            context.refuse("unnest_in_expression", nested[0], name="unnest")


def _is_ordered(node: exp.Expr) -> bool:
    if isinstance(node, exp.GroupConcat):
        return isinstance(node.this, exp.Order) or bool(node.find(exp.WithinGroup)) or isinstance(
            node.parent, exp.WithinGroup)
    return isinstance(node.this, exp.Order)


def _only_counted(node: exp.Expr) -> bool:
    """Whether only the length of this list aggregate is used (``len(array_agg(x))``)."""
    outer = node
    while is_wrapped(outer):
        outer = outer.parent  # type: ignore[assignment]
    return outer.parent is not None and counted_list(outer.parent) is node


def _check_table(node: exp.Table, context: TranslationContext) -> None:
    source = node.this  # (file functions are read by Spark's readers or refused: file_functions.py)
    if isinstance(source, (exp.GenerateSeries, exp.Unnest, exp.Explode)) or (
        isinstance(source, exp.Anonymous) and source.name.lower() in ("range", "generate_series")
    ):
        context.refuse("table_function_range", node)


def check_output_names(tree: exp.Expr, context: TranslationContext) -> None:
    """Refuse unnamed output columns: when DuckDB cannot bind the query, their DuckDB name is unknown."""
    select = _first_select(tree)
    for projection in select.selects if select is not None else []:
        if not isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
            context.refuse("unnamed_output", projection)


def check_output_columns(tree: exp.Expr, columns: list[OutputColumn], context: TranslationContext) -> None:
    """The Spark query's columns are renamed to DuckDB's by position: refuse when a named column is not
    where DuckDB has it (the engines would disagree on the order), or its type has no Spark equivalent."""
    select = _first_select(tree)
    projections = list(select.selects) if select is not None else []
    if any(isinstance(projection, exp.Star) or isinstance(projection.unalias(), exp.Star)
           for projection in projections) or len(projections) != len(columns):
        if not isinstance(tree, exp.Select) or tree.find(exp.Pivot) is None:
            context.refuse("output_columns", tree, name="select",
                           detail=f"DuckDB gives {len(columns)} columns, the Spark query {len(projections)}")
            return
    for projection, column in zip(projections, columns):
        if isinstance(projection, (exp.Alias, exp.Column)):
            name = projection.alias_or_name
            if name.lower() != column.name.lower() and not re.fullmatch(
                    re.escape(name) + r"_\d+", column.name, re.IGNORECASE):  # DuckDB numbers a repeated name
                context.refuse("output_columns", projection,
                               detail=f"DuckDB has `{column.name}` where the Spark query has `{name}`")
        if column.spark_type is None:
            context.refuse("output_type", projection, detail=f"column `{column.name}` is {column.duckdb_type}")


def _first_select(tree: exp.Expr) -> exp.Select | None:
    """The SELECT naming a query's columns (the first branch of a UNION)."""
    select = tree
    while isinstance(select, exp.SetOperation):
        select = select.this
    if isinstance(select, exp.Subquery):
        select = select.unnest()
    return select if isinstance(select, exp.Select) else None


def check_types(tree: exp.Expr, context: TranslationContext) -> None:
    """Refusals that depend on types: floats and nested values printed as text, medians over DECIMAL."""
    for node in tree.walk():
        if isinstance(node, (exp.Cast, exp.TryCast)) and node.to.is_type(*exp.DataType.TEXT_TYPES):
            rule = _printed_differently(node.this)
            if rule:
                context.refuse(rule, node)
        elif isinstance(node, (exp.DPipe, exp.Concat, exp.ConcatWs)):
            # text concatenation casts its other operands to text implicitly, each engine its own way
            operands = [node.this, node.expression] if isinstance(node, exp.DPipe) else list(node.expressions)
            if isinstance(node, exp.DPipe) and not any(o.is_type(*exp.DataType.TEXT_TYPES) for o in operands):
                continue  # DuckDB's `||` of two lists joins the lists
            for operand in operands:
                rule = _printed_differently(operand)
                if rule:
                    context.refuse(rule, node, name="concat" if isinstance(node, exp.Concat) else None)
                    break
        elif isinstance(node, (exp.Median, exp.PercentileCont)):
            if node.this.type is not None and node.this.type.this == exp.DType.DECIMAL:
                context.refuse("median_decimal", node)


def _printed_differently(operand: exp.Expr) -> str | None:
    """The rule refusing ``operand`` as text: a float, or a list, struct or map (each engine prints them its way)."""
    kind = operand.type.this if operand.type is not None else None
    if kind in _FLOATS:
        return "double_to_text"
    if kind in _NESTED:
        return "nested_to_text"
    return None


def check_generated(spark_sql: str, tree: exp.Expr, context: TranslationContext) -> None:
    """The last net: a function name Spark does not know would fail at run time, so refuse it now."""
    known = spark_functions()
    for name in called_functions(spark_sql):
        lowered = name.lower()
        if lowered in known or lowered in _SPARK_KEYWORD_CALLS:
            continue
        if any(f"{lowered}(" in f.construct.lower() for f in context.findings):
            continue  # already refused by a more specific rule
        if context.findings and not re.search(rf"\b{re.escape(name)}\s*\(", context.text, re.IGNORECASE):
            continue  # written by sqlglot for a construct already refused (generate_series' `_u(t)`), not by the user
        node = next((n for n in tree.walk() if isinstance(n, exp.Func) and n.sql_name().lower() == lowered), None)
        context.refuse("unknown_function", node if node is not None else exp.Anonymous(this=name),
                       detail=f"Spark has no function {name}", name=name)
