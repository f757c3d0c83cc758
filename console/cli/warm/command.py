"""What a command knows when a warm server forked it (``server``): the standard library only, since the
application asks it as every command is dispatched."""

from __future__ import annotations

import os
import socket

from flowdeck.console.cli.warm.protocol import send

_connection: socket.socket | None = None  # in a forked process: its client's connection


def forked_for(connection: socket.socket) -> None:
    """Said by the server's forked process as it becomes its client's command."""
    global _connection
    _connection = connection


def serving() -> bool:
    """Whether this process is a command a warm server forked."""
    return _connection is not None


def hand_back(why: str) -> None:
    """End this forked process without running its command: its client runs it itself (a command a warm
    server does not run: ``WARM_COMMANDS`` in console/cli/app.py)."""
    if _connection is not None:
        try:
            send(_connection, {"handed_back": why})
        except OSError:
            pass
    os._exit(0)
