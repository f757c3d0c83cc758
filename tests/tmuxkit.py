"""A real terminal for end-to-end tests: a private tmux server with one window (80x24 unless told),
read back as text (``screen``) or with each character's attributes and colours (``styled``, from
``capture-pane -e``); tests wait for what they expect to appear rather than sleeping."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

FLOWDECK = Path(sys.executable).with_name("flowdeck")


@dataclass(frozen=True)
class Cell:
    """One character on screen with the attributes it is drawn with."""

    char: str
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    reverse: bool = False
    fg: tuple[str, ...] | None = None  # ("5", n) 256 colours, ("2", r, g, b) truecolor, ("16", code), None default
    bg: tuple[str, ...] | None = None


class Terminal:
    """A private tmux server (its socket in a test's folder) with one window running a command."""

    def __init__(self, socket: Path, width: int = 80, height: int = 24) -> None:
        assert shutil.which("tmux"), "tmux is needed (make test installs it)"
        self.socket = socket
        self.width = width
        self.height = height

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
        self.tmux("new-session", "-d", "-s", "console", "-x", str(self.width), "-y", str(self.height), *where,
                  f"env {exports} {shlex.join(command)}; sleep 600", env=None if inherit else dict(env))

    def screen(self) -> str:
        """The text on screen now."""
        return self.tmux("capture-pane", "-p", "-t", "console")

    def styled(self) -> list[list[Cell]]:
        """The screen now, one list of cells per line, with attributes and colours."""
        return parse_sgr(self.tmux("capture-pane", "-p", "-e", "-t", "console"))

    def cells_of(self, text: str) -> list[Cell]:
        """The cells of the first place ``text`` is on screen (fails if it is not there)."""
        for line in self.styled():
            joined = "".join(cell.char for cell in line)
            at = joined.find(text)
            if at >= 0:
                return line[at:at + len(text)]
        raise AssertionError(f"{text!r} is not on screen:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        """Type keys (tmux key names: Enter, Escape, or literal text)."""
        for key in keys:
            self.tmux("send-keys", "-t", "console", key)
            time.sleep(0.15)

    def type(self, text: str) -> None:
        """Type literal text (never read as tmux key names)."""
        self.tmux("send-keys", "-t", "console", "-l", text)
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

    def wait_for_text(self, *texts: str, timeout: float = 30.0) -> str:
        """Wait until every one of ``texts`` is on screen; return that screen."""
        return self.wait_for(lambda s: all(text in s for text in texts), timeout, " and ".join(repr(t) for t in texts))

    def kill(self) -> None:
        """Kill the server: every process in the window gets SIGHUP, like an SSH hang-up."""
        subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], capture_output=True)


def console_env(project: Path, **extra: str) -> dict[str, str]:
    """The whole environment of a console in a test (start it with ``inherit=False``): the project, a
    256-colour TERM, no animations, UTC, a home of its own."""
    return {"TERM": "xterm-256color", "TEXTUAL_ANIMATIONS": "none", "FLOWDECK_PROJECT": str(project),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(project), "TZ": "UTC",
            "LANG": "C.UTF-8", **extra}


_SGR = re.compile(r"\x1b\[([0-9;:]*)m")


def parse_sgr(raw: str) -> list[list[Cell]]:
    """``capture-pane -e`` output as lines of cells. tmux writes only changes of attributes, and a
    line starts with the attributes the previous one ended with."""
    lines: list[list[Cell]] = [[]]
    state = Cell("")
    position = 0

    def add(text: str) -> None:
        for char in text:
            if char == "\n":
                lines.append([])
            else:
                lines[-1].append(replace(state, char=char))

    for match in _SGR.finditer(raw):
        add(raw[position:match.start()])
        state = _apply_sgr(state, match.group(1))
        position = match.end()
    add(raw[position:])
    return lines


def _apply_sgr(state: Cell, params: str) -> Cell:
    parts = [part for part in params.replace(":", ";").split(";")] or ["0"]
    index = 0
    while index < len(parts):
        code = int(parts[index] or 0)
        if code == 0:
            state = Cell("")
        elif code in (38, 48) and index + 1 < len(parts):
            if parts[index + 1] == "5":
                colour: tuple[str, ...] = ("5", parts[index + 2])
                index += 2
            else:
                colour = ("2", *parts[index + 2:index + 5])
                index += 4
            state = replace(state, fg=colour) if code == 38 else replace(state, bg=colour)
        else:
            state = _simple_sgr(state, code)
        index += 1
    return state


def _simple_sgr(state: Cell, code: int) -> Cell:
    flags = {1: ("bold", True), 2: ("dim", True), 3: ("italic", True), 4: ("underline", True), 7: ("reverse", True),
             22: ("bold", False), 23: ("italic", False), 24: ("underline", False), 27: ("reverse", False)}
    if code in flags:
        name, value = flags[code]
        state = replace(state, **{name: value})
        if code == 22:
            state = replace(state, dim=False)
    elif 30 <= code <= 37 or 90 <= code <= 97:
        state = replace(state, fg=("16", str(code)))
    elif 40 <= code <= 47 or 100 <= code <= 107:
        state = replace(state, bg=("16", str(code)))
    elif code == 39:
        state = replace(state, fg=None)
    elif code == 49:
        state = replace(state, bg=None)
    return state


def grey_level(colour: tuple[str, ...] | None, *, default: int) -> int:
    """How light a colour is, 0 (black) to 255 (white); ``default`` for the terminal's default colour."""
    if colour is None:
        return default
    if colour[0] == "2":
        red, green, blue = (int(part) for part in colour[1:4])
        return round(0.2126 * red + 0.7152 * green + 0.0722 * blue)
    if colour[0] == "5":
        number = int(colour[1])
        if number >= 232:
            return 8 + 10 * (number - 232)
        if number >= 16:
            steps = [0, 95, 135, 175, 215, 255]
            red, green, blue = steps[(number - 16) // 36], steps[(number - 16) // 6 % 6], steps[(number - 16) % 6]
            return round(0.2126 * red + 0.7152 * green + 0.0722 * blue)
        return 255 if number in (7, 15) else 128 if number == 8 else 0 if number == 0 else 100
    code = int(colour[1]) % 10
    return 255 if code == 7 else 0 if code == 0 else 100


def contrast(cell: Cell) -> int:
    """The difference in lightness between a cell's text and its background (reverse applied)."""
    fg, bg = grey_level(cell.fg, default=229), grey_level(cell.bg, default=0)
    if cell.reverse:
        fg, bg = bg, fg
    return abs(fg - bg)
