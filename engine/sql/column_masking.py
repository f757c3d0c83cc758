"""Column masking policies: a step's output columns hashed, redacted or partly hidden by rewriting its SQL.

``mask: {email: hash, ssn: redact, phone: partial}`` on a step wraps the step's query in one
that replaces those columns, so the staging table, and therefore the published table,
never holds them in clear. A column that derives from a masked column's sources under
another name (``email AS contact``, ``upper(email)``) is masked the same way: the policy
follows the data through ``SELECT *``, CTEs, joins and aliases (sqlglot lineage).

- ``hash``: SHA-256 of the value, keyed with ``security.pii_hash_key`` when set (an unkeyed
  hash of a phone number or an SSN can be reversed by trying every value);
- ``redact``: ``***`` (the column becomes text; NULL stays NULL);
- ``partial``: every character but the last four replaced by ``*``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from flowdeck.engine.sql.analysis import DIALECT
from flowdeck.engine.sql.lineage import SourceColumn
from flowdeck.engine.sql.render import identifier, string

MASK_METHODS = ("hash", "redact", "partial")
KEEP_LAST = 4

_TEMPLATES = {
    "hash": "sha256({key}CAST({col} AS VARCHAR))",
    "redact": "CASE WHEN {col} IS NULL THEN NULL ELSE '***' END",
    "partial": (
        "CASE WHEN {col} IS NULL THEN NULL "
        "WHEN length(CAST({col} AS VARCHAR)) <= {keep} THEN repeat('*', length(CAST({col} AS VARCHAR))) "
        "ELSE repeat('*', length(CAST({col} AS VARCHAR)) - {keep}) || right(CAST({col} AS VARCHAR), {keep}) END"
    ),
}


class MaskingPolicyError(ValueError):
    """A policy names a column the step does not output."""


@dataclass(frozen=True)
class MaskedColumn:
    """One output column that is masked, how, and (when masked by lineage) which policy column it follows."""

    column: str
    method: str
    follows: str | None = None

    def describe(self) -> str:
        """``contact (hash, follows email)``."""
        return f"{self.column} ({self.method}" + (f", follows {self.follows})" if self.follows else ")")


def masked_columns(
    policy: Mapping[str, str],
    outputs: Sequence[str],
    sources: Mapping[str, set[SourceColumn]] | None,
) -> list[MaskedColumn]:
    """Which of ``outputs`` to mask: the policy's columns, and every column derived from their sources."""
    by_lower = {name.lower(): name for name in outputs}
    chosen: dict[str, MaskedColumn] = {}
    for column, method in policy.items():
        actual = by_lower.get(column.lower())
        if actual is None:
            close = difflib.get_close_matches(column.lower(), list(by_lower), n=1)
            suggestion = f"did you mean `{by_lower[close[0]]}`? " if close else ""
            raise MaskingPolicyError(
                f"`mask` names column `{column}`, which this step does not output; "
                f"{suggestion}it outputs: {', '.join(outputs)}"
            )
        chosen[actual.lower()] = MaskedColumn(actual, method)
    if sources:
        for policy_column in list(chosen.values()):
            tainted = sources.get(policy_column.column.lower(), set())
            for name in outputs:
                if name.lower() in chosen or not tainted & sources.get(name.lower(), set()):
                    continue
                chosen[name.lower()] = MaskedColumn(name, policy_column.method, follows=policy_column.column)
    return [chosen[name.lower()] for name in outputs if name.lower() in chosen]


def mask_expression(column: str, method: str, hash_key: str | None = None) -> exp.Expr:
    """The SQL that masks ``column`` with ``method``."""
    key = (string(hash_key) + " || ") if (hash_key and method == "hash") else ""
    return sqlglot.parse_one(_TEMPLATES[method].format(col=identifier(column), key=key, keep=KEEP_LAST), read=DIALECT)


def _replacing_column(name: str, column: exp.Column) -> Callable[[exp.Expr], exp.Expr]:
    """A transform that puts ``column`` wherever a masking expression names the column ``name``."""
    def replace(node: exp.Expr) -> exp.Expr:
        return column.copy() if isinstance(node, exp.Column) and node.name == name else node
    return replace


def masked_query(sql: str, outputs: Sequence[str], masked: Sequence[MaskedColumn], hash_key: str | None = None) -> str:
    """``sql`` wrapped in a query that returns the same columns, in order, with ``masked`` ones masked."""
    methods = {item.column.lower(): item.method for item in masked}
    projections: list[exp.Expr] = []
    for name in outputs:
        column = exp.column(exp.to_identifier(name, quoted=True), table="__fd_unmasked")
        method = methods.get(name.lower())
        if method is None:
            projections.append(column)
        else:
            expression = mask_expression(name, method, hash_key)
            expression = expression.transform(_replacing_column(name, column))
            projections.append(exp.alias_(expression, exp.to_identifier(name, quoted=True)))
    # the step's own text is kept verbatim inside (a sqlglot round trip could change its meaning)
    select_list = ",\n       ".join(projection.sql(DIALECT) for projection in projections)
    return f"SELECT {select_list}\nFROM (\n{sql}\n) AS __fd_unmasked"
