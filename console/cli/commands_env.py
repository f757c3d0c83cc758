"""`flowdeck env`: development environments, each a warehouse of its own over prod's (docs/environments.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import err, format_rows, format_time, out, plain, print_json, status_text

if TYPE_CHECKING:
    from flowdeck.engine.run.env_diff import TableDiff

env_app = typer.Typer(
    help="Development environments: `flowdeck run PIPELINE --env dev` builds what changed into dev's own "
    "warehouse and reads the rest from prod's.",
    no_args_is_help=True,
)
app.add_typer(env_app, name="env")


@env_app.command("list")
def env_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list (see docs/cli.md).")] = False,
) -> None:
    """List the environments, prod first: warehouse size, tables built there, tables read from prod, last run.

    Example: `flowdeck env list`
    """
    from flowdeck.console.cli.charts import format_bytes

    environments = workspace(ctx).environments(on_wait=lambda message: err().print(plain(message)))
    if as_json:
        print_json([environment.to_json() for environment in environments])
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("ENV", "WAREHOUSE", "BUILT", "FROM PROD", "LAST RUN"):
        table.add_column(column, justify="right" if column in ("WAREHOUSE", "BUILT", "FROM PROD") else "left")
    for environment in environments:
        last = environment.last_run
        shown_last = "never" if last is None else \
            f"{format_time(last.created_at, short=True)} {plain(last.pipeline)} {status_text(last.status)}"
        size = "-" if environment.size_bytes is None else format_bytes(environment.size_bytes)
        built = "?" if environment.built is None and environment.size_bytes is not None else \
            str(len(environment.built or ()))
        linked = "?" if environment.from_prod is None and environment.size_bytes is not None else \
            str(len(environment.from_prod or ()))
        table.add_row(environment.name, size, built, linked, shown_last)
    out().print(table)
    for environment in environments:
        if environment.note:
            err().print(f"[yellow]{environment.name}:[/] {plain(environment.note)}")


@env_app.command("drop")
def env_drop(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The environment to drop (never prod).")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Drop without asking for confirmation.")] = False,
) -> None:
    """Remove a development environment's warehouse folder (its runs stay in the ledger). Refuses prod, and an
    environment a run is queued or running in. Audited. Exit code 2 when refused.

    Example: `flowdeck env drop dev --yes`
    """
    from flowdeck.console.cli.prompts import Asker

    ws = workspace(ctx)
    if name != "prod" and not yes:  # prod is refused (and the refusal audited) without asking first
        folder = ws.project.in_environment(name).warehouse_path.parent
        if not Asker().confirm(f"Remove environment {name} ({folder})?", flag="--yes"):
            err().print("nothing dropped")
            raise typer.Exit(1)
    removed = ws.drop_environment(name)
    out().print(f"dropped environment {name} ({plain(str(removed))})")


@env_app.command("diff")
def env_diff(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The environment, e.g. dev.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON (see docs/environments.md).")] = False,
    sample: Annotated[int, typer.Option("--sample", min=0, help="At most this many differing rows of each kind a table.")] = 5,
) -> None:
    """Compare each table an environment built with prod's: columns, row counts, and rows that differ.

    Rows are matched by the step's key (`unique_key`, else its `unique` check) where it has one,
    otherwise compared as whole rows. Both warehouses are only read.

    Example: `flowdeck env diff dev --sample 3`
    """
    result = workspace(ctx).env_diff(name, sample=sample, on_wait=lambda message: err().print(plain(message)))
    if as_json:
        print_json(result.to_json())
        return
    if not result.tables:
        out().print(f"environment {plain(name)} has built nothing of its own: it reads every table from prod")
        return
    out().print(f"environment {plain(name)} against prod: {len(result.tables)} table"
                f"{'s' if len(result.tables) != 1 else ''} built in {plain(name)}")
    for table in result.tables:
        for line in _table_lines(table, name):
            out().print(line)


def _table_lines(table: TableDiff, env: str) -> list[str]:
    """The readable comparison of one table."""
    where = f" ({plain(table.pipeline)}.{plain(table.step)})" if table.pipeline else ""
    if table.prod_rows is None:
        lines = [f"\n{plain(table.output)}{where}: new, {format_rows(table.env_rows)} rows in {plain(env)}; "
                 "prod has no such table"]
        return lines + _sample_lines("rows", table.sample_only_in_env)
    if table.identical:
        return [f"\n{plain(table.output)}{where}: identical to prod ({format_rows(table.env_rows)} rows)"]
    lines = [f"\n{plain(table.output)}{where}: {format_rows(table.env_rows)} rows in {plain(env)}, "
             f"{format_rows(table.prod_rows)} in prod"]
    for change in table.columns:
        if change.change == "added":
            lines.append(f"  + column {plain(change.column)} {plain(change.env_type)} (only in {plain(env)})")
        elif change.change == "removed":
            lines.append(f"  - column {plain(change.column)} {plain(change.prod_type)} (only in prod)")
        else:
            lines.append(f"  ~ column {plain(change.column)}: {plain(change.prod_type)} in prod, "
                         f"{plain(change.env_type)} in {plain(env)}")
    if table.key:
        lines.append(f"  rows matched by {plain(', '.join(table.key))}: {table.only_in_env:,} only in {plain(env)}, "
                     f"{table.only_in_prod:,} only in prod, {table.changed:,} changed")
    else:
        on = "" if not table.columns else f" (on the {len(table.compared_on)} columns both have)"
        lines.append(f"  rows compared whole{on}: {table.only_in_env:,} only in {plain(env)}, "
                     f"{table.only_in_prod:,} only in prod")
    lines += _sample_lines(f"only in {plain(env)}", table.sample_only_in_env)
    lines += _sample_lines("only in prod", table.sample_only_in_prod)
    if table.sample_changed:
        lines.append("  changed:")
        for row in table.sample_changed:
            key = ", ".join(f"{plain(k)}={plain(v)}" for k, v in row["key"].items())
            changes = "; ".join(f"{plain(column)}: {plain(values['prod'])} → {plain(values['env'])}"
                                for column, values in row["changes"].items())
            lines.append(f"    {key}: {changes}")
    return lines


def _sample_lines(title: str, rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    return [f"  {title}:"] + ["    " + ", ".join(f"{plain(k)}={plain(v)}" for k, v in row.items()) for row in rows]


@env_app.command("promote")
def env_promote(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The environment, e.g. dev.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Promote without asking for confirmation.")] = False,
    skip_tests: Annotated[bool, typer.Option("--skip-tests", help="Admin only: promote without the SQL unit tests "
                                             "`environments.require_tests` asks for.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was promoted as JSON.")] = False,
) -> None:
    """Make the tables an environment built prod's: all of them or none, after prod's checks pass on them.

    One transaction on prod's warehouse; the tables replaced are kept as versions (`flowdeck
    rollback`), and the next prod run finds the promoted steps unchanged. Needs the role
    `environments.promote_role` names (admin unless it says operator). Exit code 1 when a check
    (or a required SQL unit test) refuses it: prod is then exactly as it was.

    Example: `flowdeck env promote dev --yes`
    """
    ws = workspace(ctx)
    if not yes:
        from flowdeck.console.cli.prompts import on_terminal
        from flowdeck.engine.errors import FlowdeckError

        if not on_terminal():
            raise FlowdeckError(f"promoting environment {name} to prod needs a confirmation, and there is no "
                                "terminal to ask on", hint="pass --yes")
        if not typer.confirm(f"Promote environment {name} to prod?", default=False):
            err().print("nothing promoted")
            raise typer.Exit(1)
    report = ws.env_promote(name, skip_tests=skip_tests, on_wait=lambda message: err().print(plain(message)))
    if as_json:
        print_json(report.to_json())
        return
    for warning in report.warnings:
        err().print(f"[yellow]warning:[/] {plain(warning)}")
    if not report.promoted:
        out().print(f"nothing to promote: prod already holds every table environment {plain(name)} built "
                    f"({plain(', '.join(report.unchanged))})")
        return
    out().print(f"[green]✓[/] promoted environment {plain(name)} to prod: {len(report.promoted)} table"
                f"{'s' if len(report.promoted) != 1 else ''}")
    for promoted in report.promoted:
        replaced = f"replaces run {plain(promoted.replaced_run)}" if promoted.replaced_run else "new in prod"
        rows = f"{format_rows(promoted.rows)} rows" if promoted.rows is not None else "view"
        out().print(f"  {plain(promoted.output)}: {rows}, built by run {plain(promoted.from_run)} in {plain(name)} "
                    f"({replaced})")
    if report.unchanged:
        out().print(f"already in prod: {plain(', '.join(report.unchanged))}")
    for pipeline, run_id in dict.fromkeys((p.pipeline, p.run_id) for p in report.promoted):
        out().print(f"recorded as run {plain(run_id)} of {plain(pipeline)}: `flowdeck show {plain(run_id)}`")
