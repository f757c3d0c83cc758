"""`flowdeck plan`: what a run would do with each step, and why, before anything runs."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import out, plain, print_json, status_text

PLAN_STYLE = {"new": "green", "changed": "yellow", "forced": "magenta", "non-deterministic": "cyan",
              "incremental": "cyan", "unchanged": "dim"}


@app.command()
def plan(
    ctx: typer.Context,
    pipeline: Annotated[str, typer.Argument(help="The pipeline to plan (a folder under pipelines/).")],
    param: Annotated[
        Optional[list[str]], typer.Option("--param", "-P", metavar="NAME=VALUE", help="A run parameter; repeatable.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Plan a forced run: every step runs.")] = False,
    engine: Annotated[
        Optional[str],
        typer.Option("--engine", "-e", help="Plan for duckdb or spark (default: `engine:` in flowdeck.yaml, else duckdb)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON (docs/cli.md).")] = False,
) -> None:
    """Show what `flowdeck run PIPELINE` would do with each step and why, without running anything.

    Each step is new, changed (SQL, configuration, upstream data, input files, parameters or
    engine), forced, non-deterministic, incremental, or unchanged (reused, not run). The rules
    of what counts as a change are in docs/plans.md. Exit code 2 on bad input.

    Example: `flowdeck plan daily_sales --param since=2026-11-01`
    """
    from flowdeck.console.cli.commands_runs import parse_params
    from flowdeck.engine.errors import ParamError

    if engine is not None and engine not in ("duckdb", "spark"):
        raise ParamError(f"unknown engine {engine!r}", hint="use duckdb or spark")
    preview = workspace(ctx).preview(pipeline, parse_params(param or []), force=force, engine=engine)
    if as_json:
        print_json(preview.to_json())
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("STEP", "KIND", "PLAN", "WHY"):
        table.add_column(column)
    for name in preview.plan.order:
        change = preview.changes[name]
        shown = status_text("unchanged") if not change.runs else \
            f"[{PLAN_STYLE.get(change.status, 'yellow')}]{change.status}[/]"
        table.add_row(name, preview.plan.steps[name].kind, shown, plain("; ".join(preview.reasons(name))))
    out().print(table)
    running = sum(1 for change in preview.changes.values() if change.runs)
    unchanged = len(preview.changes) - running
    out().print(f"{running} step{'s' if running != 1 else ''} would run, {unchanged} unchanged")
