"""`flowdeck env`: development environments, each a warehouse of its own over prod's (docs/environments.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import err, format_time, out, plain, print_json, status_text

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
