"""`flowdeck test`: the SQL unit tests of the pipelines, run in engines of their own, and their diffs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import counted, err, format_duration, out, plain, print_json, status_text

if TYPE_CHECKING:
    from rich.table import Table

    from flowdeck.engine.errors import Location
    from flowdeck.engine.operations.sql_tests.compare import Comparison
    from flowdeck.engine.operations.sql_tests.runner import TestOutcome
    from flowdeck.engine.workspace import Workspace

SHOWN_ROWS = 20  # rows of each kind of difference printed; --json carries them all


@app.command("test")
def test_command(
    ctx: typer.Context,
    pipeline: Annotated[Optional[str], typer.Argument(help="Only this pipeline's tests (default: every pipeline's).",
                                                      show_default=False)] = None,
    select: Annotated[Optional[str], typer.Option(
        "--select", "-s", show_default=False,
        help="Only the tests of the steps this selection picks, as `run --select` takes it: `orders_clean+`, "
        "`tag:daily`, `state:modified` (docs/plans.md).")
    ] = None,
    exclude: Annotated[Optional[str], typer.Option(
        "--exclude", show_default=False, help="Leave out the tests of the steps this selection picks.")] = None,
    engine: Annotated[str, typer.Option(
        "--engine", "-e", help="duckdb, or spark: each test runs on DuckDB and on local Spark, and a test the two "
        "disagree on says which engine differs.")] = "duckdb",
    as_json: Annotated[bool, typer.Option("--json", help="Print each test's outcome as JSON (docs/sql-tests.md).")] = False,
    generate: Annotated[Optional[str], typer.Option(
        "--generate", metavar="STEP", show_default=False,
        help="Write a starting test of STEP (tests/STEP.yaml) from 5 rows of each table it reads, as published, "
        "and the rows its SQL gives on them.")] = None,
    force: Annotated[bool, typer.Option("--force", help="With --generate: replace an existing test file.")] = False,
) -> None:
    """Run the SQL unit tests of pipelines/NAME/tests/*.yaml: each step's SQL on the test's rows, in an engine
    of its own (never the warehouse), its output compared with the expected rows.

    Exit code 0 when every test passes, 1 when one fails (its differing rows are printed), 2 when a
    test file is invalid (its file and line are printed).

    Example: `flowdeck test daily_sales` or `flowdeck test --generate orders_clean daily_sales`
    """
    from flowdeck.engine.errors import EXIT_BAD_INPUT, EXIT_RUN_FAILED, FlowdeckError

    ws = workspace(ctx)
    if engine not in ("duckdb", "spark"):
        raise FlowdeckError(f"unknown engine {engine!r}", hint="use duckdb or spark")
    if generate is not None:
        _generate(ws, pipeline, generate, force)
        return
    if pipeline is not None:
        ws.project.pipeline(pipeline)  # an unknown pipeline is said as such, not as "no tests"
    collected = ws.sql_tests([pipeline] if pipeline else None, select=select, exclude=exclude)
    engines = ("duckdb", "spark") if engine == "spark" else ("duckdb",)
    say = None if as_json else (lambda message: err().print(plain(message)))
    outcomes: list[TestOutcome] = []
    for outcome in ws.run_sql_tests(collected.cases, engines=engines, on_start=say):
        outcomes.append(outcome)
        if not as_json:
            print_outcome(outcome)
    if as_json:
        print_json({"tests": [outcome.to_json() for outcome in outcomes],
                    "problems": [entry for problem in collected.problems for entry in problem.to_json()]})
    else:
        for problem in collected.problems:
            err().print("[red]✗[/] " + plain(problem.render()) + "\n")
        _print_summary(outcomes, len(collected.problems), pipeline, select, bool(collected.files))
    if collected.problems:
        raise typer.Exit(EXIT_BAD_INPUT)
    if any(not outcome.passed for outcome in outcomes):
        raise typer.Exit(EXIT_RUN_FAILED)


def _generate(ws: Workspace, pipeline: Optional[str], step: str, force: bool) -> None:
    from flowdeck.engine.errors import FlowdeckError, Location

    if pipeline is None:
        owners = [name for name in ws.project.pipeline_names() if step in _step_names(ws, name)]
        if len(owners) != 1:
            raise FlowdeckError(f"{'no pipeline has' if not owners else 'several pipelines have'} a step `{step}`",
                                hint="name the pipeline: `flowdeck test --generate STEP PIPELINE`")
        pipeline = owners[0]
    path = ws.generate_sql_test(pipeline, step, force=force)
    out().print(f"wrote {plain(_shown(Location(path)))}: a starting test of step `{plain(step)}` "
                f"(run it with `flowdeck test {plain(pipeline)}`)")


def _step_names(ws: Workspace, pipeline: str) -> list[str]:
    from flowdeck.engine.errors import FlowdeckError

    try:
        return [step.name for step in ws.project.pipeline(pipeline).config.steps]
    except FlowdeckError:
        return []


def print_outcome(outcome: TestOutcome) -> None:
    """One test's verdict line and, when it did not pass, where it is and how its rows differ."""
    case = outcome.case
    seconds = sum(engine.seconds for engine in outcome.outcomes)
    engines = "" if len(outcome.outcomes) == 1 else " on " + ", ".join(engine.engine for engine in outcome.outcomes)
    out().print(f"{status_text(outcome.status)} {plain(case.pipeline)} › {plain(case.name)} "
                f"[dim](step {plain(case.step)}{plain(engines)}, {format_duration(seconds)})[/]")
    if outcome.passed:
        return
    out().print(f"    [dim]{plain(_shown(case.location))}[/]")
    note = outcome.engine_note()
    if note:
        out().print(f"    [yellow]{plain(note)}[/]")
    for engine in outcome.outcomes:
        if engine.status == "passed":
            continue
        prefix = f"on {engine.engine}: " if len(outcome.outcomes) > 1 else ""
        if engine.error is not None:
            doing = "refused before running (docs/spark.md)" if engine.refused else "the step's SQL failed on the test's rows"
            out().print(f"    {plain(prefix)}{doing}:")
            for line in engine.error.splitlines():
                out().print(f"      {plain(line)}")
        elif engine.comparison is not None:
            if not engine.comparison.passed:
                _print_comparison(engine.comparison, case.key, prefix)
            for failed in engine.failed_checks:
                out().print(f"    {plain(prefix)}[red]{plain(failed)}[/]")


def _shown(location: Location) -> str:
    """``pipelines/x/tests/y.yaml:3:1``: relative to the working directory when it is inside it."""
    from pathlib import Path

    from flowdeck.engine.errors import Location as Shown

    try:
        return str(Shown(location.path.relative_to(Path.cwd()), location.line, location.column))
    except ValueError:
        return str(location)


def _print_comparison(comparison: Comparison, key: list[str], prefix: str) -> None:
    out().print(f"    {plain(prefix)}{plain(comparison.summary())} "
                f"[dim](expected {counted(comparison.expected_rows, 'row')}, got {comparison.actual_rows})[/]")
    if comparison.missing:
        out().print("    [red]missing[/] (expected, not in the output):")
        out().print(_rows_table(comparison.columns, comparison.missing, "-"))
    if comparison.unexpected:
        out().print("    [red]unexpected[/] (in the output, not expected):")
        out().print(_rows_table(comparison.columns, comparison.unexpected, "+"))
    if comparison.differing:
        out().print("    [red]differing[/] " + (f"(rows found by {', '.join(key)}):" if key else "(by position):"))
        for difference in comparison.differing[:SHOWN_ROWS]:
            where = ", ".join(f"{column}={_text(value)}" for column, value in difference.key.items()) \
                if difference.key else f"row {difference.position}"
            changes = "; ".join(f"{column.column}: expected {_text(column.expected)}, got {_text(column.actual)}"
                                for column in difference.columns)
            out().print(f"      {plain(where)}: {plain(changes)}")
        if len(comparison.differing) > SHOWN_ROWS:
            out().print(f"      … {len(comparison.differing) - SHOWN_ROWS} more (--json shows them all)")


def _rows_table(columns: list[str], rows: list[dict[str, Any]], mark: str) -> Table:
    from rich.padding import Padding
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("")
    for column in columns:
        table.add_column(plain(column), overflow="fold")
    for row in rows[:SHOWN_ROWS]:
        table.add_row(mark, *(plain(_text(row.get(column))) for column in columns))
    if len(rows) > SHOWN_ROWS:
        table.add_row("…", f"{len(rows) - SHOWN_ROWS} more (--json shows them all)")
    return Padding(table, (0, 0, 0, 6), expand=False)  # type: ignore[return-value]


def _text(value: Any) -> str:
    """A value as a diff shows it: NULL for null, text quoted only when it could be read as something else."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return repr(value) if value == "" or value.strip() != value or value.upper() == "NULL" else value
    return str(value)


def _print_summary(outcomes: list[TestOutcome], invalid: int, pipeline: str | None, select: str | None,
                   any_files: bool) -> None:
    if not outcomes and not invalid:
        where = f"pipeline `{pipeline}`" if pipeline else "this project"
        which = f" of the steps --select `{select}` picks" if select else ""
        err().print(f"no SQL unit tests{plain(which)} in {plain(where)}" + (
            "" if any_files else ": add one under pipelines/<name>/tests/*.yaml (docs/sql-tests.md), or "
            "`flowdeck test --generate STEP`"))
        return
    passed = sum(1 for outcome in outcomes if outcome.passed)
    failed = len(outcomes) - passed
    parts = [f"{passed} passed"] + ([f"{failed} failed"] if failed else []) + (
        [f"{counted(invalid, 'invalid test file')}"] if invalid else [])
    style = "green" if not failed and not invalid else "red"
    err().print(f"[{style}]{counted(len(outcomes), 'test')}: {', '.join(parts)}[/]")
