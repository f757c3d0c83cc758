"""`flowdeck plan`: what a run would do with each step, and why, before anything runs."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from flowdeck.console.cli.app import EnvOption, app, workspace
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
    select: Annotated[
        Optional[list[str]],
        typer.Option("--select", "-s", metavar="EXPR", help="Plan only the steps this selects, as `run --select` "
                     "(STEP, STEP+, +STEP, tag:NAME, state:modified+); repeatable."),
    ] = None,
    exclude: Annotated[
        Optional[list[str]],
        typer.Option("--exclude", metavar="EXPR", help="Leave out the steps this selects, as `run --exclude`."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON (docs/cli.md).")] = False,
    env: EnvOption = "prod",
) -> None:
    """Show what `flowdeck run PIPELINE` would do with each step and why, without running anything.

    Each step is new, changed (SQL, configuration, upstream data, input files, parameters or
    engine), forced, non-deterministic, incremental, or unchanged (reused, not run). The rules
    of what counts as a change are in docs/plans.md. Exit code 2 on bad input.

    Example: `flowdeck plan daily_sales --param since=2026-11-01`

    Example: `flowdeck plan daily_sales --select 'state:modified+'`

    Example: `flowdeck plan daily_sales --env dev` (what a run in dev would build, what it would read from prod)
    """
    from flowdeck.console.cli.commands_runs import parse_params
    from flowdeck.engine.errors import ParamError

    if engine is not None and engine not in ("duckdb", "spark"):
        raise ParamError(f"unknown engine {engine!r}", hint="use duckdb or spark")
    preview = workspace(ctx).preview(pipeline, parse_params(param or []), force=force, engine=engine,
                                     select=" ".join(select) if select else None,
                                     exclude=" ".join(exclude) if exclude else None, environment=env)
    if as_json:
        print_json({**preview.to_json(), "environment": env})
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("STEP", "KIND", "PLAN", "WHY"):
        table.add_column(column)
    for name in preview.steps:
        change = preview.changes[name]
        shown = (status_text("unchanged") + (" [dim](prod)[/]" if change.reads_prod else "")) if not change.runs else \
            f"[{PLAN_STYLE.get(change.status, 'yellow')}]{change.status}[/]"
        table.add_row(name, preview.plan.steps[name].kind, shown, plain("; ".join(preview.reasons(name))))
    out().print(table)
    running = sum(1 for name in preview.steps if preview.changes[name].runs)
    unchanged = len(preview.steps) - running
    chosen = " ".join(f"--{key} {value}" for key, value in (("select", preview.select), ("exclude", preview.exclude))
                      if value)
    from_prod = sum(1 for name in preview.steps if preview.changes[name].reads_prod)
    out().print(f"{running} step{'s' if running != 1 else ''} would run"
                + (f" in environment {env}" if env != "prod" else "") + f", {unchanged} unchanged"
                + (f" ({from_prod} read from prod)" if from_prod else "")
                + (f" (the {len(preview.steps)} step{'s' if len(preview.steps) != 1 else ''} {plain(chosen)} selects)"
                   if chosen else ""))
