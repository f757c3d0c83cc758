"""Commands about pipelines and the project: init, validate, pipelines, graph, schema."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import counted, err, json_default, out, plain, print_json

if TYPE_CHECKING:
    from flowdeck.engine.plan.planner import Plan
    from flowdeck.engine.workspace import Workspace


@app.command()
def init(
    directory: Annotated[Optional[Path], typer.Argument(help="Folder to create the project in (created if missing).",
                                                        show_default=False)] = None,
    template: Annotated[Optional[str], typer.Option(
        "--template", "-t", show_default=False,
        help="Which starter project to write (see --list-templates). Asked on a terminal; `minimal` without one.")] = None,
    list_templates: Annotated[bool, typer.Option("--list-templates", help="List the templates, one a line, and exit.")] = False,
) -> None:
    """Create a new project from a template: a small pipeline and sample data that run as generated.

    Example: `flowdeck init ~/etl --template incremental_daily && cd ~/etl && flowdeck run sales_daily`
    """
    from flowdeck.console.cli.prompts import Asker
    from flowdeck.engine.errors import FlowdeckError
    from flowdeck.engine.operations.scaffold import DEFAULT_TEMPLATE, init_project, templates

    known = templates()
    if list_templates:
        width = max(len(entry.name) for entry in known)
        for entry in known:
            typer.echo(f"{entry.name:<{width}}  {entry.description}".rstrip())
        return
    if directory is None:
        raise FlowdeckError("which folder? `flowdeck init` needs the folder to create the project in",
                            hint="e.g. `flowdeck init ~/etl` (or `flowdeck init --list-templates` to see the templates)")
    if template is None:
        asker = Asker()
        if asker.interactive:
            template = asker.choice("Which template?", [(entry.name, entry.description) for entry in known],
                                    flag="--template NAME", default=DEFAULT_TEMPLATE)
        else:
            template = DEFAULT_TEMPLATE
            err().print(f"no terminal to ask on: using the `{template}` template "
                        "(choose one with --template NAME; `flowdeck init --list-templates` lists them)")
    written = init_project(directory, template)
    out().print(f"created a flowdeck project in {plain(written.root)} from the `{plain(template)}` template "
                f"({counted(len(written), 'file')})")
    out().print(f"next: cd {plain(directory)} && flowdeck validate && flowdeck run {written.pipeline}")


@app.command()
def validate(
    ctx: typer.Context,
    pipeline: Annotated[Optional[str], typer.Argument(help="Only this pipeline (default: all of them).")] = None,
    engine: Annotated[
        Optional[str],
        typer.Option("--engine", "-e", help="Also check that the SQL runs the same on this engine: duckdb or spark "
                     "(spark runs the lint of docs/spark.md; nothing is run, no JVM is started)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print each pipeline's verdict and problems as JSON "
                                          "(docs/cli.md).")] = False,
    with_tests: Annotated[bool, typer.Option("--with-tests", help="Also run the SQL unit tests of the valid "
                                             "pipelines (`flowdeck test`, on DuckDB).")] = False,
) -> None:
    """Check the project's YAML and SQL without running anything.

    Reports every problem with its file, line and column. Exit code 2 when anything is invalid (a test
    file too, with --with-tests), 1 when a SQL unit test fails.

    Example: `flowdeck validate daily_sales --engine spark`
    """
    from flowdeck.engine.errors import EXIT_BAD_INPUT, EXIT_RUN_FAILED, FlowdeckError
    from flowdeck.engine.masking import mask

    ws = workspace(ctx)
    chosen = engine or ws.project.config.engine
    if chosen not in ("duckdb", "spark"):
        raise FlowdeckError(f"unknown engine {chosen!r}", hint="use duckdb or spark")
    results: dict[str, Plan | FlowdeckError]
    if pipeline is None:
        results = ws.validate_all()
    else:
        try:
            results = {pipeline: ws.plan(pipeline)}
        except FlowdeckError as error:
            if not as_json:
                raise  # printed as any error is
            results = {pipeline: error}
    verdicts: list[dict[str, Any]] = []
    errors: list[FlowdeckError] = []
    notes: dict[str, list[str]] = {}  # what could not be checked, and why: said once, never an error
    for name, result in results.items():
        if isinstance(result, FlowdeckError):
            errors.append(result)
            verdicts.append({"pipeline": name, "valid": False, "steps": None, "engine": chosen,
                             "spark_rewrites": [], "problems": result.to_json(), "notes": []})
            continue
        columns = ws.check_columns(result)
        column_error = columns.error()
        if column_error is not None:
            errors.append(column_error)
            verdicts.append({"pipeline": name, "valid": False, "steps": len(result.steps), "engine": chosen,
                             "spark_rewrites": [], "problems": column_error.to_json(), "notes": columns.notes})
            notes[name] = columns.notes
            continue
        notes[name] = columns.notes
        rewritten: list[str] = []
        if chosen == "spark":
            report = ws.lint_spark(name)
            if not report.ok:
                refusal = report.error()
                errors.append(refusal)
                verdicts.append({"pipeline": name, "valid": False, "steps": len(result.steps), "engine": chosen,
                                 "spark_rewrites": [], "problems": refusal.to_json(), "notes": columns.notes})
                continue
            rewritten = sorted({rule for rules in report.rewrites.values() for rule in rules})
        verdicts.append({"pipeline": name, "valid": True, "steps": len(result.steps), "engine": chosen,
                         "spark_rewrites": rewritten, "problems": [], "notes": columns.notes})
    valid = [verdict["pipeline"] for verdict in verdicts if verdict["valid"]]
    tested = _run_tests(ws, valid, verdicts, as_json=True) if with_tests and as_json else None
    if as_json:
        print_json(json.loads(mask(json.dumps(verdicts, default=json_default))))
    for verdict in [] if as_json else verdicts:
        if not verdict["valid"]:
            continue
        note = f"; on spark, rewritten: {', '.join(verdict['spark_rewrites'])}" if verdict["spark_rewrites"] else ""
        on = f", runs on spark{plain(note)}" if chosen == "spark" else ""
        out().print(f"[green]✓[/] {verdict['pipeline']} ({counted(verdict['steps'], 'step')}{on})")
    for name, said in [] if as_json else notes.items():
        for note in said:
            err().print(f"note: {name}: {plain(note)}")
    for error in [] if as_json else errors:
        err().print("[red]✗[/] " + plain(error.render()) + "\n")
    if with_tests and not as_json:
        tested = _run_tests(ws, valid, verdicts, as_json=False)
    if errors:
        if not as_json:
            err().print(f"{len(errors)} of {counted(len(verdicts), 'pipeline')} "
                        + ("is" if len(errors) == 1 else "are") + " invalid"
                        + (" or refused on spark" if chosen == "spark" else ""))
        raise typer.Exit(EXIT_BAD_INPUT)
    if not verdicts and not as_json:
        err().print("no pipelines yet: add one under pipelines/<name>/pipeline.yaml")
    if tested is not None and tested.invalid:
        raise typer.Exit(EXIT_BAD_INPUT)
    if tested is not None and tested.failed:
        raise typer.Exit(EXIT_RUN_FAILED)


@dataclass(frozen=True)
class _Tested:
    """How the SQL unit tests of `validate --with-tests` went."""

    failed: int
    invalid: int


def _run_tests(ws: Workspace, pipelines: list[str], verdicts: list[dict[str, Any]], *, as_json: bool) -> _Tested:
    """Run the SQL unit tests of ``pipelines``: printed as `flowdeck test` prints them, or (JSON) added to each
    pipeline's verdict as ``tests`` and ``test_problems``."""
    from flowdeck.console.cli.commands_tests import print_outcome

    collected = ws.sql_tests(pipelines)
    outcomes = list(ws.run_sql_tests(collected.cases))
    failed = sum(1 for outcome in outcomes if not outcome.passed)
    if as_json:
        for verdict in verdicts:
            verdict["tests"] = [outcome.to_json() for outcome in outcomes if outcome.case.pipeline == verdict["pipeline"]]
            verdict["test_problems"] = [entry for problem in collected.problems for entry in problem.to_json()
                                        if str(entry["file"] or "").startswith(str(ws.project.pipeline_folder(verdict["pipeline"])))]
        return _Tested(failed=failed, invalid=len(collected.problems))
    for outcome in outcomes:
        print_outcome(outcome)
    for problem in collected.problems:
        err().print("[red]✗[/] " + plain(problem.render()) + "\n")
    if outcomes or collected.problems:
        err().print(f"{counted(len(outcomes), 'SQL unit test')}: {len(outcomes) - failed} passed"
                    + (f", {failed} failed" if failed else "")
                    + (f", {counted(len(collected.problems), 'invalid test file')}" if collected.problems else ""))
    return _Tested(failed=failed, invalid=len(collected.problems))


