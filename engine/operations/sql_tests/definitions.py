"""SQL unit tests as read from a pipeline's ``tests/*.yaml``: checked against the pipeline's plan, ready to run.

Everything a test file can get wrong is found here, before anything runs, and reported at the
test file's line: an unknown step, a table the step reads that the test gives no rows for, a type
DuckDB does not know, a missing CSV file, a parameter of the wrong type, a step that reads the
clock in a test with no fixed ``now:``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flowdeck.engine.errors import ConfigError, FlowdeckError, Location
from flowdeck.engine.plan.planner import Plan, PlannedCheck
from flowdeck.engine.project.config.sql_tests import ExpectedRows, Rows, SqlTest, SqlTestFile
from flowdeck.engine.project.validation import validate_document
from flowdeck.engine.project.yamlfile import YamlDocument, YamlPath, load_yaml
from flowdeck.engine.sql.analysis import statement_first_line, statement_text
from flowdeck.engine.sql.clock import CLOCK_NAMES, fix_clock, reads_the_clock
from flowdeck.engine.sql.params import bind_sql, coerce_params

TESTS_FOLDER = "tests"
TESTABLE_KINDS = ("transform",)


@dataclass(frozen=True)
class TableRows:
    """The rows of one table a test gives (an input, or the expected output): inline or a CSV file."""

    name: str
    columns: list[str]
    rows: list[dict[str, Any]] | None
    csv: Path | None
    types: dict[str, str]  # column (lower case) → DuckDB type, as sqlglot normalises it
    location: Location


@dataclass(frozen=True)
class SqlTestCase:
    """One test of a step's SQL, checked against its pipeline: the SQL it runs (parameters bound, the clock
    fixed), the rows of the tables it reads, and the rows the output must hold."""

    name: str
    pipeline: str
    step: str
    location: Location
    description: str | None
    sql: str
    inputs: list[TableRows]
    expect: TableRows
    output: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    checks: tuple[PlannedCheck, ...] = ()  # the step's checks, run on the output (`checks: true`)
    key: list[str] = field(default_factory=list)
    ignore_order: bool = True
    ignore_columns: list[str] = field(default_factory=list)
    now: datetime | None = None
    sql_file: Path | None = None  # the step's SQL file, which a refusal of the SQL points into
    sql_first_line: int | None = None  # the file's line that is line 1 of ``sql``; None: rewritten (the clock)

    @property
    def where(self) -> str:
        """``pipelines/x/tests/y.yaml:3``: the line the test starts at."""
        return str(self.location)


def test_files(folder: Path) -> list[Path]:
    """The test files of the pipeline in ``folder``: ``tests/*.yaml`` (and ``*.yml``), sorted."""
    tests = folder / TESTS_FOLDER
    if not tests.is_dir():
        return []
    return sorted(path for path in tests.iterdir() if path.suffix in (".yaml", ".yml") and path.is_file())


def load_test_file(path: Path, plan: Plan) -> list[SqlTestCase]:
    """The tests of one file, checked against ``plan``; every problem of the file in one ``ConfigError``."""
    document = load_yaml(path)
    tests = validate_document(document, SqlTestFile).root
    cases: list[SqlTestCase] = []
    problems: list[FlowdeckError] = []
    for name, test in tests.items():
        try:
            cases.append(_case(document, plan, name, test))
        except FlowdeckError as error:
            problems.append(error)
    if not tests:
        problems.append(_error(document, (), "this test file holds no tests",
                               "add a test: a name, then `step:`, `inputs:` and `expect:` (docs/sql-tests.md)"))
    if problems:
        first, *rest = problems
        raise ConfigError(first.what, location=first.location, hint=first.hint, excerpt=first.excerpt,
                          also=[*first.also, *rest])
    return cases


def _error(document: YamlDocument, at: YamlPath, what: str, hint: str | None = None, *, key: bool = False) -> ConfigError:
    location = document.location(at, key=key)
    return ConfigError(what, location=location, hint=hint, excerpt=document.excerpt(location))


def _case(document: YamlDocument, plan: Plan, name: str, test: SqlTest) -> SqlTestCase:
    at: YamlPath = (name,)
    step = plan.steps.get(test.step)
    if step is None:
        close = difflib.get_close_matches(test.step, list(plan.steps), n=1)
        raise _error(document, (*at, "step"), f"pipeline `{plan.name}` has no step `{test.step}`",
                     f"did you mean `{close[0]}`?" if close else f"its steps: {', '.join(plan.order)}")
    if step.kind not in TESTABLE_KINDS or step.query is None:
        raise _error(document, (*at, "step"), f"step `{test.step}` is a {step.kind} step; a SQL unit test tests the "
                     "SQL of a transform step", "name a transform step of the pipeline")
    try:
        params = coerce_params(plan.source.config.params, {key: str(value) for key, value in test.params.items()},
                               plan.name)
    except FlowdeckError as error:
        raise _error(document, (*at, "params"), error.what, error.hint) from None
    sql = bind_sql(statement_text(step.query.text), list(step.param_uses), params)
    first_line: int | None = statement_first_line(step.query.text)
    if reads_the_clock(sql):
        if test.now is None:
            raise _error(document, at, f"step `{test.step}` reads the clock ({', '.join(CLOCK_NAMES[:3])} ...), so "
                         "this test would give other rows tomorrow", "give the test a fixed time: `now: 2026-11-01T06:00:00`",
                         key=True)
        sql = fix_clock(sql, test.now)
        first_line = None  # sqlglot wrote the query again: its lines are not the file's
    reads = sorted(step.query.tables | (step.reads - {step.output}) if test.checks else step.query.tables)
    given = {table.lower(): table for table in test.inputs}
    missing = [table for table in reads if table not in given]
    if missing:
        raise _error(document, (*at, "inputs") if test.inputs else at,
                     f"step `{test.step}` reads {', '.join(f'`{table}`' for table in missing)}, and the test gives no "
                     "rows for " + ("it" if len(missing) == 1 else "them"),
                     f"add `{missing[0]}:` under `inputs:` with `rows:` (`rows: []` and `types:` for an empty table)",
                     key=not test.inputs)
    if test.checks and not step.checks:
        raise _error(document, (*at, "checks"), f"step `{test.step}` has no checks", "remove `checks: true`")
    for lowered, table in given.items():
        if lowered not in reads:
            raise _error(document, (*at, "inputs", table), f"step `{test.step}` does not read `{table}`",
                         f"the tables it reads: {', '.join(reads)}", key=True)
    folder = plan.source.folder
    inputs = [_table_rows(document, folder, (*at, "inputs", table), table, test.inputs[table]) for table in test.inputs]
    expect = _table_rows(document, folder, (*at, "expect"), step.output or step.name, test.expect, expected=True)
    _check_expected_columns(document, (*at, "expect"), expect, test.expect)
    return SqlTestCase(
        name=name, pipeline=plan.name, step=test.step, location=document.location(at, key=True),
        description=test.description, sql=sql, inputs=inputs, expect=expect, output=step.output or step.name,
        params=params, checks=tuple(step.checks) if test.checks else (), key=list(test.expect.key),
        ignore_order=test.expect.ignore_order, ignore_columns=list(test.expect.ignore_columns), now=test.now,
        sql_file=step.query.path, sql_first_line=first_line,
    )


def _table_rows(document: YamlDocument, folder: Path, at: YamlPath, name: str, given: Rows, *,
                expected: bool = False) -> TableRows:
    """The rows ``given`` as a table: their columns and types, or the CSV (inside the pipeline's ``folder``) they name."""
    types: dict[str, str] = {}
    for column, written in given.types.items():
        types[column.lower()] = _duckdb_type(document, (*at, "types", column), written)
    csv: Path | None = None
    columns: list[str] = []
    if given.csv is not None:
        csv = (document.path.parent / given.csv).resolve()
        if not csv.is_relative_to(folder.resolve()):  # a test reads what its pipeline holds, like the pipeline
            raise _error(document, (*at, "csv"), f"{given.csv} is outside the pipeline's folder",
                         f"put the CSV beside the test, under {folder.name}/ (no `..` out of it, no absolute path)")
        if not csv.is_file():
            raise _error(document, (*at, "csv"), f"CSV file not found: {csv}",
                         "the path is relative to the test file; create the file or fix the path")
    else:
        seen: set[str] = set()
        for row in given.rows or []:
            for column in row:
                if str(column).lower() not in seen:
                    seen.add(str(column).lower())
                    columns.append(str(column))
        if not given.rows:
            columns = list(given.types)
            if not columns and not expected:  # expected to give no rows: whatever its columns
                raise _error(document, (*at, "rows"), f"`{name}` has no rows, so the test cannot tell its columns",
                             "add `types:` naming each column and its type (e.g. `types: {order_id: BIGINT}`)")
    return TableRows(name=name, columns=columns, rows=given.rows, csv=csv, types=types,
                     location=document.location(at, key=True))


def _duckdb_type(document: YamlDocument, at: YamlPath, written: str) -> str:
    """``written`` as sqlglot writes the DuckDB type it names; an unknown type is an error at ``at``."""
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        return exp.DataType.build(written, dialect="duckdb").sql(dialect="duckdb")
    except (ParseError, ValueError):
        raise _error(document, at, f"`{written}` is not a DuckDB type",
                     "use a type such as BIGINT, DOUBLE, DECIMAL(10,2), VARCHAR, DATE, TIMESTAMP or BOOLEAN") from None


def _check_expected_columns(document: YamlDocument, at: YamlPath, expect: TableRows, given: ExpectedRows) -> None:
    """Key columns must be among the expected rows' columns (a CSV's columns are known only when it is read)."""
    if expect.csv is not None:
        return
    named = {column.lower() for column in expect.columns}
    for column in given.key:
        if column.lower() not in named:
            raise _error(document, (*at, "key"), f"the key column `{column}` is in none of the expected rows",
                         "give every expected row its key columns")
