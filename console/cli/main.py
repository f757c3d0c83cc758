"""Entry point of the `flowdeck` command: runs the application and turns errors into words.

No traceback ever reaches the user for an error they can act on: every ``FlowdeckError`` is
printed as its message and exits with its code (2 bad input, 1 failed run, 3 forbidden, 4 busy).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from flowdeck.engine.startup import end_without_teardown, exit_with, hold_collection


def __getattr__(name: str) -> Any:
    """``main.app``: the application with every command registered, for what lists or documents them
    (the console script itself imports a command's module only when that command runs: lazy.py)."""
    if name == "app":
        from flowdeck.console.cli.app import app
        from flowdeck.console.cli.lazy import import_every_command_module

        import_every_command_module()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run() -> None:
    """The console script."""
    hold_collection()  # until the command begins its work (engine/startup.py): before the imports
    import logging

    from flowdeck.console.cli.app import command_line  # here, not at the top: after the hold

    # the sender logs each delivery for the daemon's log; a command says what happened in its own words
    logging.getLogger("flowdeck.alerts.sender").addHandler(logging.NullHandler())
    try:
        command_line()()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # only our own errors are expected here; others are bugs
        from flowdeck.engine.errors import FlowdeckError
        from flowdeck.state.ledger import LedgerError

        from flowdeck.engine.masking import mask

        if isinstance(error, FlowdeckError):
            from flowdeck.console.cli.output import err, plain

            err().print(f"[red]error[/]: {plain(mask(error.render()))}")
            sys.exit(error.exit_code)
        if isinstance(error, LedgerError):
            print(f"error: {mask(str(error))}", file=sys.stderr)
            sys.exit(2)
        import sqlite3

        from flowdeck.state.ledger import DAMAGED

        if isinstance(error, sqlite3.DatabaseError) and getattr(error, "sqlite_errorname", "").startswith(DAMAGED):
            # damage found after the ledger opened (a page in the middle): say so, never a traceback
            print(f"error: the ledger is damaged: SQLite says \"{error}\"\nhint: restore it from your latest "
                  "`flowdeck backup` (docs/operations.md, \"Backup and restore\"); flowdeck changed nothing in it",
                  file=sys.stderr)
            sys.exit(2)
        from pathlib import Path

        from flowdeck.state.space import full_disk_message, is_disk_full

        if isinstance(error, OSError) and is_disk_full(error, Path(error.filename or ".").parent):
            # a file flowdeck writes (a log, the secrets file, an anchor) found the disk full
            folder = Path(error.filename).parent if error.filename else Path.cwd()
            print(f"error: {full_disk_message(folder, f'writing {error.filename}' if error.filename else 'flowdeck')}",
                  file=sys.stderr)
            sys.exit(2)
        import traceback

        # a bug: the traceback helps, but it may quote a secret's value
        print(mask(traceback.format_exc()), file=sys.stderr)
        sys.exit(70)


def console_script(*, try_warm: bool = True) -> None:
    """The `flowdeck` command (and ``python -m flowdeck.console.cli.main``): ``run`` in a process of its own,
    which ends without the interpreter's teardown (engine/startup.py); or, when this user's warm server runs
    it (console/cli/warm/), that server's fork of this process, which the command in this one stands in for."""
    if try_warm:
        from flowdeck.console.cli.warm.client import run_warm

        status = run_warm(sys.argv)
        if status is not None:
            sys.stderr.flush()
            os._exit(status & 0xFF)
    end_without_teardown()
    try:
        run()
    except SystemExit as exit:
        exit_with(exit.code)
        raise
    exit_with(0)


if __name__ == "__main__":
    console_script()
