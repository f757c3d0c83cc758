"""The `console` command: opens the full-screen Textual app (imported only here).

It refuses in words, before anything is drawn, what would leave an operator with a broken
screen: no terminal (stdin or stdout redirected: the app would write escape codes into a
pipe and never exit) and a theme that does not exist.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from flowdeck.console.cli.app import Globals, app
from flowdeck.engine.errors import FlowdeckError


def open_console(globals_: Globals, *, read_only: bool, theme: Optional[str]) -> None:
    """Start the Textual console on the chosen project."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        redirected = " and ".join(name for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout))
                                  if not stream.isatty())
        raise FlowdeckError(f"the console needs a terminal, and {redirected} is not one",
                            hint="run `flowdeck console` in a terminal (ssh -t for a remote one); for scripts use "
                            "`flowdeck runs`, `flowdeck show`, `flowdeck status`")
    from flowdeck.engine.workspace import Workspace

    workspace = Workspace.open(globals_.project, source="console")
    try:
        chosen = theme or workspace.project.config.console.theme
        known, problems = known_themes(workspace)
        if chosen not in known:
            import difflib

            ours = [name for name in known if name.startswith("flowdeck-") or name in ("ansi", "nord")]
            close = [name for name in ours if chosen in name] or difflib.get_close_matches(chosen, known, n=1)
            origin = "--theme" if theme else "console.theme in flowdeck.yaml"
            invalid = "".join(f"; theme file skipped: {problem}" for problem in problems)
            raise FlowdeckError(f"no theme named `{chosen}` ({origin}){invalid}",
                                hint=(f"did you mean `{close[0]}`? " if close else "") + f"themes: {', '.join(known)}")
    except BaseException:
        workspace.close()
        raise
    from flowdeck.console.tui.app import run_console

    run_console(workspace, read_only=read_only, theme=theme)


def known_themes(workspace: object) -> tuple[list[str], list[str]]:
    """The themes the console can use (flowdeck's files, the project's themes/ folder, Textual's own),
    and why theme files were skipped."""
    from textual.theme import BUILTIN_THEMES

    from flowdeck.console.tui.themes import BUILTIN_THEMES_DIR, load_themes

    loaded = load_themes(BUILTIN_THEMES_DIR, workspace.project.root / "themes")  # type: ignore[attr-defined]
    names = [*sorted(loaded.themes), *sorted(name for name in BUILTIN_THEMES if name not in loaded.themes)]
    return names, loaded.problems


@app.command("console")
def console_command(
    ctx: typer.Context,
    read_only: Annotated[bool, typer.Option("--read-only", help="Hide and refuse every action that changes anything.")] = False,
    theme: Annotated[Optional[str], typer.Option(
        "--theme", help="A theme: flowdeck-dark (default), flowdeck-light, ansi (16 colours), nord, a file in the "
        "project's themes/, or a Textual theme.")] = None,
) -> None:
    """Open the operator console: browse, edit, launch and watch pipelines (needs a terminal).

    Example: `flowdeck console --read-only --theme ansi`
    """
    open_console(ctx.find_root().obj or Globals(), read_only=read_only, theme=theme)
