"""Running SQL unit tests: each test's rows loaded into an empty engine, the step's SQL run on them, the output
compared with the expected rows.

On DuckDB each test gets an in-memory database of its own. On Spark (``engines`` naming it) one
scratch session serves every test, since a Spark session is slow to start; the tables a test
loads replace those of the test before, and every table a step reads is one its test loads. A
test run on several engines says which engine differs when they disagree.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from flowdeck.engine.backends.base import Backend
from flowdeck.engine.errors import EngineRefusal, FlowdeckError
from flowdeck.engine.operations.sql_tests.compare import Comparison, compare
from flowdeck.engine.operations.sql_tests.definitions import SqlTestCase, load_test_file, test_files
from flowdeck.engine.operations.sql_tests.fixtures import rows_select
from flowdeck.engine.plan.planner import Plan, build_plan
from flowdeck.engine.plan.selection import SelectionError, select_steps
from flowdeck.engine.project.project import Project
from flowdeck.engine.run.backend_factory import open_scratch_backend
from flowdeck.engine.sql.clock import fix_clock
from flowdeck.engine.steps.check_queries import check_queries

MAX_ROWS = 10_000  # a unit test's output; more is a test of something else
ENGINES = ("duckdb", "spark")
Status = Literal["passed", "failed", "error"]


@dataclass(frozen=True)
class EngineOutcome:
    """What one test gave on one engine: passed, failed (with how the rows differ) or error (the SQL failed)."""

    engine: str
    status: Status
    seconds: float
    comparison: Comparison | None = None
    error: str | None = None
    failed_checks: list[str] = field(default_factory=list)  # with `checks: true`: each check that failed, in words
    refused: bool = False  # the engine refused the step's SQL before running it (the Spark lint): an error


@dataclass(frozen=True)
class TestOutcome:
    """One test's outcome on each engine it ran on."""

    case: SqlTestCase
    outcomes: list[EngineOutcome]

    @property
    def status(self) -> Status:
        """``passed`` on every engine; else ``error`` if one failed to run; else ``failed``."""
        statuses = {outcome.status for outcome in self.outcomes}
        if statuses == {"passed"}:
            return "passed"
        return "error" if "error" in statuses else "failed"

    @property
    def passed(self) -> bool:
        """Whether the test passed on every engine."""
        return self.status == "passed"

    def engine_note(self) -> str | None:
        """``passes on duckdb, fails on spark: the engines differ`` when they disagree, ``passes on duckdb, refused
        on spark: ...`` when an engine refused the step's SQL before running it; else None."""
        good = [outcome.engine for outcome in self.outcomes if outcome.status == "passed"]
        bad = [outcome.engine for outcome in self.outcomes if outcome.status != "passed"]
        refused = [outcome.engine for outcome in self.outcomes if outcome.refused]
        if good and refused:
            return (f"passes on {', '.join(good)}, refused on {', '.join(refused)}: the step's SQL would not give the "
                    f"same result there, so it is refused before running")
        if good and bad:
            return f"passes on {', '.join(good)}, fails on {', '.join(bad)}: the engines differ"
        return None

    def to_json(self) -> dict[str, Any]:
        """The outcome as `flowdeck test --json` prints it (docs/sql-tests.md)."""
        return {
            "pipeline": self.case.pipeline, "test": self.case.name, "step": self.case.step,
            "file": str(self.case.location.path), "line": self.case.location.line or None,
            "status": self.status, "engine_note": self.engine_note(),
            "engines": [_outcome_json(outcome) for outcome in self.outcomes],
        }


def _outcome_json(outcome: EngineOutcome) -> dict[str, Any]:
    found: dict[str, Any] = {"engine": outcome.engine, "status": outcome.status,
                             "seconds": round(outcome.seconds, 3), "error": outcome.error, "refused": outcome.refused,
                             "failed_checks": outcome.failed_checks}
    comparison = outcome.comparison
    if comparison is not None:
        found.update(
            expected_rows=comparison.expected_rows, actual_rows=comparison.actual_rows, problems=comparison.problems,
            missing=comparison.missing, unexpected=comparison.unexpected,
            differing=[{"key": difference.key, "position": difference.position,
                        "columns": [{"column": column.column, "expected": column.expected, "actual": column.actual}
                                    for column in difference.columns]}
                       for difference in comparison.differing],
        )
    return found


