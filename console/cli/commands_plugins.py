"""`flowdeck plugins`: the step kinds, connectors, channels and backends installed packages add."""

from __future__ import annotations

from typing import Annotated

import typer

from flowdeck.console.cli.app import app
from flowdeck.console.cli.output import err, out, plain, print_json


@app.command("plugins")
def list_plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list, each plugin with its config's JSON Schema.")] = False,
) -> None:
    """List installed plugins: group, name, package and version; a broken one with why it does not load.

    Plugins are packages declaring entry points in the groups flowdeck.step_kinds,
    flowdeck.connectors, flowdeck.channels and flowdeck.backends (docs/development.md).

    Example: `flowdeck plugins --json`
    """
    from flowdeck.engine.plugins.inventory import installed_plugins, plugin_schema

    plugins = installed_plugins()
    if as_json:
        print_json([{**info.to_json(), "config_schema": plugin_schema(info)} for info in plugins])
        return
    if not plugins:
        err().print("no plugins installed (a plugin is a package with a flowdeck.* entry point: see docs/development.md)")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("GROUP", "NAME", "PACKAGE", "VERSION", "STATUS"):
        table.add_column(column, overflow="fold")
    for info in plugins:
        status = "[green]ok[/]" if info.ok else f"[red]broken[/]: {plain(info.error or '')}"
        table.add_row(info.group.removeprefix("flowdeck."), plain(info.name), plain(info.distribution or info.target),
                      plain(info.version or ""), status)
    out().print(table)
    broken = sum(not info.ok for info in plugins)
    if broken:
        err().print(f"{broken} broken plugin(s): a pipeline or channel using one is refused with the reason above")
