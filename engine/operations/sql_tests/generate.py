"""A starting test of a step, written from the warehouse: a few rows of each table the step reads (read-only,
as published) and the rows the step's SQL gives on exactly those rows.

The expected rows are computed, not sampled from the step's published output: a sample of the
output would hold rows of inputs the test does not give. The test passes as written; a person then
trims it to the rows that show one rule of the step.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlglot import exp

from flowdeck.engine.errors import FlowdeckError, Location, NotFound
from flowdeck.engine.operations.sql_tests.definitions import TESTABLE_KINDS, TESTS_FOLDER, SqlTestCase, TableRows
from flowdeck.engine.operations.sql_tests.runner import actual_output
from flowdeck.engine.plan.planner import Plan
from flowdeck.engine.project.project import Project
from flowdeck.engine.run import published
from flowdeck.engine.run.backend_factory import open_scratch_backend
from flowdeck.engine.run.submit import step_of
from flowdeck.engine.sql.analysis import JoinKey, driving_table, join_keys, statement_text
from flowdeck.engine.sql.clock import fix_clock, reads_the_clock
from flowdeck.engine.sql.params import bind_sql, coerce_params
from flowdeck.engine.sql.render import identifier, literal

SAMPLE_ROWS = 5


def generated_test_path(plan: Plan, step: str) -> Path:
    """Where ``--generate`` writes a step's test: ``pipelines/<name>/tests/<step>.yaml``; a name the plan has no
    step of is refused (with the closest one) before it becomes a path."""
    return plan.source.folder / TESTS_FOLDER / f"{step_of(plan, step)}.yaml"


def generate_test(project: Project, plan: Plan, step_name: str, *, rows: int = SAMPLE_ROWS,
                  now: dt.datetime | None = None) -> str:
    """The text of a test file for ``step_name``: ``rows`` rows of each table it reads, read from the warehouse,
    and the output its SQL gives on them (parameters at their defaults; the clock fixed at ``now``, by default
    this second, when the SQL reads it)."""
    step = plan.steps[step_of(plan, step_name)]
    if step.kind not in TESTABLE_KINDS or step.query is None:
        raise FlowdeckError(f"step `{step_name}` is a {step.kind} step; a SQL unit test tests the SQL of a transform "
                            "step", hint="name a transform step of the pipeline")
    params = coerce_params(plan.source.config.params, {}, plan.name)
    sql = bind_sql(statement_text(step.query.text), list(step.param_uses), params)
    fixed = None
    if reads_the_clock(sql):
        fixed = (now or dt.datetime.now()).replace(microsecond=0)
        sql = fix_clock(sql, fixed)
    where = Location(generated_test_path(plan, step_name))
    inputs = _samples(project, step.query.tree, sorted(step.query.tables), rows, where)
    case = SqlTestCase(name=f"{step_name}_sample", pipeline=plan.name, step=step_name, location=where,
                       description=None, sql=sql, inputs=inputs,
                       expect=TableRows(name=step_name, columns=[], rows=[], csv=None, types={}, location=where))
    backend = open_scratch_backend(project, "duckdb")
    try:
        columns, output = actual_output(backend, case)
    finally:
        backend.close()
    test: dict[str, Any] = {
        "step": step_name,
        "description": f"a sample of its inputs as published on {dt.date.today().isoformat()}: keep the rows that "
                       "show what the step does",
    }
    if fixed is not None:
        test["now"] = fixed
    used = {use.name for use in step.param_uses}
    if used:
        test["params"] = {name: _plain(value) for name, value in params.items() if name in used}
    test["inputs"] = {table.name: {"types": {column: table.types[column.lower()] for column in table.columns
                                             if column.lower() in table.types},
                                   "rows": [_plain(row) for row in table.rows or []]}
                      for table in inputs}
    test["expect"] = {"rows": [_plain(dict(zip(columns, row))) for row in output]}
    header = (f"# A starting SQL unit test of step `{step_name}`, written by `flowdeck test --generate {step_name}`.\n"
              "# Run it with `flowdeck test " + plan.name + "`; docs/sql-tests.md describes the format.\n")
    if not output:
        header += ("# The sample gave no output rows (the rows of different tables may not join): edit the\n"
                   "# input rows so that they do, then `expect:` the rows the step should give.\n")
    body = yaml.dump({f"{step_name}_sample": test}, Dumper=_Dumper, sort_keys=False, default_flow_style=None,
                     allow_unicode=True, width=1_000_000)  # a row a line
    return header + "\n" + body


def _samples(project: Project, tree: exp.Expr, tables: list[str], rows: int, where: Location) -> list[TableRows]:
    """A sample of each table the query reads, chosen so that its joins find rows: ``rows`` rows of the table it
    reads first, then of each table it joins to one sampled already (``ON c.customer_id = o.customer_id``), the
    rows whose key is among the sampled rows' keys; ``rows`` rows of any other table."""
    first = driving_table(tree)
    order = ([first] if first in tables else []) + [table for table in tables if table != first]
    keys = join_keys(tree)
    sampled: dict[str, TableRows] = {}
    while len(sampled) < len(order):
        table, condition = _next_joined(order, sampled, keys)
        sampled[table] = _sample(project, table, rows, where, condition)
    return [sampled[table] for table in tables]


