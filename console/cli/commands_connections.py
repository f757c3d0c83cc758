"""Commands about database connections: connections list, connections test."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import out, plain, print_json

EXIT_CONNECTION_FAILED = 1

connections_app = typer.Typer(
    help="The databases extract and load steps use (`connections:` in flowdeck.yaml; see docs/connectors.md).",
    no_args_is_help=True,
)
app.add_typer(connections_app, name="connections")


@connections_app.command("list")
def list_connections(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON (see docs/connectors.md).")] = False,
) -> None:
    """List the declared connections: type, where they point (never a password), the steps using them.

    Example: `flowdeck connections list`
    """

    listed = workspace(ctx).connections()
    if as_json:
        print_json({"connections": listed})
        return
    console = out()
    if not listed:
        console.print("no connections declared (add `connections:` to flowdeck.yaml; see docs/connectors.md)")
        return
    for item in listed:
        tls = f", sslmode {item['sslmode']}" if item["sslmode"] else ""
        console.print(f"[bold]{plain(item['name'])}[/]  {item['type']}  {plain(item['where'])}{tls}")
        for use in item["used_by"]:
            console.print(f"  {use['access']:5}  {plain(use['table'] or 'query')}  ({plain(use['step'])})")


@connections_app.command("test")
def test_connections(
    ctx: typer.Context,
    names: Annotated[Optional[list[str]], typer.Argument(help="Connections to test (all when none).",
                                                         show_default=False)] = None,
    table: Annotated[
        Optional[list[str]],
        typer.Option("--table", "-t", help="Check that this table can be read, instead of the tables the "
                     "pipelines use (repeatable).", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON (see docs/connectors.md).")] = False,
) -> None:
    """Check that a connection works: the server answers, TLS and the login succeed, and every table
    the pipelines read or write through it can be read or written (nothing is changed).

    Each failure says what it is (DNS, refused, timeout, TLS, authentication, missing database,
    permission, missing table) and what to do. Exits 1 when any check fails. Needs the operator role.

    Example: `flowdeck connections test sales_db`
    """
    reports = workspace(ctx).test_connections(names or None, tables=table or None)
    if as_json:
        print_json({"ok": all(report.ok for report in reports), "connections": [report.to_json() for report in reports]})
    else:
        for report in reports:
            _print_report(report.to_json())
    if not all(report.ok for report in reports):
        raise typer.Exit(EXIT_CONNECTION_FAILED)


def _print_report(report: dict[str, Any]) -> None:

    console = out()
    state = "[green]✓ ok[/]" if report["ok"] else "[red]✗ failed[/]"
    console.print(f"[bold]{plain(report['name'])}[/] ({report['type']}, {plain(report['where'])}): {state}")
    for check in report["checks"]:
        mark = "[green]✓[/]" if check["ok"] else "[red]✗[/]"
        reason = f" [{check['reason']}]" if check["reason"] and not check["ok"] else ""
        console.print(f"  {mark} {plain(check['what'])}{plain(reason)}: {plain(check['message'] or '')}")
        if check["hint"] and not check["ok"]:
            console.print(f"      hint: {plain(check['hint'])}")
