"""The typer application, its global options, and how commands reach the engine.

Commands import engine modules inside their bodies, so ``flowdeck --help`` stays fast.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Optional, cast

import typer
from typer.core import TyperOption

from flowdeck.console.cli.lazy import LazyGroup
from flowdeck.engine.startup import resume_collection

if TYPE_CHECKING:
    import click

    from flowdeck.engine.workspace import Workspace


def _flags_show_no_type() -> None:
    """typer (0.29) shows a type beside every option in --help, `<bool>` beside a flag too, as if
    `--version` took a value; a flag takes none, so its type column stays empty."""
    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: click.Context) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_show_no_type()


def _values_of_their_type_are_taken_as_given() -> None:
    """typer (0.29) coerces each value through a pydantic ``TypeAdapter`` it builds for the parameter on
    first use (a flag left out too): for `flowdeck run`'s options about 0.1 s of every start. A text
    option's value (a repeated one's: a list of texts) arrives from the command line as text, a flag's as
    a bool, which is all those adapters return; so such values are taken as given, and anything else
    (numbers with bounds, paths, a value not already of its type) still goes through typer's coercion."""
    from dataclasses import dataclass

    from typer._coercion import RuntimeParam, build_runtime_param
    from typer.core import _TyperParameter

    @dataclass(frozen=True)
    class Given(RuntimeParam):
        """A ``str``, ``list[str]`` or ``bool`` parameter's coercion: pydantic only for a value not of its type."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if self.annotation is str or self.annotation is bool:
                if type(value) is self.annotation:
                    return value
            elif isinstance(value, (list, tuple)) and all(type(item) is str for item in value):
                return list(value)
            return build_runtime_param(param.type_descriptor)._coerce_value(value, param=param, ctx=ctx)

    built = _TyperParameter.get_runtime_param

    def get_runtime_param(self: _TyperParameter) -> RuntimeParam:
        described = self.type_descriptor
        if self._runtime_param is None and described.annotation in (str, bool, list[str]) and \
                described.file_annotation is None and described.parameter_info.parser is None:
            self._runtime_param = Given(annotation=described.annotation, parameter_info=described.parameter_info)
        return built(self)

    _TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]


_values_of_their_type_are_taken_as_given()

app = typer.Typer(
    name="flowdeck",
    cls=LazyGroup,  # a command's module is imported when the command is used (console/cli/lazy.py)
    help="ETL pipelines of YAML and SQL on DuckDB, with a run ledger, a scheduler and an operator console.\n\n"
    "Run `flowdeck` alone on a terminal to open the console.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)
LazyGroup.application = app


@functools.cache
def command_line() -> click.Command:
    """The application as click runs it (``app()`` builds it anew at each call), built once a process: a warm
    server builds it before it forks, so that its forks do not (console/cli/warm/server.py)."""
    return cast("click.Command", typer.main.get_command(app))


# The commands that resume garbage collection themselves, once their start-up imports are done (engine/startup.py):
# `run` as its run begins executing, the console (`flowdeck` alone too: None) as its app starts. Every other command
# resumes it as it is dispatched.
HOLD_COLLECTION = ("run", "console", None)

# The commands a warm server runs (console/cli/warm/): none asks anything on the terminal, which a process the
# server forked cannot do as its client's foreground process could. The client runs any other command itself.
WARM_COMMANDS = ("run", "plan", "validate", "pipelines", "graph", "show", "runs", "logs", "test")


@dataclass
class Globals:
    """Options given before the command."""

    project: str | None = None


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"flowdeck {version('flowdeck')}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    project: Annotated[
        Optional[str],
        typer.Option("--project", "-p", metavar="DIR", show_default=False,
                     help="Project folder (else $FLOWDECK_PROJECT, else the nearest flowdeck.yaml upward)."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """Global options."""
    from flowdeck.console.cli.warm.command import hand_back, serving

    if serving() and ctx.invoked_subcommand not in WARM_COMMANDS:
        hand_back(f"`flowdeck {ctx.invoked_subcommand or ''}` is not run by a warm server")
    ctx.obj = Globals(project=project)
    if ctx.invoked_subcommand not in HOLD_COLLECTION:
        resume_collection()  # the console script held garbage collection while it started (engine/startup.py)
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            # `flowdeck` alone is `flowdeck console`: the command is looked up the way the CLI dispatches
            # one (its module registers itself on this app, so importing it from here would be a cycle)
            ctx.invoke(cast("click.Group", ctx.command).get_command(ctx, "console"))
        else:
            typer.echo(ctx.get_help())


def workspace(ctx: typer.Context, *, source: str = "cli") -> Workspace:
    """The workspace of the project chosen by the global options; ``source`` is where actions come from (audit log)."""
    from flowdeck.engine.workspace import Workspace

    globals_: Globals = ctx.find_root().obj or Globals()
    return Workspace.open(globals_.project, source=source)


# The one `--env` option of the commands that run in, plan for or read an environment (docs/environments.md).
EnvOption = Annotated[
    str,
    typer.Option("--env", metavar="NAME",
                 help="The environment: prod (the project's warehouse, the default) or a development one, "
                      "such as dev, which builds only what changed and reads the rest from prod."),
]
