"""The warm server (``python -m flowdeck.console.cli.warm.server``, started by `flowdeck warm start`).

A `flowdeck run` spends about a quarter of a second before its first step importing what it stands on
(typer, rich, pydantic, DuckDB, psutil, the engine). This process imports all of that once, then waits
on its socket (``protocol``); for each command its user's `flowdeck` sends, it forks a process, which
takes the client's standard input, output and error, folder, environment and umask, and runs the
command exactly as a `flowdeck` process of its own would (the same entry point, from the parsing of its
arguments on). The fork starts in a few milliseconds, with the imports already done.

Only the commands of ``WARM_COMMANDS`` run here (console/cli/app.py): none asks anything on the terminal,
which a forked process cannot do as the client's foreground process could. Any other command is handed
back, and the client runs it itself. The server's own code stays as it was when it started: before each
command it checks that no file of flowdeck's changed since (an upgrade, an edit in a checkout); if one did,
it refuses, stops taking commands, and ends once its commands have.

Signals: SIGTERM (`flowdeck warm stop`) stops taking commands; the server ends when the commands it
forked have ended (each client gets its command's status).
"""

from __future__ import annotations

import fcntl
import importlib
import io
import os
import selectors
import signal
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowdeck.console.cli.warm.command import forked_for
from flowdeck.console.cli.warm.protocol import (
    PACKAGE_ROOT,
    Frames,
    ProtocolError,
    installation,
    peer_uid,
    send,
    socket_path,
)
from flowdeck.engine.startup import hold_collection, resume_collection

# What the commands a warm server runs import as they work (else each forked process would import it again).
WARM_IMPORTS = (
    "flowdeck.console.cli.app", "flowdeck.console.cli.main", "flowdeck.console.cli.output",
    "flowdeck.console.cli.progress", "flowdeck.console.cli.commands_runs", "flowdeck.console.cli.commands_plan",
    "flowdeck.console.cli.commands_pipelines", "flowdeck.engine.workspace", "flowdeck.engine.run.executor",
    "flowdeck.engine.run.submit", "flowdeck.engine.backends.duckdb.backend", "flowdeck.engine.daemon.stand_in",
    "flowdeck.engine.openlineage.sender", "duckdb", "psutil", "rich.live", "sqlglot.dialects.duckdb",
)
CODE_FOLDERS = ("console", "engine", "state")  # the flowdeck package's code (beside its data: themes, docs)
ACCEPT_SECONDS = 1.0  # a client sends its request as it connects: one that does not in a second is dropped


def main() -> None:
    """Start: import, listen, say ``ready`` on standard output, then serve until stopped. In a forked
    process, return into the command it became (which exits as a `flowdeck` process exits)."""
    hold_collection()  # the imports make long-lived objects only (engine/startup.py)
    for module in WARM_IMPORTS:
        importlib.import_module(module)
    from flowdeck.console.cli.app import command_line  # imported here: after the hold, as the modules above
    from flowdeck.engine.project.validation import build_every_validator

    build_every_validator()  # else built in every fork, by the first validation of a file
    command_line()  # typer's click commands of the commands imported, likewise
    resume_collection()  # freezes them: the forked processes share their pages and never collect them
    path = Path(socket_path())
    prepare_folder(path.parent)
    try:
        server = Server(path)
    except AlreadyServing:
        print("busy", flush=True)
        return
    print(f"ready {os.getpid()} {server.path}", flush=True)
    _quiet_stdout()  # `flowdeck warm start` read that line and is gone; errors go on to stderr, its log
    command = server.serve()
    if command is not None:
        command()


