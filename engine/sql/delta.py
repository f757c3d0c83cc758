"""Restrict a query to the new rows of one table it reads: the delta of an incremental step.

Every reference to the table (outside CTEs of the same name) becomes a subquery that keeps
only the rows matching a predicate, so DuckDB reads no older rows from it.
"""

from __future__ import annotations

from flowdeck.engine.sql.analysis import DIALECT


def restrict_table(sql: str, table: str, predicate: str) -> str:
    """``sql`` with each read of ``table`` replaced by ``(SELECT * FROM table WHERE predicate)``."""
    import sqlglot  # only incremental steps need it; a plain run never loads sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read=DIALECT)
    cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    if table.lower() in cte_names:
        raise ValueError(f"the query defines a CTE named {table}, which hides the table")
    condition = sqlglot.parse_one(predicate, read=DIALECT, into=exp.Condition)
    for node in list(tree.find_all(exp.Table)):
        if node.name.lower() != table.lower() or node.args.get("db") or not isinstance(node.this, exp.Identifier):
            continue
        alias = node.alias or node.name
        restricted = (
            exp.select("*").from_(exp.Table(this=exp.to_identifier(node.name, quoted=True))).where(condition.copy())
        )
        node.replace(exp.Subquery(this=restricted, alias=exp.TableAlias(this=exp.to_identifier(alias))))
    return tree.sql(dialect=DIALECT)
