"""The Spark SQL flowdeck generates (Spark 4, with native QUALIFY) and the functions Spark knows."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlglot import TokenType, exp, transforms
from sqlglot.dialects.spark import Spark
from sqlglot.generators.spark import SparkGenerator


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
