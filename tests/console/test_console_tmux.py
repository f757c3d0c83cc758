"""End to end: the real console in tmux at 80x24, driven by keys; runs outlive the console.

Launches daily_sales with keys and waits for the screen to say it succeeded; launches a slow
pipeline, kills the console (tmux hangs up on it, as a dropped SSH session would) while that
run is in progress, starts the console again and watches the same run continue and finish.

The slow run is slow without burning CPU (other suites share the machine): another process
holds the warehouse, so the run waits for it, running, until the test lets go; then its
three SQL steps (about a second each, on one thread) run while the console watches.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import add_slow_pipeline, copy_example_project
from flowdeck.state import Ledger
from tests.tmuxkit import Terminal

FLOWDECK = Path(sys.executable).with_name("flowdeck")
HOLD_WAREHOUSE = "import sys, time, duckdb; c = duckdb.connect(sys.argv[1]); print('holding', flush=True); time.sleep(600)"


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    """A tmux server of this test's own (its socket in tmp_path)."""
    term = Terminal(tmp_path / "tmux.sock")
    yield term
    term.kill()


def _console_env(project: Path) -> dict[str, str]:
    return {"TERM": "xterm-256color", "TEXTUAL_ANIMATIONS": "none", "FLOWDECK_PROJECT": str(project),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


@pytest.mark.slow
def test_console_in_tmux_launches_by_keys_and_a_run_outlives_a_killed_console(tmp_path: Path, terminal: Terminal) -> None:
    project = copy_example_project(tmp_path / "project")
    add_slow_pipeline(project, rows=150_000_000)
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text().replace("  lock_timeout: 60s", "  lock_timeout: 300s\n  threads: 1"))
    env = _console_env(project)
    terminal.start([str(FLOWDECK), "console"], env)
    terminal.wait_for(lambda s: "daily_sales" in s and "slow_sales" in s, 30, "the pipeline list")

    terminal.keys("r")  # daily_sales is the first row
    terminal.wait_for(lambda s: "run daily_sales" in s and "since" in s, 10, "the parameter dialog")
    terminal.keys("Enter")
    # the summary and the step lines are drawn in separate frames: wait for both
    terminal.wait_for(lambda s: "✓ succeeded · daily_sales · 8/8 steps" in s and "export_daily_sales" in s, 90,
                      "daily_sales to succeed, with its steps listed")

    terminal.keys("F9")  # not Esc: Esc followed quickly by a key reads as alt+key
    terminal.wait_for(lambda s: "PIPELINE" in s and "Run" in s.splitlines()[-1], 10, "the pipeline list")
    terminal.keys(":")
    terminal.wait_for(lambda s: "runs failed" in s, 10, "the command line")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WAREHOUSE, str(project / ".flowdeck" / "warehouse.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    ledger = Ledger(project / ".flowdeck" / "ledger.sqlite")
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        terminal.keys("run slow_sales", "Enter")
        terminal.wait_for(lambda s: "▶ running · slow_sales" in s, 60, "the slow run to start")
        slow = ledger.list_runs(pipeline="slow_sales")[0]
        assert slow.status == "running"
        terminal.kill()  # the console dies mid-run
        time.sleep(0.5)
        assert ledger.get_run(slow.run_id).status == "running"  # type: ignore[union-attr]

        terminal.start([str(FLOWDECK), "console"], env)
        terminal.wait_for(lambda s: "slow_sales" in s, 30, "the console to come back")
        terminal.keys("2")
        seen = terminal.wait_for(lambda s: slow.run_id in s, 15, "the slow run in the run list")
        row = next(line for line in seen.splitlines() if slow.run_id in line)
        assert "▶ running" in row, row  # still going after the console died
        terminal.keys("Enter")
        terminal.wait_for(lambda s: "▶ running · slow_sales" in s and "warehouse" in s, 15, "the run, waiting")
        holder.kill()  # let go of the warehouse: the run goes on
        terminal.wait_for(lambda s: "✓ succeeded · slow_sales · 3/3 steps" in s, 120, "the slow run to finish")
        final = ledger.get_run(slow.run_id)
        assert final is not None and final.status == "succeeded"
        assert [step.status for step in ledger.steps_of(slow.run_id)] == ["succeeded"] * 3
    finally:
        holder.kill()
        holder.wait()
        ledger.close()


GREYS_256 = {0, 7, 8, 15, 16, 59, 102, 145, 188, 231, *range(232, 256)}


def _colours(raw: str) -> list[tuple[str, ...]]:
    """Every SGR colour the screen uses: ("5", n) for 256-colour, ("2", r, g, b) for truecolor, ("16", code)."""
    found: list[tuple[str, ...]] = []
    for params in re.findall(r"\x1b\[([0-9;]*)m", raw):
        parts = params.split(";")
        index = 0
        while index < len(parts):
            part = parts[index]
            if part in ("38", "48") and index + 1 < len(parts):
                if parts[index + 1] == "5":
                    found.append(("5", parts[index + 2]))
                    index += 3
                    continue
                if parts[index + 1] == "2":
                    found.append(("2", *parts[index + 2:index + 5]))
                    index += 5
                    continue
            if part.isdigit() and (30 <= int(part) <= 37 or 40 <= int(part) <= 47 or 90 <= int(part) <= 107):
                found.append(("16", part))
            index += 1
    return found


@pytest.mark.slow
@pytest.mark.parametrize("extra_env", [{"TERM": "screen", "TEXTUAL_COLOR_SYSTEM": "standard"}, {"NO_COLOR": "1"}],
                         ids=["16-colours", "no-color"])
def test_console_in_16_colours_and_with_no_color_shows_status_by_symbol_and_word(
        tmp_path: Path, terminal: Terminal, extra_env: dict[str, str]) -> None:
    project = copy_example_project(tmp_path / "project")
    subprocess.run([str(FLOWDECK), "--project", str(project), "run", "daily_sales"], check=True,
                   capture_output=True)
    terminal.start([str(FLOWDECK), "console"], {**_console_env(project), **extra_env})
    terminal.wait_for(lambda s: "✓ succeeded" in s and "· never" in s, 30, "the statuses as words")
    colours = _colours(terminal.tmux("capture-pane", "-p", "-e", "-t", "console"))
    assert colours, "the screen uses some colour or grey"
    if "NO_COLOR" in extra_env:  # monochrome: only greys, so status must read without hue
        hues = [c for c in colours if (c[0] == "5" and int(c[1]) not in GREYS_256)
                or (c[0] == "2" and len(set(c[1:])) > 1) or (c[0] == "16" and c[1][-1] not in "079")]
        assert not hues, hues[:5]
    else:  # 16 colours: no 256-colour or truecolor sequences
        assert all(c[0] == "16" for c in colours), [c for c in colours if c[0] != "16"][:5]


@pytest.mark.slow
def test_dag_editor_in_tmux_adds_a_step_undoes_it_adds_it_again_and_saves_a_valid_pipeline(
        tmp_path: Path, terminal: Terminal) -> None:
    project = copy_example_project(tmp_path / "project")
    yaml = project / "pipelines" / "daily_sales" / "pipeline.yaml"
    before = yaml.read_text()
    terminal.start([str(FLOWDECK), "console"], _console_env(project))
    terminal.wait_for(lambda s: "daily_sales" in s and "ingest_orders" in s, 30, "the pipeline list")
    terminal.keys("D")  # daily_sales is the first row
    terminal.wait_for_text("WAITS FOR", "export_daily_sales", "no pending change")
    terminal.keys("G", "a")  # on the last step (it writes daily_sales out): a new step reading daily_sales
    terminal.wait_for_text("add a step", "daily_sales")
    terminal.keys("Tab")
    terminal.type("top_days")
    terminal.keys("Enter")
    screen = terminal.wait_for_text("top_days", "1 change not saved")
    assert "top_days.sql" not in os.listdir(yaml.parent) and yaml.read_text() == before
    assert re.search(r"top_days\s+transform\s+daily_sales", screen), screen  # the table: kind and what it waits for
    terminal.keys("u")
    terminal.wait_for(lambda s: "undone: added transform step" in s and "top_days" not in s.split("undone")[0], 10,
                      "the undo")
    terminal.keys("a")
    terminal.wait_for_text("add a step")
    terminal.keys("Tab")
    terminal.type("top_days")
    terminal.keys("Enter")
    terminal.wait_for_text("top_days", "1 change not saved")
    terminal.keys("s")
    terminal.wait_for_text("saved top_days.sql, pipeline.yaml")
    saved = yaml.read_text()
    assert saved.startswith(before.rstrip("\n")) and saved.endswith(
        "\n\n  - name: top_days\n    kind: transform\n    sql: top_days.sql\n")
    assert "# if the daemon dies mid-run" in saved  # the comments are kept
    validate = subprocess.run([str(FLOWDECK), "validate", "daily_sales"], env=_console_env(project),
                              capture_output=True, text=True, timeout=60)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "9 steps" in validate.stdout + validate.stderr
