"""The console's report of a pipeline's SQL unit tests: plain text, built in the worker, shown in a dialog."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.operations.sql_tests.compare import Comparison
from flowdeck.engine.operations.sql_tests.runner import TestOutcome
from flowdeck.engine.units import counted, format_duration

SHOWN_ROWS = 10  # rows of each kind of difference; `flowdeck test --json` has them all
SYMBOLS = {"passed": "✓", "failed": "✗", "error": "✗"}


def tests_report(pipeline: str, outcomes: Sequence[TestOutcome], problems: Sequence[FlowdeckError]) -> tuple[str, str]:
    """The dialog's title (the verdict in a few words) and body: one line a test, how a failing test's rows
    differ, then the test files that could not be read."""
    failed = sum(1 for outcome in outcomes if not outcome.passed)
    if not outcomes and not problems:
        return (f"{pipeline}: no SQL unit tests",
                f"{pipeline} has no SQL unit tests yet.\n\nA test is a YAML file in pipelines/{pipeline}/tests/: "
                "rows for the tables a step reads and the rows it must give (docs/sql-tests.md).\n"
                "`flowdeck test --generate STEP` writes a first one from the warehouse.")
    verdict = "✓ all passed" if not failed and not problems else (
        ", ".join(part for part in (f"✗ {failed} failed" if failed else "",
                                     f"✗ {counted(len(problems), 'invalid test file')}" if problems else "") if part))
    title = f"{pipeline}: {counted(len(outcomes), 'SQL unit test')}, {verdict}"
    lines: list[str] = []
    for outcome in outcomes:
        seconds = sum(engine.seconds for engine in outcome.outcomes)
        lines.append(f"{SYMBOLS[outcome.status]} {outcome.status}  {outcome.case.name}  "
                     f"(step {outcome.case.step}, {format_duration(seconds)})")
        if outcome.passed:
            continue
        lines.append(f"    {outcome.case.where}")
        for engine in outcome.outcomes:
            if engine.error is not None:
                lines.append("    the step's SQL failed on the test's rows:")
                lines += [f"      {line}" for line in engine.error.splitlines()]
            elif engine.comparison is not None and not engine.comparison.passed:
                lines += _differences(engine.comparison)
            lines += [f"    {failed}" for failed in engine.failed_checks]
    for problem in problems:
        lines += ["", f"✗ {problem.render()}"]
    return title, "\n".join(lines)


def _differences(comparison: Comparison) -> list[str]:
    lines = [f"    {comparison.summary()}"]
    for label, rows in (("missing (expected, not in the output)", comparison.missing),
                        ("unexpected (in the output, not expected)", comparison.unexpected)):
        if rows:
            lines.append(f"    {label}:")
            lines += [f"      {_row(row)}" for row in rows[:SHOWN_ROWS]]
            if len(rows) > SHOWN_ROWS:
                lines.append(f"      … {len(rows) - SHOWN_ROWS} more")
    for difference in comparison.differing[:SHOWN_ROWS]:
        where = _row(difference.key) if difference.key else f"row {difference.position}"
        changes = "; ".join(f"{column.column}: expected {_value(column.expected)}, got {_value(column.actual)}"
                            for column in difference.columns)
        lines.append(f"    differing {where}: {changes}")
    return lines


def _row(row: dict[str, Any]) -> str:
    return ", ".join(f"{column}={_value(value)}" for column, value in row.items())


def _value(value: Any) -> str:
    return "NULL" if value is None else str(value)
