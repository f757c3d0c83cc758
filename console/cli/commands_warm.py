"""`flowdeck warm`: this user's warm server, which starts commands such as `flowdeck run` with everything
already imported (console/cli/warm/, docs/operations.md "Warm start")."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from flowdeck.console.cli.app import app
from flowdeck.console.cli.output import err, out, plain, print_json

warm_app = typer.Typer(
    help="A warm server for this user: `flowdeck run`, `plan`, `validate` and the other read-and-run commands "
    "start in milliseconds instead of a quarter of a second.",
    no_args_is_help=True,
)
app.add_typer(warm_app, name="warm")

START_SECONDS = 60.0  # how long `warm start` waits for the server to have imported everything
EXIT_NOT_RUNNING = 1


@warm_app.command("start")
def warm_start() -> None:
    """Start this user's warm server in the background (one per user and flowdeck installation).

    Every later `flowdeck` command of this user that a warm server runs (run, plan, validate, pipelines,
    graph, show, runs, logs, test) then runs in a process forked from it. It stops with `flowdeck warm stop`,
    at logout (its socket is under $XDG_RUNTIME_DIR), or by itself when flowdeck is upgraded or edited.

    Example: `flowdeck warm start && flowdeck run daily_sales`
    """
    from flowdeck.console.cli.warm.client import ask
    from flowdeck.console.cli.warm.protocol import key, socket_folder
    from flowdeck.console.cli.warm.server import prepare_folder
    from flowdeck.engine.errors import FlowdeckError

    running = ask("status")
    if running is not None:
        out().print(f"a warm server runs already: pid {running['pid']}, socket {plain(running['socket'])}")
        return
    folder = Path(socket_folder())
    prepare_folder(folder)
    log = folder / f"{key()}.log"
    environment = {key: value for key, value in os.environ.items() if key != "FLOWDECK_WARM"}
    with open(log, "ab") as errors:
        server = subprocess.Popen([sys.executable, "-m", "flowdeck.console.cli.warm.server"], cwd="/",
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
                                  env=environment, start_new_session=True)
    assert server.stdout is not None
    deadline = time.monotonic() + START_SECONDS
    line = b""
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([server.stdout], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(server.stdout.fileno(), 4096) if ready else b""
        if ready and not chunk:
            break
        line += chunk
    server.stdout.close()
    words = line.decode(errors="replace").split()
    if words[:1] == ["busy"]:
        out().print("a warm server is starting already (another `flowdeck warm start`)")
        return
    if words[:1] != ["ready"]:
        if server.poll() is None:
            server.kill()
            raise FlowdeckError(f"the warm server was not ready within {START_SECONDS:.0f} s", hint=f"its errors are in {log}")
        said = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        raise FlowdeckError(f"the warm server ended as it started{': ' + said[0] if said else ''}",
                            hint=f"its errors are in {log}")
    out().print(f"warm server started: pid {words[1]}, socket {plain(words[2])}")


@warm_app.command("stop")
def warm_stop() -> None:
    """Stop this user's warm server: it takes no more commands, and ends once those it runs have ended.

    Example: `flowdeck warm stop`
    """
    from flowdeck.console.cli.warm.client import ask

    answer = ask("stop")
    if answer is None:
        out().print("no warm server runs for this user and installation")
        return
    running = answer["commands_running"]
    out().print(f"warm server pid {answer['stopping']} stopping" + (f" once its {running} running command(s) end" if running else ""))


@warm_app.command("status")
def warm_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON (see docs/cli.md).")] = False,
) -> None:
    """Show whether this user's warm server runs: its pid, socket, and the commands it served and runs.

    Exit code 1 when none runs.

    Example: `flowdeck warm status --json`
    """
    from flowdeck.console.cli.output import format_time
    from flowdeck.console.cli.warm.client import ask
    from flowdeck.console.cli.warm.protocol import socket_path

    status: dict[str, Any] | None = ask("status")
    if as_json:
        print_json({"running": status is not None, **(status or {"socket": str(socket_path())})})
    elif status is None:
        err().print(f"no warm server runs for this user and installation (its socket would be {plain(socket_path())})")
    else:
        out().print(f"warm server pid {status['pid']}, since {format_time(status['started_at'])}: "
                    f"{status['commands_served']} command(s) served, {status['commands_running']} running\n"
                    f"socket {plain(status['socket'])}\npython {plain(status['python'])}, "
                    f"flowdeck {plain(status['package'])}")
    if status is None:
        raise typer.Exit(EXIT_NOT_RUNNING)
