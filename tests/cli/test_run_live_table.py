"""`flowdeck run` on a terminal (tmux, 80x24): the live table's TIME of a running step goes on as it runs, and
Ctrl-C cancels the run, in a process of its own and through a warm server (the client's terminal passed to the
server's fork)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.warmkit import GROUP, Warm
from tests.conftest import FLOWDECK, ledger_rows
from tests.rerun.helpers import write_slow_pipeline
from tests.tmuxkit import Terminal, console_env

pytestmark = GROUP


def _slow_time(screen: str) -> float | None:
    """The TIME column of the `slow` row of the live table, in seconds."""
    found = re.search(r"^slow\s+transform\s+▶ running\s+(\d+(?:\.\d+)?)s\s*$", screen, re.MULTILINE)
    return float(found.group(1)) if found else None


@pytest.mark.parametrize("through", ["own process", "warm server"])
def test_a_running_steps_time_goes_on_and_ctrl_c_cancels(through: str, warm: Warm, project: Path,
                                                         tmp_path: Path) -> None:
    write_slow_pipeline(project)
    env = console_env(project, FLOWDECK_WARM="on" if through == "warm server" else "off",
                      XDG_RUNTIME_DIR=warm.env["XDG_RUNTIME_DIR"])
    terminal = Terminal(tmp_path / "tmux.sock")
    terminal.start([str(FLOWDECK), "run", "slow"], env, cwd=project, inherit=False)
    try:
        first = _slow_time(terminal.wait_for(lambda screen: (_slow_time(screen) or 0) >= 0.5, 60, "the step running"))
        later = _slow_time(terminal.wait_for(lambda screen: (_slow_time(screen) or 0) >= 2.0, 30,
                                             "its time going on while it runs"))
        assert first is not None and later is not None and later > first
        terminal.keys("C-c")
        screen = terminal.wait_for_text("canceling the run", "⊘ canceled  run", timeout=30)
        assert "Traceback" not in screen
    finally:
        terminal.kill()
    run = ledger_rows(project, "SELECT status, owner_pid FROM runs")[0]
    assert run["status"] == "canceled"
    if through == "warm server":
        assert warm.status()["commands_served"] == 1  # type: ignore[index]
