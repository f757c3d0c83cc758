"""A warm server of a test's own (`flowdeck warm start` in a runtime folder of the test's; the ``warm`` fixture of
tests/cli/conftest.py), for the tests that run commands through one.

Their modules share one xdist group (``GROUP``): a test that makes flowdeck look changed stops every warm server
of this installation, another test's too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flowdeck.console.cli.warm.protocol import Frames, send
from tests.conftest import FLOWDECK, clean_env

GROUP = pytest.mark.xdist_group("warm-server")


class Warm:
    """A warm server of this test's own (its socket under the test's $XDG_RUNTIME_DIR), and the environment
    of the clients that use it."""

    def __init__(self, runtime: Path) -> None:
        runtime.mkdir(mode=0o700)
        self.env = clean_env(XDG_RUNTIME_DIR=str(runtime), FLOWDECK_WARM="on")
        self.folder = runtime / "flowdeck-warm"

    def flowdeck(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(FLOWDECK), *args], env=self.env, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]

    def status(self) -> dict[str, object] | None:
        """The server's status, asked on its socket (not through `flowdeck warm status`: a command the server
        would count as one it forked)."""
        sockets = list(self.folder.glob("*.sock"))
        if not sockets:
            return None
        with socket.socket(socket.AF_UNIX) as connection:
            try:
                connection.connect(str(sockets[0]))
            except OSError:
                return None
            send(connection, {"kind": "status"})
            return Frames(connection).receive()[0]

    def socket(self) -> Path:
        return next(self.folder.glob("*.sock"))


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def wait_until(condition: Callable[[], object], seconds: float = 20.0) -> bool:
    """Whether ``condition()`` came true within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
