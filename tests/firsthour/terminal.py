"""A real terminal for a CLI under test: the command runs on a pseudo-terminal that is its
controlling terminal (as in an SSH session), of a given size; the test reads what appears and types.

``getpass`` opens ``/dev/tty`` and rich measures the terminal, so a pty that is merely stdin and
stdout is not enough: the child is a session leader whose controlling terminal is the pty.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")


class Terminal:
    """``command`` running on a ``columns`` × ``lines`` terminal."""

    def __init__(self, command: list[str], *, env: dict[str, str], cwd: Path, columns: int = 80,
                 lines: int = 24) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: its stdin, stdout, stderr and /dev/tty are the pty
            try:
                os.chdir(cwd)
                os.execve(command[0], command, {**env, "TERM": "xterm", "COLUMNS": str(columns),
                                                "LINES": str(lines)})
            finally:
                os._exit(127)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        self.pid = pid
        self.fd = fd
        self._raw = b""
        self._seen = 0  # how much of the screen text ``expect`` has gone past
        self.returncode: int | None = None

    @property
    def text(self) -> str:
        """Everything the command wrote so far, without colours, with plain newlines."""
        return ANSI.sub("", self._raw.decode(errors="replace")).replace("\r\n", "\n")

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # the command ended and closed the terminal
            return False
        self._raw += chunk
        return bool(chunk)

    def expect(self, wanted: str, timeout: float = 30) -> str:
        """Wait until ``wanted`` appears after what was expected before; return the text up to it."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.text.find(wanted, self._seen)
            if found >= 0:
                before = self.text[self._seen:found + len(wanted)]
                self._seen = found + len(wanted)
                return before
            if time.monotonic() > deadline or not self._read(0.2):
                raise AssertionError(f"{wanted!r} did not appear; the terminal shows:\n{self.text[self._seen:]}")

    def type(self, line: str) -> None:
        """Type ``line`` and Enter."""
        os.write(self.fd, line.encode() + b"\r")

    def wait(self, timeout: float = 60) -> int:
        """Read until the command ends; return its exit code (killing it if it outlives ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            finished, status = os.waitpid(self.pid, os.WNOHANG)
            if finished:
                while self._read(0.05):  # what it wrote just before ending
                    if not select.select([self.fd], [], [], 0)[0]:
                        break
                self.returncode = os.waitstatus_to_exitcode(status)
                os.close(self.fd)
                return self.returncode
            self._read(0.1)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError(f"the command did not end within {timeout}s; the terminal shows:\n{self.text}")
