"""The Spark SQL flowdeck generates (Spark 4, with native QUALIFY) and the functions Spark knows."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlglot import TokenType, exp, transforms
from sqlglot.dialects.spark import Spark
from sqlglot.generators.spark import SparkGenerator


def eliminate_distinct_on_in_order(expression: exp.Expr) -> exp.Expr:
    """sqlglot's ``eliminate_distinct_on``, keeping the query's ORDER BY: sqlglot moves it into the row_number
    window and leaves the outer query unordered, so ``SELECT DISTINCT ON (k) … ORDER BY k, x`` came back in
    whatever order Spark's partitions gave (in order only while one partition held the rows). The outer query
    is ordered again when the ORDER BY names columns it selects."""
    order = expression.args.get("order") if isinstance(expression, exp.Select) else None
    kept = order.copy() if isinstance(order, exp.Order) else None
    result = transforms.eliminate_distinct_on(expression)
    if kept is None or result is expression or not isinstance(result, exp.Select):
        return result
    inner = result.args["from_"].this.this if result.args.get("from_") else None
    # what the outer query can order by: the inner query's columns, by the name it gives them
    names = {projection.alias: projection.alias for projection in getattr(inner, "selects", [])
             if isinstance(projection, exp.Alias)}
    names.update({projection.this.sql(): projection.alias for projection in getattr(inner, "selects", [])
                  if isinstance(projection, exp.Alias) and isinstance(projection.this, exp.Column)})
    ordered = []
    for item in kept.expressions:
        name = names.get(item.this.sql()) if isinstance(item.this, exp.Column) else None
        if name is None:
            return result  # an expression, or a column it does not select: the outer query cannot name it
        by_name = item.copy()
        by_name.set("this", exp.column(name))
        ordered.append(by_name)
    result.set("order", exp.Order(expressions=ordered))
    return result


class FlowdeckSparkGenerator(SparkGenerator):
    """Spark's generator, minus the QUALIFY-to-subquery transform (Spark 4 runs QUALIFY itself)."""

    TRANSFORMS = {
        **SparkGenerator.TRANSFORMS,
        exp.Select: transforms.preprocess(
            [eliminate_distinct_on_in_order, transforms.unnest_to_explode, transforms.any_to_exists]
        ),
    }


class FlowdeckSpark(Spark):
    """The Spark dialect flowdeck generates: Spark 4 SQL with native QUALIFY."""

    Generator = FlowdeckSparkGenerator


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
