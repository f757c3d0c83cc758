"""The `console` command: opens the full-screen Textual app (imported only here)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from flowdeck.console.cli.app import Globals, app


def open_console(globals_: Globals, *, read_only: bool, theme: Optional[str]) -> None:
    """Start the Textual console on the chosen project."""
    from flowdeck.console.tui.app import run_console
    from flowdeck.engine.workspace import Workspace

    run_console(Workspace.open(globals_.project, source="console"), read_only=read_only, theme=theme)


@app.command("console")
def console_command(
    ctx: typer.Context,
    read_only: Annotated[bool, typer.Option("--read-only", help="Hide and refuse every action that changes anything.")] = False,
    theme: Annotated[Optional[str], typer.Option("--theme", help="A theme from themes/ (e.g. nord, light, ansi).")] = None,
) -> None:
    """Open the operator console: browse, edit, launch and watch pipelines.

    Example: `flowdeck console --read-only`
    """
    open_console(ctx.find_root().obj or Globals(), read_only=read_only, theme=theme)
