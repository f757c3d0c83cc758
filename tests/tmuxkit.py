"""A real terminal for end-to-end tests: a private tmux server with one 80x24 window, read as text."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class Terminal:
    """A private tmux server (its socket in a test's folder) with one 80x24 window running a command."""

    def __init__(self, socket: Path) -> None:
        assert shutil.which("tmux"), "tmux is needed (make test installs it)"
        self.socket = socket

    def tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run a tmux command on this server."""
        return subprocess.run(["tmux", "-S", str(self.socket), *args], check=True, capture_output=True,
                              text=True, env=env).stdout

    def start(self, command: list[str], env: dict[str, str], *, cwd: Path | None = None,
              inherit: bool = True) -> None:
        """Open the window running ``command`` with ``env`` set, in ``cwd`` (tmux's own when not given).

        With ``inherit`` false the server, and so the window, starts from ``env`` alone instead of
        this process's environment: nothing of the test's interpreter (PYTHONPATH, its venv) leaks in.
        """
        exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
        where = ["-c", str(cwd)] if cwd is not None else []
        self.tmux("new-session", "-d", "-s", "console", "-x", "80", "-y", "24", *where,
                  f"env {exports} {shlex.join(command)}; sleep 600", env=None if inherit else dict(env))

    def screen(self) -> str:
        """The 80x24 text on screen now."""
        return self.tmux("capture-pane", "-p", "-t", "console")

    def keys(self, *keys: str) -> None:
        """Type keys (tmux key names: Enter, Escape, or literal text)."""
        for key in keys:
            self.tmux("send-keys", "-t", "console", key)
            time.sleep(0.15)

    def wait_for(self, condition: Callable[[str], bool], timeout: float, what: str) -> str:
        """Poll the screen until ``condition(screen)`` holds."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if condition(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{text}")

    def kill(self) -> None:
        """Kill the server: every process in the window gets SIGHUP, like an SSH hang-up."""
        subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], capture_output=True)
