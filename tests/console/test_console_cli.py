"""`flowdeck console` from the command line: its help names real themes, and what would leave a broken
screen (no terminal, an unknown theme) is refused in words with exit status 2."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import copy_example_project
from tests.conftest import clean_env, run_flowdeck
from tests.tmuxkit import FLOWDECK, console_env


def test_console_help_names_themes_that_exist(tmp_path: Path) -> None:
    text = run_flowdeck("console", "--help").stdout
    assert "flowdeck-light" in text and "ansi" in text
    assert "nord, light" not in text and "--theme light" not in text


def test_console_without_a_terminal_refuses_in_words_and_exits(tmp_path: Path) -> None:
    project = copy_example_project(tmp_path / "project")
    completed = subprocess.run([str(FLOWDECK), "--project", str(project), "console"], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=60, env=clean_env())
    assert completed.returncode == 2, completed
    assert "the console needs a terminal" in completed.stderr and "stdin" in completed.stderr
    assert "\x1b[" not in completed.stdout  # no escape codes written into the pipe


def test_console_with_an_unknown_theme_refuses_in_words_with_the_themes(tmp_path: Path, tmux) -> None:  # type: ignore[no-untyped-def]
    project = copy_example_project(tmp_path / "project")
    terminal = tmux(80, 24)
    terminal.start(["sh", "-c", f"{FLOWDECK} console --theme light; echo exit=$?"], console_env(project), inherit=False)
    screen = terminal.wait_for_text("exit=", timeout=30)
    flat = " ".join(screen.split())
    assert "no theme named `light` (--theme)" in flat and "did you mean `flowdeck-light`?" in flat
    assert "exit=2" in flat
