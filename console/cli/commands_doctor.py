"""`flowdeck doctor`: is this installation and this project in working order, and if not, what to do."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from flowdeck.console.cli.app import Globals, app
from flowdeck.console.cli.output import out, plain, print_json

STYLE = {"ok": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "red"), "skip": ("-", "dim")}


@app.command()
def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON (see docs/cli.md).")] = False,
) -> None:
    """Check the installation and the project: versions, keyring, writable folders, ledger, warehouse,
    daemon, connections, terminal colours, pipelines. Prints a fix for each problem.

    Exit code 0 when nothing failed (warnings allowed), 1 when a check failed.

    Example: `flowdeck doctor`
    """
    from flowdeck.engine.operations.doctor import diagnose, worst

    globals_: Globals = ctx.find_root().obj or Globals()
    findings = diagnose(globals_.project, stdout_is_terminal=sys.stdout.isatty())
    status = worst(findings)
    if as_json:
        print_json({"status": status, "checks": [finding.to_json() for finding in findings]})
    else:
        width = max(len(finding.check) for finding in findings)
        console = out()
        for finding in findings:
            symbol, colour = STYLE[finding.status]
            console.print(f"[{colour}]{symbol} {finding.status:<4}[/] {plain(finding.check):<{width}}  {plain(finding.detail)}")
            if finding.fix and finding.status != "ok":
                console.print(f"  {'':<4} {'':<{width}}  [bold]fix:[/] {plain(finding.fix)}")
        counts = {name: sum(1 for finding in findings if finding.status == name) for name in ("fail", "warn")}
        console.print(f"\n{counts['fail']} failed, {counts['warn']} warning{'s' if counts['warn'] != 1 else ''}, "
                      f"{len(findings) - counts['fail'] - counts['warn']} fine")
    if status == "fail":
        raise typer.Exit(1)
