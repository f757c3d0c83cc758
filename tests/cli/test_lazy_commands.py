"""The command line's lazy group (console/cli/lazy.py) and its typer coercion without pydantic (console/cli/app.py):
each command's module is the one the table names, the commands list in the order a full registration gives,
a mistyped command still gets its did-you-mean, and values taken as given are what typer's adapters return."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, clean_env

CLI = REPO_ROOT / "console" / "cli"


def _python(code: str) -> str:
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=clean_env(), capture_output=True,
                               text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip().splitlines()[-1]


def test_every_command_is_registered_by_the_module_the_table_names() -> None:
    from flowdeck.console.cli import lazy
    from flowdeck.console.cli.main import app  # every module registered

    assert sorted(lazy.MODULES) == sorted(path.stem for path in CLI.glob("commands_*.py"))
    found: dict[str, str] = {}
    for info in app.registered_commands:
        found[info.name or info.callback.__name__] = info.callback.__module__
    for group in app.registered_groups:
        typer_app = group.typer_instance
        callbacks = [command.callback for command in typer_app.registered_commands]
        if typer_app.registered_callback is not None:
            callbacks.append(typer_app.registered_callback.callback)
        assert len({callback.__module__ for callback in callbacks}) == 1, group.name
        found[str(group.name)] = callbacks[0].__module__
    assert found == {name: f"flowdeck.console.cli.{module}" for name, module in lazy.COMMAND_MODULES.items()}


def test_commands_list_in_the_order_of_a_full_registration_whatever_was_loaded_first() -> None:
    eager = _python(
        "import json, typer.main, typer.core\n"
        "from flowdeck.console.cli.app import app\n"
        "from flowdeck.console.cli.lazy import import_every_command_module\n"
        "import_every_command_module()\n"
        "app.info.cls = typer.core.TyperGroup  # typer's own group, built from every registration\n"
        "print(json.dumps(list(typer.main.get_group(app).commands)))\n")
    lazy = _python(
        "import json, typer.main\n"
        "from flowdeck.console.cli.app import app\n"
        "group = typer.main.get_group(app)\n"
        "group.get_command(None, 'run'); group.get_command(None, 'secrets')  # two modules first, as commands do\n"
        "print(json.dumps(group.list_commands(None)))\n")
    assert json.loads(lazy) == json.loads(eager)
    assert len(json.loads(lazy)) >= 30


def test_a_mistyped_command_still_gets_its_did_you_mean(tmp_path: Path) -> None:
    completed = subprocess.run([sys.executable, "-m", "flowdeck.console.cli.main", "rn"], cwd=tmp_path, env=clean_env(),
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert "No such command 'rn'. Did you mean 'run', 'runs'?" in completed.stderr


@pytest.mark.parametrize(("annotation", "value"), [
    (str, "daily_sales"), (str, ""), (str, "  spaced  "), (str, "naïve=ü"), (str, b"bytes"),
    (list[str], ["a", "b"]), (list[str], ("since=2026-11-01",)), (list[str], []),
    (bool, True), (bool, False), (bool, "yes"), (bool, " no "),
])
def test_values_taken_as_given_are_what_typers_adapters_return(annotation: object, value: object) -> None:
    import flowdeck.console.cli.app  # noqa: F401 - installs the coercion taken as given
    from typer._coercion import build_runtime_param, resolve_type_descriptor
    from typer.core import TyperOption
    from typer.models import OptionInfo

    param = TyperOption(param_decls=["--value"], type_descriptor=resolve_type_descriptor(annotation, OptionInfo()))
    given = param.get_runtime_param()
    assert type(given).__name__ == "Given"
    expected = build_runtime_param(param.type_descriptor)._coerce_value(value, param=param, ctx=None)
    assert given._coerce_value(value, param=param, ctx=None) == expected
