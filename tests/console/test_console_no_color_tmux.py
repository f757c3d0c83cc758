"""In a real terminal with NO_COLOR: what went wrong is drawn bold and reversed, never as a dark grey.

Textual turns colours into greys under NO_COLOR; red text became colour 236 on 233. The
attributes of each character are read back from tmux (``capture-pane -e``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import add_broken_pipeline, copy_example_project
from tests.tmuxkit import FLOWDECK, Cell, console_env, contrast

READABLE = 110  # lightness difference between text and background (0-255) an operator reads at a glance


def _alarming(cells: list[Cell]) -> bool:
    return all(cell.bold and cell.reverse for cell in cells if cell.char != " ")


@pytest.mark.slow
def test_with_no_color_a_failure_its_error_and_a_critical_alert_are_bold_reversed_and_readable(
        tmp_path: Path, tmux) -> None:  # type: ignore[no-untyped-def]
    project = copy_example_project(tmp_path / "project")
    add_broken_pipeline(project)
    failed = subprocess.run([str(FLOWDECK), "--project", str(project), "run", "broken_sales"], capture_output=True,
                            text=True)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    terminal = tmux(80, 24)
    terminal.start([str(FLOWDECK), "console"], console_env(project, NO_COLOR="1"), inherit=False)
    terminal.wait_for_text("broken_sales", "✗ failed")
    terminal.keys("Down")  # off the cursor row, whose own colours would hide the problem
    terminal.wait_for(lambda s: terminal.cells_of("daily_sales")[0].bg != terminal.cells_of("broken_sales")[0].bg,
                      10, "the cursor to move off broken_sales")
    failure = terminal.cells_of("✗ failed")
    assert _alarming(failure), failure
    assert all(contrast(cell) >= READABLE for cell in failure), failure

    terminal.keys("3")
    terminal.wait_for_text("‼ critic")  # the whole word needs the LEVEL column wide enough (item 8)
    critical = terminal.cells_of("‼ critic")
    assert _alarming(critical), critical

    terminal.keys("Enter")  # the alert's run
    screen = terminal.wait_for_text("Conversion Error")
    error_line = next(line for line in screen.splitlines() if "Conversion Error" in line).strip()
    error = terminal.cells_of(error_line[:30])
    assert all(contrast(cell) >= READABLE for cell in error if cell.char != " "), error
    assert all(cell.bold for cell in error if cell.char != " "), error