@app.command("pipelines")
def list_pipelines(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list (see docs/cli.md).")] = False,
) -> None:
    """List the pipelines: steps, kinds, output tables, schedule, file triggers and the pipelines each runs after.

    Example: `flowdeck pipelines --json`
    """
    from flowdeck.engine.errors import FlowdeckError
    from flowdeck.engine.plan.describe import describe_pipeline
    from flowdeck.engine.project.project import PipelineSource

    ws = workspace(ctx)
    sources: dict[str, PipelineSource | FlowdeckError] = {}
    for name in ws.project.pipeline_names():
        try:
            sources[name] = ws.project.pipeline(name)
        except FlowdeckError as error:
            sources[name] = error
    # what `after:` triggers wait for is in the ledger: opened only for them, and never created by a listing
    following = any(not isinstance(source, FlowdeckError) and source.config.after_triggers
                    for source in sources.values())
    ledger = ws.ledger if following and ws.project.ledger_path.exists() else None
    described = []
    for name, source in sources.items():
        if isinstance(source, FlowdeckError):
            described.append({"name": name, "valid": False, "error": source.render(), "steps": [],
                              "schedule": None, "triggers": [], "after": []})
        else:
            described.append(describe_pipeline(source, ledger))
    if as_json:
        print_json(described)
        return
    if not described:
        err().print("no pipelines yet: add one under pipelines/<name>/pipeline.yaml")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("PIPELINE", "STEPS", "SCHEDULE", "TRIGGERS", "DESCRIPTION"):
        table.add_column(column, overflow="fold")
    for item in described:
        if not item.get("valid", True):
            table.add_row(item["name"], "[red]invalid[/]", "", "", plain(item["error"].splitlines()[0]))
            continue
        steps = ", ".join(f"{step['name']}" for step in item["steps"])
        schedule = _schedule_text(item["schedule"])
        triggers = ", ".join([f"{t['folder']}/{'|'.join(t['patterns'])}" for t in item["triggers"]]
                             + [_after_text(after) for after in item["after"]])
        table.add_row(item["name"], plain(steps), plain(schedule), plain(triggers),
                      plain((item.get("description") or "").strip()))
    out().print(table)


