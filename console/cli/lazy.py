"""The command group that imports a command's module only when that command is used.

`flowdeck run` needs `commands_runs` alone; importing all twenty command modules (with what they
import) and letting typer build all ~60 commands with their options cost every start tens of
milliseconds. The group knows from ``COMMAND_MODULES`` which module registers each command;
``--help``, a mistyped command (for its did-you-mean) and anything else that lists the commands
load them all, in the order they were always registered in, so every help reads as before.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from typer._click import Command  # typer's own copy of click's Command

# the command modules, in the order they register their commands (the order `--help` lists them in)
MODULES = (
    "commands_alerts", "commands_audit", "commands_backup", "commands_connections", "commands_console",
    "commands_daemon", "commands_doctor", "commands_env", "commands_lineage", "commands_monitor", "commands_new",
    "commands_pipelines", "commands_plan", "commands_plugins", "commands_recovery", "commands_retention",
    "commands_runs", "commands_secrets", "commands_spark", "commands_tests", "commands_warehouse", "commands_warm",
)

# each top-level command (or group of commands) → the module that registers it (a test keeps this true)
COMMAND_MODULES: dict[str, str] = {
    "alerts": "commands_alerts",
    "audit": "commands_audit", "whoami": "commands_audit",
    "backup": "commands_backup",
    "connections": "commands_connections",
    "console": "commands_console",
    "daemon": "commands_daemon", "status": "commands_daemon",
    "doctor": "commands_doctor",
    "env": "commands_env",
    "lineage": "commands_lineage",
    "stats": "commands_monitor", "report": "commands_monitor",
    "new": "commands_new",
    "init": "commands_pipelines", "validate": "commands_pipelines", "pipelines": "commands_pipelines",
    "graph": "commands_pipelines", "schema": "commands_pipelines",
    "plan": "commands_plan",
    "plugins": "commands_plugins",
    "versions": "commands_recovery", "rollback": "commands_recovery", "cleanup": "commands_recovery",
    "prune": "commands_retention",
    "run": "commands_runs", "runs": "commands_runs", "show": "commands_runs", "logs": "commands_runs",
    "cancel": "commands_runs",
    "secrets": "commands_secrets",
    "spark": "commands_spark",
    "test": "commands_tests",
    "query": "commands_warehouse",
    "warm": "commands_warm",
}


def import_command_module(module: str) -> None:
    """Import one command module (it registers its commands on the application)."""
    importlib.import_module(f"flowdeck.console.cli.{module}")


def import_every_command_module() -> None:
    """Register every command, in the order of ``MODULES``."""
    for module in MODULES:
        import_command_module(module)


class LazyCommands(MutableMapping[str, Any]):  # values: typer's click Commands
    """The group's commands: a command is built when it is first looked up, all of them when listed."""

    def __init__(self, built: MutableMapping[str, Command]) -> None:
        self._built: dict[str, Command] = dict(built)
        self._complete = False

    def __getitem__(self, name: str) -> Command:
        if name not in self._built and not self._complete:
            module = COMMAND_MODULES.get(name)
            if module is None:  # not a command (a typo): everything, so that the error can suggest one
                self._load_all()
            else:
                import_command_module(module)
                self._build_registered()
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        self._load_all()
        return iter(self._built)

    def __len__(self) -> int:
        self._load_all()
        return len(self._built)

    def _load_all(self) -> None:
        if self._complete:
            return
        import_every_command_module()
        self._build_registered()
        self._complete = True
        # the order of a full registration: commands before groups, by module, then as each module
        # registered them (what typer did when main.py imported every module in ``MODULES`` order)
        app = LazyGroup.application
        order = [info.name or _command_name(info.callback) for info in app.registered_commands]
        groups = [str(info.name) for info in app.registered_groups]

        def rank(name: str) -> tuple[int, int, int]:
            """(command 0 or group 1, its module's place in MODULES, its place among its module's registrations)."""
            module = MODULES.index(COMMAND_MODULES[name]) if name in COMMAND_MODULES else len(MODULES)
            if name in groups:
                return 1, module, groups.index(name)
            return 0, module, order.index(name) if name in order else len(order)

        self._built = {name: self._built[name] for name in sorted(self._built, key=rank)}

    def _build_registered(self) -> None:
        """Build the commands and groups registered on the application since the last look."""
        from typer.main import get_command_from_info, get_group_from_info

        app = LazyGroup.application
        for info in app.registered_commands:
            name = info.name or _command_name(info.callback)
            if name not in self._built:
                self._built[name] = get_command_from_info(
                    info, pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=app.rich_markup_mode)
        for group in app.registered_groups:
            if group.name and group.name not in self._built:
                self._built[str(group.name)] = get_group_from_info(
                    group, pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=app.rich_markup_mode,
                    suggest_commands=app.suggest_commands)


def _command_name(callback: Any) -> str:
    from typer.main import get_command_name

    return get_command_name(callback.__name__)


class LazyGroup(TyperGroup):
    """flowdeck's top-level group: its commands come from ``LazyCommands``."""

    # the application whose registrations the commands are built from (app.py sets it: importing app.py
    # from here would be a cycle, as it names this class)
    application: ClassVar[typer.Typer]

    def __init__(self, *, commands: MutableMapping[str, Command] | None = None, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(commands or {})
