"""Check steps, and the checks of every step: run each check's queries, record the outcomes, and
stop on a blocking failure.

A check step runs its checks against a published table; the checks declared on a publishing
step run against its staged data before it is published (``engine.steps.publish``).
"""

from __future__ import annotations

from typing import Any

from flowdeck.engine.backends.base import Failing
from flowdeck.engine.errors import CheckFailed, StepFailed
from flowdeck.engine.plan.planner import PlannedStep
from flowdeck.engine.project.config.steps import CheckStep
from flowdeck.engine.sql.origin import located
from flowdeck.engine.steps.check_queries import CheckQuery, check_queries
from flowdeck.engine.steps.context import StepContext, StepResult

SAMPLE_ROWS = 5


def check(context: StepContext, step: PlannedStep, config: CheckStep) -> StepResult:
    """A check step: its checks against the published table it names."""
    run_checks(context, step, config.table.lower())
    return StepResult(rows=None)


def run_checks(context: StepContext, step: PlannedStep, relation: str) -> None:
    """Run every check of ``step`` against ``relation``; raise ``CheckFailed`` on a blocking failure."""
    blocking: list[tuple[CheckQuery, Failing]] = []
    queries = [(planned, query) for planned in step.checks
               for query in check_queries(planned, relation, output=step.output, params=context.params)]
    # asked for all at once (on Spark each query was a job, together they are one), each taken in turn
    results = context.backend.failing_rows_of([query.sql for _, query in queries], sample=SAMPLE_ROWS)
    for planned, query in queries:
        try:
            failing = next(results)
        except StepFailed as error:  # the engine ran a translation of the check's SQL: point at its file and line
            if error.ran is None:
                raise
            if planned.query is not None:
                raise located(error, step.name, planned.query.path, planned.query.text) from None
            # a built-in check's SQL is flowdeck's: say which check, and point at no file of the user's
            raise type(error)(f"step `{step.name}`: check {query.name}: {error.what}", transient=error.transient,
                              hint=error.hint) from None
        if failing.count == 0:
            context.record_check(step.name, query, "passed", 0, f"check {query.name} passed", [])
            continue
        status = "failed" if query.severity == "error" else "warned"
        message = f"check {query.name} {status} on step {step.name}: {query.explain(failing)}"
        context.record_check(step.name, query, status, failing.count, message, failing.sample)
        if status == "failed":
            blocking.append((query, failing))
    if blocking:
        query, failing = blocking[0]
        rows = "; ".join(_row_text(row) for row in failing.sample[:3])
        more = f" (and {len(blocking) - 1} more failing checks)" if len(blocking) > 1 else ""
        column = f" on column {query.column}" if query.column else ""
        raise CheckFailed(
            f"check {query.name} failed{column} in step `{step.name}`: {query.explain(failing)}{more}; "
            f"for example: {rows}",
            hint="the output was not published; fix the data or the SQL, then rerun"
            if step.output else "fix the upstream data, then rerun",
        )


def _row_text(row: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{key}={value!r}" for key, value in list(row.items())[:6]) + "}"
