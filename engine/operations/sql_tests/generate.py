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

from flowdeck.engine.errors import FlowdeckError, Location, NotFound
from flowdeck.engine.operations.sql_tests.definitions import TESTABLE_KINDS, TESTS_FOLDER, SqlTestCase, TableRows
from flowdeck.engine.operations.sql_tests.runner import actual_output
from flowdeck.engine.plan.planner import Plan
from flowdeck.engine.project.project import Project
from flowdeck.engine.run import published
from flowdeck.engine.run.backend_factory import open_scratch_backend
from flowdeck.engine.sql.analysis import statement_text
from flowdeck.engine.sql.clock import fix_clock, reads_the_clock
from flowdeck.engine.sql.params import bind_sql, coerce_params
from flowdeck.engine.sql.render import identifier

SAMPLE_ROWS = 5


def generated_test_path(plan: Plan, step: str) -> Path:
    """Where ``--generate`` writes a step's test: ``pipelines/<name>/tests/<step>.yaml``."""
    return plan.source.folder / TESTS_FOLDER / f"{step}.yaml"


def generate_test(project: Project, plan: Plan, step_name: str, *, rows: int = SAMPLE_ROWS,
                  now: dt.datetime | None = None) -> str:
    """The text of a test file for ``step_name``: ``rows`` rows of each table it reads, read from the warehouse,
    and the output its SQL gives on them (parameters at their defaults; the clock fixed at ``now``, by default
    this second, when the SQL reads it)."""
    step = plan.steps.get(step_name)
    if step is None:
        raise NotFound(f"pipeline `{plan.name}` has no step `{step_name}`", hint=f"its steps: {', '.join(plan.order)}")
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
    inputs = [_sample(project, table, rows, where) for table in sorted(step.query.tables)]
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
    body = yaml.safe_dump({f"{step_name}_sample": test}, sort_keys=False, default_flow_style=None, allow_unicode=True,
                          width=1_000_000)  # a row a line
    return header + "\n" + body


def _sample(project: Project, table: str, rows: int, where: Location) -> TableRows:
    """``rows`` rows of a published table, with its column types, read-only."""
    try:
        sample = published.query(project, f"SELECT * FROM {identifier(table)} LIMIT {int(rows)}", limit=rows)
        described = published.query(project, f"DESCRIBE {identifier(table)}", limit=10_000)
    except NotFound:
        raise NotFound(f"table `{table}` is not in the warehouse, so there are no rows to start a test from",
                       hint="run the pipeline once (`flowdeck run`), or write the test's rows by hand") from None
    types = {str(row[0]): str(row[1]) for row in described.rows}
    return TableRows(name=table, columns=list(sample.columns), rows=sample.as_dicts(), csv=None,
                     types={column.lower(): kind for column, kind in types.items()}, location=where)


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
