"""Commands about pipelines and the project: init, validate, pipelines, graph, schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import counted, err, out, plain, print_json

if TYPE_CHECKING:
    from flowdeck.engine.plan.planner import Plan


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
) -> None:
    """Check the project's YAML and SQL without running anything.

    Reports every problem with its file, line and column. Exit code 2 when anything is invalid.

    Example: `flowdeck validate daily_sales --engine spark`
    """
    from flowdeck.engine.errors import EXIT_BAD_INPUT, FlowdeckError
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
    if as_json:
        print_json(json.loads(mask(json.dumps(verdicts))))
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
    if errors:
        if not as_json:
            err().print(f"{len(errors)} of {counted(len(verdicts), 'pipeline')} "
                        + ("is" if len(errors) == 1 else "are") + " invalid"
                        + (" or refused on spark" if chosen == "spark" else ""))
        raise typer.Exit(EXIT_BAD_INPUT)
    if not verdicts and not as_json:
        err().print("no pipelines yet: add one under pipelines/<name>/pipeline.yaml")


@app.command("pipelines")
def list_pipelines(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list (see docs/cli.md).")] = False,
) -> None:
    """List the pipelines: steps, kinds, output tables, schedule and file triggers.

    Example: `flowdeck pipelines --json`
    """
    from flowdeck.engine.errors import FlowdeckError
    from flowdeck.engine.plan.describe import describe_pipeline

    ws = workspace(ctx)
    described = []
    for name in ws.project.pipeline_names():
        try:
            described.append(describe_pipeline(ws.project.pipeline(name)))
        except FlowdeckError as error:
            described.append({"name": name, "valid": False, "error": error.render(), "steps": [],
                              "schedule": None, "triggers": []})
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
        triggers = ", ".join(f"{t['folder']}/{'|'.join(t['patterns'])}" for t in item["triggers"])
        table.add_row(item["name"], plain(steps), plain(schedule), plain(triggers),
                      plain((item.get("description") or "").strip()))
    out().print(table)


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

    renderers = {"text": graph_text, "mermaid": graph_mermaid, "dot": graph_dot}
    if output_format not in renderers:
        raise FlowdeckError(f"unknown format {output_format!r}", hint="use text, mermaid or dot")
    plan = workspace(ctx).plan(pipeline)
    if as_json:
        print_json(graph_json(plan))
        return
    text = renderers[output_format](plan)
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
