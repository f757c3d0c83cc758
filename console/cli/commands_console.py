"""The `console` command: opens the full-screen Textual app (imported only here), in this terminal or,
with ``--web``, in browsers through textual-serve.

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
from flowdeck.engine.startup import resume_collection


def open_console(globals_: Globals, *, read_only: bool, theme: Optional[str], role: Optional[str] = None,
                 web_session: Optional[str] = None) -> None:
    """Start the Textual console on the chosen project.

    ``role`` lowers this user's role for the session (never raises it); ``web_session`` names the
    token a browser session came with, for the audit log (the web server passes both).
    """
    # a web session's terminal is textual-serve's, not the operator's: only a console opened here needs one
    if web_session is None and not (sys.stdin.isatty() and sys.stdout.isatty()):
        redirected = " and ".join(name for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout))
                                  if not stream.isatty())
        raise FlowdeckError(f"the console needs a terminal, and {redirected} is not one",
                            hint="run `flowdeck console` in a terminal (ssh -t for a remote one); for scripts use "
                            "`flowdeck runs`, `flowdeck show`, `flowdeck status`")
    from dataclasses import replace

    from flowdeck.engine.governance import roles
    from flowdeck.engine.project.project import Project
    from flowdeck.engine.workspace import Workspace

    project = Project.load(globals_.project)
    identity = roles.Identity.current()
    if role is not None:
        if role not in roles.ROLES:
            raise FlowdeckError(f"unknown role {role!r}", hint=f"use one of {', '.join(roles.ROLES)}")
        own = roles.role_of(identity, project.config.roles)
        identity = replace(identity, role=roles.at_most(role, own))
    if web_session is not None:
        identity = replace(identity, user=f"{identity.user} (web: {web_session})")
    workspace = Workspace(project, source="web" if web_session is not None else "console", identity=identity)
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

    resume_collection()  # held since the process started (engine/startup.py), Textual's import included
    run_console(workspace, read_only=read_only, theme=theme)


def known_themes(workspace: object) -> tuple[list[str], list[str]]:
    """The themes the console can use (flowdeck's files, the project's themes/ folder, Textual's own),
    and why theme files were skipped."""
    from textual.theme import BUILTIN_THEMES

    from flowdeck.console.tui.themes import BUILTIN_THEMES_DIR, load_themes

    loaded = load_themes(BUILTIN_THEMES_DIR, workspace.project.root / "themes")  # type: ignore[attr-defined]
    names = [*sorted(loaded.themes), *sorted(name for name in BUILTIN_THEMES if name not in loaded.themes)]
    return names, loaded.problems


def serve_console(globals_: Globals, *, host: Optional[str], port: Optional[int], read_only: bool,
                  theme: Optional[str]) -> None:
    """Serve the console to browsers until Ctrl-C (``console.web`` in flowdeck.yaml, docs/console.md)."""
    from flowdeck.console.web.access import web_access
    from flowdeck.console.web.server import ConsoleServer
    from flowdeck.engine.masking import install_log_masking
    from flowdeck.engine.project.project import Project

    install_log_masking()
    project = Project.load(globals_.project)
    ConsoleServer(project, web_access(project, host, port), read_only=read_only, theme=theme).serve()


@app.command("console")
def console_command(
    ctx: typer.Context,
    read_only: Annotated[bool, typer.Option("--read-only", help="Hide and refuse every action that changes anything.")] = False,
    theme: Annotated[Optional[str], typer.Option(
        "--theme", help="A theme: flowdeck-dark (default), flowdeck-light, ansi (16 colours), nord, a file in the "
        "project's themes/, or a Textual theme.")] = None,
    web: Annotated[bool, typer.Option("--web", help="Serve the console to browsers (textual-serve) instead of "
                                      "opening it here; see docs/console.md.")] = False,
    host: Annotated[Optional[str], typer.Option("--host", help="With --web: the address to listen on "
                                                "(default console.web.host, 127.0.0.1).", show_default=False)] = None,
    port: Annotated[Optional[int], typer.Option("--port", help="With --web: the port (default console.web.port, 8793).",
                                                show_default=False)] = None,
    role: Annotated[Optional[str], typer.Option("--role", hidden=True,
                                                help="Act with this role, if lower than yours.")] = None,
    web_session: Annotated[Optional[str], typer.Option("--web-session", hidden=True,
                                                       help="The web session's token name, for the audit log.")] = None,
) -> None:
    """Open the operator console: browse, edit, launch and watch pipelines (needs a terminal).

    Example: `flowdeck console --read-only --theme ansi`, or in a browser: `flowdeck console --web`
    """
    globals_ = ctx.find_root().obj or Globals()
    if not web and (host is not None or port is not None):
        raise typer.BadParameter("--host and --port go with --web", param_hint="--host/--port")
    if web:
        resume_collection()  # a server: nothing of its start is worth holding for (engine/startup.py)
        serve_console(globals_, host=host, port=port, read_only=read_only, theme=theme)
    else:
        open_console(globals_, read_only=read_only, theme=theme, role=role, web_session=web_session)