class Server:
    """The socket, the commands running, and the loop that forks them."""

    def __init__(self, path: Path) -> None:
        if threading.active_count() != 1:  # a fork copies only the thread that forks: none may run beside it
            raise RuntimeError("a warm server must import nothing that starts a thread")
        self.path = path
        self._lock = _lock(path)
        self.pid = os.getpid()
        self.started_at = time.time()
        self.served = 0
        self.code = code_identity()
        self.stopping: str | None = None
        self.running: dict[int, socket.socket | None] = {}  # pid → its client's connection (None: the client left)
        self._listener = _listen(path)
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self._wake_write, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda _number, _frame: None)  # wakes the loop (the wakeup fd) to reap
        signal.signal(signal.SIGTERM, lambda _number, _frame: self.stop("stopped by SIGTERM"))
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal that started it is not its to follow
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, "listen")
        self._selector.register(self._wake_read, selectors.EVENT_READ, "wake")

    def serve(self) -> Callable[[], None] | None:
        """Serve until stopped and every command has ended (then return None); in a forked process, return
        the command that process is to run."""
        try:
            while not (self.stopping and not self.running):
                for key, _events in self._selector.select():
                    if key.data == "listen":
                        command = self._accept()
                        if command is not None:
                            return command
                    elif key.data == "wake":
                        _drain(self._wake_read)
                    else:
                        self._client_left(key.data)
                self._reap()
            return None
        finally:
            if os.getpid() == self.pid:
                self._close()

    def stop(self, why: str) -> None:
        """Take no more commands (those running go on); the loop ends when they have."""
        if self.stopping is None:
            self.stopping = why
            self._selector.unregister(self._listener)
            self._listener.close()
            self.path.unlink(missing_ok=True)

    def _accept(self) -> Callable[[], None] | None:
        try:
            connection, _address = self._listener.accept()
        except OSError:
            return None
        if peer_uid(connection) != os.getuid():  # before reading a byte: another user gets nothing from here
            connection.close()
            return None
        connection.settimeout(ACCEPT_SECONDS)
        try:
            request, fds = Frames(connection).receive(max_fds=3)
        except (ProtocolError, OSError):
            connection.close()
            return None
        try:
            return self._answer(connection, request, fds)
        except OSError:  # the client went before its answer: nothing of the server's is lost
            connection.close()
            return None
        finally:
            if os.getpid() == self.pid:
                for fd in fds:
                    os.close(fd)

    def _answer(self, connection: socket.socket, request: dict[str, Any], fds: list[int]) -> Callable[[], None] | None:
        kind = request.get("kind")
        if kind == "status":
            send(connection, self.status())
        elif kind == "stop":
            self.stop("stopped by `flowdeck warm stop`")
            send(connection, {"stopping": self.pid, "commands_running": len(self.running)})
        elif kind == "command" and len(fds) == 3:
            if request.get("installation") != installation():  # two installations whose socket names collide
                send(connection, {"refused": "another installation"})
            elif code_identity() != self.code:
                self.stop("flowdeck changed")
                send(connection, {"refused": "changed", "say": "flowdeck changed since its warm server started; "
                                  "that server has stopped (`flowdeck warm start` starts a new one)"})
            else:
                return self._fork(connection, request, fds)
        connection.close()
        return None

    def status(self) -> dict[str, Any]:
        """What `flowdeck warm status` shows."""
        return {"pid": self.pid, "socket": str(self.path), "started_at": self.started_at,
                "commands_served": self.served, "commands_running": len(self.running),
                "python": sys.executable, "package": PACKAGE_ROOT}

    def _fork(self, connection: socket.socket, request: dict[str, Any], fds: list[int]) -> Callable[[], None] | None:
        pid = os.fork()
        if pid == 0:
            self._leave_to_command(connection)
            return lambda: _run_command(connection, request, fds)
        try:
            os.setpgid(pid, pid)  # as the child does itself: whichever comes first, a hangup finds its group
        except OSError:
            pass
        self.served += 1
        self.running[pid] = connection
        connection.settimeout(None)
        self._selector.register(connection, selectors.EVENT_READ, pid)
        try:
            send(connection, {"started": pid})
        except OSError:  # the client left already: its command ends as if its terminal hung up
            self._client_left(pid)
        return None

    def _leave_to_command(self, connection: socket.socket) -> None:
        """In the forked process: let go of everything that is the server's."""
        signal.set_wakeup_fd(-1)
        for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self._selector.close()
        if self.stopping is None:
            self._listener.close()
        os.close(self._wake_read)
        os.close(self._wake_write)
        os.close(self._lock)
        for other in self.running.values():
            if other is not None and other is not connection:
                other.close()

    def _client_left(self, pid: int) -> None:
        """The client of command ``pid`` closed its end (killed, or its terminal gone): the command gets a
        hangup, as a command on a terminal that closed would."""
        connection = self.running.get(pid)
        if connection is None:
            return
        try:
            if connection.recv(4096):
                return  # a client sends nothing after its request; what one sends anyway is dropped
        except OSError:
            pass
        self._selector.unregister(connection)
        connection.close()
        self.running[pid] = None
        try:
            os.killpg(pid, signal.SIGHUP)
        except ProcessLookupError:
            pass

    def _reap(self) -> None:
        while self.running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            connection = self.running.pop(pid, None)
            if connection is None:
                continue
            self._selector.unregister(connection)
            try:
                if os.WIFSIGNALED(status):
                    send(connection, {"killed_by": os.WTERMSIG(status)})
                else:
                    send(connection, {"exit": os.waitstatus_to_exitcode(status)})
            except OSError:
                pass
            connection.close()

    def _close(self) -> None:
        if self.stopping is None:
            self.stop("ended")
        self._selector.close()
        os.close(self._wake_read)
        os.close(self._wake_write)
        os.close(self._lock)


