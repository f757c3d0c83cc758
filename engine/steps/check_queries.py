"""Data-quality checks as SQL: each check becomes one query returning the rows that fail it.

A check with several columns (``not_null: [a, b]``) is split into one query per column so
that a failure names the column. Custom SQL checks read the step's output by its published
name; when they run on staged data, that name is rewritten to the staging table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flowdeck.engine.backends.base import Failing
from flowdeck.engine.plan.planner import PlannedCheck
from flowdeck.engine.sql.analysis import statement_text
from flowdeck.engine.sql.params import bind_sql
from flowdeck.engine.sql.render import identifier, identifiers, literal


@dataclass(frozen=True)
class CheckQuery:
    """One query of a check: rows it returns are failures.

    ``describe`` is the message template: ``{rows}`` becomes "N rows" (the failing count with
    its noun), ``{value}`` the first value of the first failing row.
    """

    name: str
    severity: str
    sql: str
    column: str | None
    describe: str
    noun: str = "row"

    def explain(self, failing: Failing) -> str:
        """What the failing rows mean, in words: "3 rows with NULL in customer_id"."""
        noun = self.noun if failing.count == 1 else f"{self.noun}s"
        first = next(iter(failing.sample[0].values()), None) if failing.sample else None
        return self.describe.format(rows=f"{failing.count:,} {noun}", value=first)


def check_queries(
    check: PlannedCheck, relation: str, *, output: str | None = None, params: dict[str, Any] | None = None
) -> list[CheckQuery]:
    """The failing-row queries of ``check`` against ``relation`` (a table, view or staging table)."""
    spec = check.spec
    table = identifier(relation)
    severity = spec.severity

    def single(sql: str, column: str | None, describe: str, noun: str = "row") -> list[CheckQuery]:
        return [CheckQuery(name=check.name, severity=severity, sql=sql, column=column, describe=describe, noun=noun)]

    if spec.not_null:
        return [
            CheckQuery(
                name=f"not_null({column})" if spec.name is None else spec.name,
                severity=severity,
                sql=f"SELECT * FROM {table} WHERE {identifier(column)} IS NULL",
                column=column,
                describe=f"{{rows}} with NULL in {column}",
            )
            for column in spec.not_null
        ]
    if spec.unique:
        shown = ", ".join(spec.unique)
        return single(f"SELECT {identifiers(spec.unique)}, count(*) AS occurrences FROM {table} GROUP BY ALL "
                      "HAVING count(*) > 1", shown, f"{{rows}} of ({shown}) occur more than once", noun="value")
    if spec.accepted_values:
        column = spec.accepted_values.column
        values = ", ".join(literal(value) for value in spec.accepted_values.values)
        return single(f"SELECT {identifier(column)}, count(*) AS occurrences FROM {table} "
                      f"WHERE {identifier(column)} IS NOT NULL AND {identifier(column)} NOT IN ({values}) GROUP BY ALL",
                      column, f"{{rows}} of {column} outside the accepted list", noun="value")
    if spec.row_count:
        low, high = spec.row_count.min, spec.row_count.max
        conditions = [f"count(*) < {low}" if low is not None else None, f"count(*) > {high}" if high is not None else None]
        having = " OR ".join(condition for condition in conditions if condition) or "false"
        bounds = f"at least {low}" if high is None else f"at most {high}" if low is None else f"between {low} and {high}"
        return single(f"SELECT count(*) AS row_count FROM {table} HAVING {having}", None,
                      f"the table has {{value}} rows, expected {bounds}")
    if spec.freshness:
        column = spec.freshness.column
        seconds = int(spec.freshness.max_age / timedelta(seconds=1))
        return single(f"SELECT max({identifier(column)}) AS newest FROM {table} "
                      f"HAVING max({identifier(column)}) IS NULL OR max({identifier(column)})::TIMESTAMP < "
                      f"now()::TIMESTAMP - INTERVAL {seconds} SECOND",
                      column, f"the newest {column} is {{value}}, older than {spec.freshness.max_age}")
    if spec.relationships:
        rel = spec.relationships
        return single(f"SELECT child.{identifier(rel.column)}, count(*) AS occurrences FROM {table} AS child "
                      f"WHERE child.{identifier(rel.column)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {identifier(rel.to)} "
                      f"AS parent WHERE parent.{identifier(rel.field)} = child.{identifier(rel.column)}) GROUP BY ALL",
                      rel.column, f"{{rows}} of {rel.column} missing from {rel.to}.{rel.field}", noun="value")
    assert check.query is not None  # the model guarantees one kind is set
    sql = bind_sql(statement_text(check.query.text), list(check.param_uses), params or {})
    if output is not None and relation != output:
        sql = _retarget(sql, output, relation)
    return single(sql, None, "{rows} returned by the check query")


def _retarget(sql: str, output: str, relation: str) -> str:
    """Point a custom check written against ``output`` at the staging ``relation``.

    A CTE named like the output shadows the published table for the whole check query,
    including its subqueries, without parsing it (schema-qualified names still reach the
    published table, on purpose).
    """
    return f"WITH {identifier(output)} AS (SELECT * FROM {identifier(relation)})\nSELECT * FROM (\n{sql}\n) AS {identifier('check')}"
