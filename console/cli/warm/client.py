"""What every `flowdeck` command tries first: have this user's warm server run it (docs/operations.md,
"Warm start"). The standard library only: when no server runs, the command has lost one ``stat``.

The command runs in a process the server forks, with this process's standard input, output and error
(their descriptors passed over the socket), its folder, environment and umask; this process stays as
its stand-in for the terminal and the shell: it passes on the signals it gets (Ctrl-C, a hangup,
Ctrl-Z and fg) to the command's process group, and exits with the command's status, or is killed by
the signal that killed the command. If the server cannot run the command (it is not one a warm server
runs, or the server is out of date), this process runs it itself, as if no server were there.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from types import FrameType
from typing import Any

from flowdeck.console.cli.warm.protocol import (
    Frames,
    ProtocolError,
    installation,
    peer_uid,
    private_folder,
    send,
    socket_path,
)

OFF = ("0", "off", "no", "false")  # FLOWDECK_WARM=off: never use a warm server
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH)


def run_warm(argv: list[str]) -> int | None:
    """Run the command ``argv`` in this user's warm server: its exit status; None when no server runs it
    (the caller runs it itself)."""
    if os.environ.get("FLOWDECK_WARM", "").strip().lower() in OFF:
        return None
    if sys.stdin is None or sys.stdout is None or sys.stderr is None:
        return None  # started with a standard stream closed: there is no descriptor to pass, run it here
    connection = _connect()
    if connection is None:
        return None
    with connection:
        try:
            send(connection, _request(argv), fds=(0, 1, 2))
        except OSError:
            return None
        connection.settimeout(None)
        return _follow(Frames(connection))


def ask(kind: str) -> dict[str, Any] | None:
    """Ask this user's warm server for its ``status``, or to ``stop``: its answer; None when none runs."""
    connection = _connect()
    if connection is None:
        return None
    with connection:
        try:
            send(connection, {"kind": kind})
            return Frames(connection).receive()[0]
        except (ProtocolError, OSError):
            return None


def _connect() -> socket.socket | None:
    """A connection to this user's warm server for this installation, or None: none listens, or what listens
    is not safe to talk to (a folder others may enter, a process of another user)."""
    path = socket_path()
    if not os.path.exists(path) or not private_folder(os.path.dirname(path)):
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.settimeout(5.0)  # a server that takes no call in 5 s is not one to wait for
        connection.connect(path)
        if peer_uid(connection) == os.getuid():
            return connection
    except OSError:
        pass
    connection.close()
    return None


def _request(argv: list[str]) -> dict[str, Any]:
    umask = os.umask(0o022)
    os.umask(umask)
    return {"kind": "command", "installation": installation(), "argv": argv, "cwd": os.getcwd(),
            "env": dict(os.environ), "umask": umask, "ignored": ignored_signals(),
            "stdio": [[stream.encoding, stream.errors] for stream in (sys.stdin, sys.stdout, sys.stderr)]}


def ignored_signals() -> list[int]:
    """The signals this process was started ignoring (`nohup`, a shell's background job: Ctrl-C): the command
    ignores them too, and they are not passed on."""
    return [number for number in (*FORWARDED, signal.SIGTSTP) if signal.getsignal(number) == signal.SIG_IGN]


def _follow(frames: Frames) -> int | None:
    """Stand in for the command until it ends: its status (None if the server handed it back)."""
    command = _Command()
    handed_back = False
    try:
        while True:
            try:
                message, _ = frames.receive()
            except (ProtocolError, OSError):
                if command.pid is None and not handed_back:
                    return None  # the server went before it started the command: run it here
                print("flowdeck: the warm server ended before the command did; see `flowdeck warm status`",
                      file=sys.stderr)
                return 1
            if "refused" in message:
                if message.get("say"):
                    print(f"flowdeck: {message['say']}", file=sys.stderr)
                return None
            if "started" in message:
                command.started(int(message["started"]))
            elif "handed_back" in message:
                handed_back = True  # the command's process ends at once; its end is the next frame
            elif "exit" in message:
                return None if handed_back else int(message["exit"])
            elif "killed_by" in message:
                command.die_as(int(message["killed_by"]))
    finally:
        command.stop_forwarding()


class _Command:
    """The command's process group, as this process knows it: where signals go, and how this process ends
    when a signal ended the command."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self._previous: dict[int, Any] = {}

    def started(self, pid: int) -> None:
        self.pid = pid
        ignored = ignored_signals()
        for number in (*FORWARDED, signal.SIGTSTP, signal.SIGCONT):
            if number not in ignored:
                self._previous[number] = signal.signal(number, self._forward)

    def _forward(self, number: int, _frame: FrameType | None) -> None:
        if self.pid is None:
            return
        try:
            if number == signal.SIGTSTP:  # Ctrl-Z: the command stops, and so does this process (the shell's job)
                os.killpg(self.pid, signal.SIGSTOP)
                signal.signal(signal.SIGTSTP, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTSTP)
                signal.signal(signal.SIGTSTP, self._forward)
            else:  # SIGCONT too: `fg` continues this process, which continues the command
                os.killpg(self.pid, number)
        except ProcessLookupError:  # it has just ended: its status is on its way
            pass

    def stop_forwarding(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def die_as(self, number: int) -> None:
        """End this process as the command ended: killed by signal ``number``."""
        self.stop_forwarding()
        sys.stderr.flush()
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        os._exit(128 + number)  # a signal whose default is not to end the process