def _after_text(after: dict) -> str:
    """``after a, b (waiting for b)``."""
    waiting = after.get("waiting_for")
    return f"after {', '.join(after['pipelines'])}" + (f" (waiting for {', '.join(waiting)})" if waiting else "")


def _schedule_text(schedule: dict | None) -> str:
    if not schedule:
        return ""
    if schedule.get("cron"):
        return f"{schedule['cron']} ({schedule['timezone']})"
    return f"every {schedule['interval_seconds']:g}s"


@app.command()
def graph(
    ctx: typer.Context,
    pipeline: Annotated[str, typer.Argument(help="The pipeline to draw.")],
    output_format: Annotated[
        str, typer.Option("--format", "-f", help="text (drawn in the terminal), mermaid or dot.")
    ] = "text",
    as_json: Annotated[bool, typer.Option("--json", help="Print the steps, their levels and what each waits for as "
                                          "JSON (docs/cli.md).")] = False,
) -> None:
    """Draw a pipeline's DAG: which step feeds which.

    Example: `flowdeck graph daily_sales --format mermaid`
    """
    from flowdeck.engine.errors import FlowdeckError
    from flowdeck.engine.plan.describe import graph_dot, graph_json, graph_mermaid, graph_text
    from flowdeck.engine.project.follows import followers_of

    renderers = {"text": graph_text, "mermaid": graph_mermaid, "dot": graph_dot}
    if output_format not in renderers:
        raise FlowdeckError(f"unknown format {output_format!r}", hint="use text, mermaid or dot")
    ws = workspace(ctx)
    plan = ws.plan(pipeline)
    followed_by = followers_of(ws.project, plan.name)
    if as_json:
        print_json(graph_json(plan, followed_by))
        return
    text = renderers[output_format](plan, followed_by=followed_by)
    if output_format == "text":
        out().print(text)
    else:
        typer.echo(text)


@app.command()
def schema(
    which: Annotated[str, typer.Argument(help="`pipeline` (pipeline.yaml), `project` (flowdeck.yaml) or `all`.")] = "all",
) -> None:
    """Print the JSON Schema of the configuration files, for editors and linters.

    Example: `flowdeck schema pipeline > pipeline.schema.json`
    """
    from flowdeck.engine.errors import FlowdeckError
    from flowdeck.engine.project.config.pipeline import PipelineConfig
    from flowdeck.engine.project.config.project import ProjectConfig

    schemas = {
        "project": ProjectConfig.model_json_schema(),
        "pipeline": PipelineConfig.model_json_schema(),
    }
    if which == "all":
        typer.echo(json.dumps(schemas, indent=2))
    elif which in schemas:
        typer.echo(json.dumps(schemas[which], indent=2))
    else:
        raise FlowdeckError(f"unknown schema {which!r}", hint="use pipeline, project or all")