class AlreadyServing(Exception):
    """Another warm server holds this installation's lock (two `flowdeck warm start` at once)."""


def _lock(path: Path) -> int:
    """Hold ``path``'s lock for as long as this server lives (a forked command lets go of its copy)."""
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyServing(str(path)) from None
    return fd


def _listen(path: Path) -> socket.socket:
    """Listen at ``path`` (its lock held), in a folder of this user's that no one else may enter."""
    path.unlink(missing_ok=True)  # a socket left by a server that was killed: whoever holds the lock owns the path
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    return listener


def prepare_folder(folder: Path) -> None:
    """Make this user's folder of warm servers, or make it private again: only its user may enter it. Refuse a
    folder someone else made there (anyone may create one under /tmp), or a link."""
    from flowdeck.engine.errors import FlowdeckError

    hint = "remove it (or set XDG_RUNTIME_DIR to a folder of yours), then `flowdeck warm start` again"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = os.lstat(folder)
    except OSError as error:
        raise FlowdeckError(f"cannot make the warm server's folder {folder}: {error.strerror}", hint=hint) from None
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid():
        raise FlowdeckError(f"{folder} is not a folder of this user's: a warm server's socket cannot go there", hint=hint)
    os.chmod(folder, 0o700)


def _quiet_stdout() -> None:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def code_identity() -> tuple[tuple[str, int, int], ...]:
    """flowdeck's Python files as they are now (path, size, modification time) and the site-packages folders'
    times (a package installed, upgraded or removed): what a server compares with what it imported before it
    runs a command."""
    found: list[tuple[str, int, int]] = []
    for top in CODE_FOLDERS:
        for folder, folders, files in os.walk(os.path.join(PACKAGE_ROOT, top)):
            folders[:] = sorted(name for name in folders if name != "__pycache__")
            for name in sorted(name for name in files if name.endswith(".py")):
                path = os.path.join(folder, name)
                status = os.stat(path)
                found.append((path, status.st_size, status.st_mtime_ns))
    for folder in sys.path:
        if folder.endswith("site-packages") and os.path.isdir(folder):
            found.append((folder, 0, os.stat(folder).st_mtime_ns))
    return tuple(found)


def _run_command(connection: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    """In the forked process: become the client's command, then run it as the `flowdeck` entry point does
    (its exit ends this process, with every exit handler run)."""
    try:
        os.setpgid(0, 0)  # a group of its own, as a shell gives a command: the client signals it, its children too
    except OSError:  # the server made it so first
        pass
    for number, fd in enumerate(fds):
        os.dup2(fd, number)
        os.close(fd)
    os.chdir(request["cwd"])
    os.umask(int(request["umask"]))
    for number in request.get("ignored", ()):  # as the client was started: ignoring Ctrl-C under nohup, say
        signal.signal(number, signal.SIG_IGN)
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    sys.stdin, sys.stdout, sys.stderr = (_stream(number, *request["stdio"][number]) for number in range(3))
    sys.argv = list(request["argv"])
    forked_for(connection)
    from flowdeck.console.cli.main import console_script

    console_script(try_warm=False)


def _stream(fd: int, encoding: str, errors: str) -> io.TextIOWrapper:
    """A standard stream on ``fd`` as Python makes it at start-up, for the client's encoding: line-buffered on
    a terminal."""
    interactive = os.isatty(fd)
    raw = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
    buffered = io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw)
    return io.TextIOWrapper(buffered, encoding=encoding, errors=errors, line_buffering=interactive or fd == 2,
                            write_through=fd == 2)


if __name__ == "__main__":
    main()
