"""The Spark SQL flowdeck generates (Spark 4, with native QUALIFY) and the functions Spark knows."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlglot import TokenType, exp, transforms
from sqlglot.dialects.spark import Spark
from sqlglot.generators.spark import SparkGenerator


def eliminate_distinct_on_in_order(expression: exp.Expr) -> exp.Expr:
    """sqlglot's ``eliminate_distinct_on``, keeping the query's ORDER BY and LIMIT: sqlglot moves the ORDER BY
    into the row_number window and leaves the outer query unordered, so ``SELECT DISTINCT ON (k) … ORDER BY k, x``
    came back in whatever order Spark's partitions gave, and it leaves a LIMIT inside, where it cuts the rows
    before the first of each group is picked. The outer query is ordered again by the same keys: by the name
    the inner query gives a key it selects, by a hidden column of the inner query for one it does not."""
    if not isinstance(expression, exp.Select):
        return transforms.eliminate_distinct_on(expression)
    order = expression.args.get("order")
    kept = order.copy() if isinstance(order, exp.Order) else None
    limit, offset = expression.args.get("limit"), expression.args.get("offset")
    if isinstance(order, exp.Order) and expression.args.get("distinct"):
        # the ORDER BY becomes the window's, where Spark cannot see the SELECT's aliases: write them out
        aliased = {projection.alias: projection.this for projection in expression.selects
                   if isinstance(projection, exp.Alias)}
        for item in order.expressions:
            if isinstance(item.this, exp.Column) and not item.this.table and item.this.name in aliased:
                item.set("this", aliased[item.this.name].copy())
    result = transforms.eliminate_distinct_on(expression)
    if result is expression or not isinstance(result, exp.Select):
        return result
    inner = result.args["from_"].this.this if result.args.get("from_") else None
    for part, clause in (("limit", limit), ("offset", offset)):
        if clause is not None and isinstance(inner, exp.Select):
            inner.set(part, None)
            result.set(part, clause)
    if kept is None or not isinstance(inner, exp.Select):
        return result
    # what the outer query can order by: the inner query's columns, by the name it gives them
    names = {projection.alias: projection.alias for projection in inner.selects if isinstance(projection, exp.Alias)}
    names.update({projection.this.sql(): projection.alias for projection in inner.selects
                  if isinstance(projection, exp.Alias) and isinstance(projection.this, exp.Column)})
    starred = any(isinstance(projection, exp.Star) for projection in result.selects)
    if starred and any(not isinstance(item.this, exp.Column) or item.this.sql() not in names
                       for item in kept.expressions):
        return result  # `SELECT *` outside would show a hidden column (qualify expands stars before this)
    ordered = []
    for index, item in enumerate(kept.expressions):
        name = names.get(item.this.sql()) if isinstance(item.this, exp.Column) else None
        if name is None:
            name = f"_fd_order_{index}"  # a key it does not select: carried out by a column the outer query drops
            inner.select(exp.alias_(item.this.copy(), name), copy=False)
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
