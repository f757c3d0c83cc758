"""Commands that read the warehouse: query."""

from __future__ import annotations

import csv
import sys
from typing import Annotated, Optional

import typer

from flowdeck.console.cli.app import EnvOption, app, workspace
from flowdeck.console.cli.output import counted, err, json_default, out, plain, print_json


@app.command()
def query(
    ctx: typer.Context,
    sql: Annotated[str, typer.Argument(help="A read-only SQL query (DuckDB dialect).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of row objects.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV with a header line.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many rows.")] = 1000,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait while a run holds the warehouse.")] = 10.0,
    engine: Annotated[
        Optional[str],
        typer.Option("--engine", "-e", help="Read on duckdb or spark (default: the engine that published the "
                     "current version of the tables read; a stale table is warned about)."),
    ] = None,
    env: EnvOption = "prod",
) -> None:
    """Run a read-only query against the warehouse (of `--env NAME`: its own tables, and prod's it reads).

    It reads where its tables' current versions are: after `flowdeck run X --engine spark`, on Spark.
    Which engine it read (and why) is printed on stderr.

    Example: `flowdeck query "SELECT country, sum(revenue) FROM daily_sales GROUP BY ALL" --csv`
    """
    result = workspace(ctx).query(sql, limit=limit, wait=wait, on_wait=lambda message: err().print(plain(message)),
                                  engine=engine, environment=env)
    if result.reason:  # (a project that only ever used DuckDB has nothing to tell apart)
        err().print(plain(result.reason))
    for warning in result.warnings:
        err().print(f"[yellow]warning:[/] {plain(warning)}")
    if as_json:
        print_json(result.as_dicts())
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.columns)
        for row in result.rows:
            writer.writerow(["" if value is None else json_default(value) if not isinstance(value, (str, int, float)) else value
                             for value in row])
    else:
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for column in result.columns:
            table.add_column(column)
        for row in result.rows:
            table.add_row(*("[dim]NULL[/]" if value is None else plain(value) for value in row))
        out().print(table)
        err().print(counted(len(result.rows), "row") + (f" (first {limit}; more exist)" if result.truncated else ""))
