"""Commands about where data comes from and goes: lineage."""

from __future__ import annotations

from typing import Annotated

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import err, out, plain, print_json


@app.command()
def lineage(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A table (`daily_sales`) or a column (`daily_sales.revenue`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the edges as JSON (see docs/security.md).")] = False,
) -> None:
    """Show what feeds a table or column (upstream) and what it feeds (downstream), with masking and file checksums.

    Example: `flowdeck lineage daily_sales.revenue`
    """

    report = workspace(ctx).lineage(target)
    if as_json:
        print_json(report.to_json())
        return
    console = out()
    console.print(f"[bold]lineage of {plain(report.target)}[/]")
    for title, edges, arrow in (("upstream", report.upstream, "◂"), ("downstream", report.downstream, "▸")):
        console.print(f"\n{title}:")
        if not edges:
            console.print("  (nothing)")
        for edge in edges:
            near, far = (edge.target, edge.source) if arrow == "◂" else (edge.source, edge.target)
            extra = f"  [yellow]masked: {plain(edge.masked)}[/]" if edge.masked else ""
            if edge.checksum:
                extra += f"  [dim]sha256 {edge.checksum[:12]}[/]"
            console.print(f"  {plain(near)} {arrow} {plain(far)}  [dim]({edge.pipeline}.{edge.step})[/]{extra}")
    for note in report.notes:
        err().print(f"note: {note}")