def _next_joined(order: list[str], sampled: dict[str, TableRows], keys: list[JoinKey]) -> tuple[str, str]:
    """The next table to sample, and the condition (SQL) that picks rows joining the rows sampled already."""
    for key in keys:
        for known, known_column, other, other_column in ((key.left, key.left_column, key.right, key.right_column),
                                                         (key.right, key.right_column, key.left, key.left_column)):
            if known in sampled and other not in sampled and other in order:
                values = sorted({row.get(known_column) for row in sampled[known].rows or []} - {None}, key=repr)
                if values:
                    return other, f"{identifier(other_column)} IN ({', '.join(literal(value) for value in values)})"
    return next(table for table in order if table not in sampled), ""


def _sample(project: Project, table: str, rows: int, where: Location, condition: str = "") -> TableRows:
    """Rows of a published table, with its column types, read-only: ``rows`` of them, or (``condition``) those
    that join the rows sampled already (as many as there are keys)."""
    filtered = f" WHERE {condition}" if condition else ""
    limit = rows * 4 if condition else rows  # a key may match a few rows; a sample stays small
    try:
        sample = published.query(project, f"SELECT * FROM {identifier(table)}{filtered} LIMIT {int(limit)}",
                                 limit=limit)
        described = published.query(project, f"DESCRIBE {identifier(table)}", limit=10_000)
    except NotFound:
        raise NotFound(f"table `{table}` is not in the warehouse, so there are no rows to start a test from",
                       hint="run the pipeline once (`flowdeck run`), or write the test's rows by hand") from None
    types = {str(row[0]): str(row[1]) for row in described.rows}
    return TableRows(name=table, columns=list(sample.columns), rows=sample.as_dicts(), csv=None,
                     types={column.lower(): kind for column, kind in types.items()}, location=where)


class _Dumper(yaml.SafeDumper):
    """YAML as a person writes it: a timestamp inside a row's braces as its quoted text, ``'2026-11-01 06:00:00'``
    (YAML cannot write it there unquoted, and would tag it ``!!timestamp``): the input's `types:` make it a
    timestamp again, and an expected value compares equal to the timestamp it writes (docs/sql-tests.md)."""


def _timestamp(dumper: yaml.SafeDumper, value: dt.datetime) -> yaml.ScalarNode:
    return dumper.represent_str(value.isoformat(sep=" "))


_Dumper.add_representer(dt.datetime, _timestamp)


def _plain(value: Any) -> Any:
    """``value`` as YAML writes it plainly: dates and timestamps as they are, decimals as numbers, the rest as text."""
    if value is None or isinstance(value, (bool, int, float, str, dt.date, dt.datetime)):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    return str(value)