@dataclass
class Collected:
    """The tests of some pipelines, and the problems of the test files that could not be read."""

    cases: list[SqlTestCase] = field(default_factory=list)
    problems: list[FlowdeckError] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def collect_tests(project: Project, pipelines: Sequence[str], *, select: str | None = None, exclude: str | None = None,
                  modified: Callable[[Plan], set[str]] | None = None) -> Collected:
    """The tests of ``pipelines``, only those of the steps ``select``/``exclude`` pick when given (selection
    expressions, engine/plan/selection.py), each file checked against its pipeline's plan; a pipeline that does
    not plan, or a test file with problems, is a problem, and its tests are left out.

    Over several pipelines a selection keeps, in each, the steps it picks there; it is an error only
    when it picks a step in none of them (the error is the first pipeline's). ``modified`` gives a
    plan's steps `state:modified` selects.
    """
    collected = Collected()
    refused: list[FlowdeckError] = []
    planned = 0
    selecting = select is not None or exclude is not None
    for pipeline in pipelines:
        files = test_files(project.pipeline_folder(pipeline))
        if not files:
            continue
        collected.files += files
        try:
            plan = build_plan(project, pipeline)
        except FlowdeckError as error:
            collected.problems.append(error)
            continue
        planned += 1
        steps: set[str] | None = None
        if selecting:
            try:
                steps = set(select_steps(plan, select, exclude,
                                         modified=partial(modified, plan) if modified else None))
            except SelectionError as error:
                refused.append(error)
                continue
        for path in files:
            try:
                cases = load_test_file(path, plan)
            except FlowdeckError as error:
                collected.problems.append(error)
                continue
            collected.cases += [case for case in cases if steps is None or case.step in steps]
    if refused and len(refused) == planned:  # the selection picks a step in none of the pipelines
        raise refused[0]
    return collected


def run_tests(project: Project, cases: Sequence[SqlTestCase], *, engines: Sequence[str] = ("duckdb",),
              on_start: Callable[[str], None] | None = None) -> Iterator[TestOutcome]:
    """Run each test on each of ``engines``, yielding its outcome as it completes (``on_start`` is told when a
    slow engine starts: Spark takes seconds)."""
    scratch = Path(tempfile.mkdtemp(prefix="flowdeck-sql-tests-"))
    shared: dict[str, Backend] = {}
    try:
        for case in cases:
            outcomes: list[EngineOutcome] = []
            for engine in engines:
                if engine == "spark" and engine not in shared:
                    if on_start is not None:
                        on_start("starting Spark (once for every test)")
                    shared[engine] = open_scratch_backend(project, engine, scratch / engine)
                outcomes.append(_run_on(project, case, engine, shared.get(engine)))
            yield TestOutcome(case=case, outcomes=outcomes)
    finally:
        for backend in shared.values():
            backend.close()
        shutil.rmtree(scratch, ignore_errors=True)


def _run_on(project: Project, case: SqlTestCase, engine: str, shared: Backend | None) -> EngineOutcome:
    started = time.monotonic()
    backend = shared or open_scratch_backend(project, engine)
    try:
        columns, rows = actual_output(backend, case)
        expected_columns, expected_rows = _expected(backend, case)
        failed_checks = _failed_checks(backend, case)
    except FlowdeckError as error:
        return EngineOutcome(engine=engine, status="error", seconds=time.monotonic() - started, error=error.render(),
                             refused=isinstance(error, EngineRefusal))
    finally:
        if shared is None:
            backend.close()
    comparison = compare(columns, rows, expected_columns, expected_rows, key=case.key,
                         ignore_order=case.ignore_order, ignore_columns=case.ignore_columns)
    return EngineOutcome(engine=engine, status="passed" if comparison.passed and not failed_checks else "failed",
                         seconds=time.monotonic() - started, comparison=comparison, failed_checks=failed_checks)


def _failed_checks(backend: Backend, case: SqlTestCase) -> list[str]:
    """With `checks: true`: the step's checks run on its output (loaded under the output's name), each one that
    finds failing rows said as a run says it."""
    if not case.checks:
        return []
    backend.load_rows(case.output, case.sql)
    failed: list[str] = []
    for check in case.checks:
        for query in check_queries(check, case.output, output=case.output, params=case.params):
            sql = fix_clock(query.sql, case.now) if case.now is not None else query.sql  # a freshness check's now()
            failing = backend.failing_rows(sql)
            if failing.count:
                failed.append(f"check {query.name} failed: {query.explain(failing)}")
    return failed


def actual_output(backend: Backend, case: SqlTestCase) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Load the test's input rows into ``backend`` and run the step's SQL on them: the output's columns and rows."""
    for table in case.inputs:
        backend.load_rows(table.name.lower(), rows_select(table))
    try:
        result = backend.query(case.sql, limit=MAX_ROWS)
    except EngineRefusal as refusal:  # the step's own SQL: said at its file's line, as `validate` says it
        if case.sql_file is None:
            raise
        raise refusal.in_file(case.sql_file, case.sql_file.read_text(encoding="utf-8"), case.sql_first_line) from None
    if result.truncated:
        raise FlowdeckError(f"step `{case.step}` gave more than {MAX_ROWS:,} rows on the test's input",
                            hint="a unit test shows a rule on a few rows: give fewer input rows")
    return result.columns, result.rows


def _expected(backend: Backend, case: SqlTestCase) -> tuple[list[str], list[dict[str, Any]]]:
    """The expected rows as mappings: as written, or (a CSV file) read by the engine."""
    if case.expect.csv is None:
        return case.expect.columns, list(case.expect.rows or [])
    result = backend.query(rows_select(case.expect), limit=MAX_ROWS)
    return result.columns, result.as_dicts()
