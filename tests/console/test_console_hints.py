"""The run view's performance hints: shown whole once a run that spilled to disk has ended, with the
docs section that explains them, and nothing for a normal run; through Pilot and in a real terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import drive, finished_run, make_app, screen_text, wait_for
from flowdeck.console.tui.screens.run_detail import RunDetailScreen
from flowdeck.engine.workspace import Workspace
from tests.tmuxkit import Terminal, console_env

FLOWDECK = Path(sys.executable).with_name("flowdeck")
AGGREGATE_SQL = "SELECT m, count(*) AS n FROM (SELECT md5(i::VARCHAR) AS m FROM range(1500000) t(i)) GROUP BY m\n"


def add_spilling_pipeline(project: Path) -> None:
    """`aggregate`: a hash aggregate that needs more than the 100MB the warehouse is given, so it spills."""
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text().replace("warehouse:\n", "warehouse:\n  memory_limit: 100MB\n  threads: 2\n", 1)
                      + "\nmonitoring:\n  sample_interval: 200ms\n  flush_interval: 1s\n")
    folder = project / "pipelines" / "aggregate"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text("steps:\n  - {name: keys, kind: transform, sql: keys.sql}\n")
    (folder / "keys.sql").write_text(AGGREGATE_SQL)


@pytest.fixture
def spilled(project_dir: Path) -> Iterator[tuple[Workspace, str, str]]:
    """The example project given little memory, after a run that spilled and a normal one."""
    add_spilling_pipeline(project_dir)
    ws = Workspace.open(project_dir)
    try:
        yield ws, finished_run(ws, "aggregate"), finished_run(ws, "daily_sales")
    finally:
        ws.close()


def _flat(app: object) -> str:
    return " ".join(" ".join(line.split()) for line in screen_text(app).splitlines())


@pytest.mark.slow
@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
def test_a_finished_run_that_spilled_shows_its_hint_whole_and_a_normal_run_none(
        spilled: tuple[Workspace, str, str], size: tuple[int, int]) -> None:
    ws, spill_run, normal_run = spilled
    app = make_app(ws)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon", *f"show {spill_run}", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and "hints" in screen_text(app),
                       what="the run's hints")
        flat = _flat(app)
        assert "▸ the run spilled" in flat
        assert "while keys ran: raise warehouse.memory_limit (now 100MB), or put .flowdeck/tmp on a fast local disk" \
            in flat  # wrapped, not cut, at 80 columns
        assert "(see docs/tuning.md#spilled-to-disk)" in flat
        await pilot.press("escape")
        await pilot.press("colon", *f"show {normal_run}", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run_id == normal_run
                       and app.screen.hints is not None, what="the normal run, its hints read")
        await pilot.pause(0.2)
        assert app.screen.hints == []
        assert "hints" not in screen_text(app) and "▸" not in screen_text(app)

    drive(app, scenario, size)


@pytest.mark.slow
def test_the_hint_reads_whole_in_tmux_at_80x24(spilled: tuple[Workspace, str, str], project_dir: Path,
                                               tmp_path: Path) -> None:
    _, spill_run, _ = spilled
    terminal = Terminal(tmp_path / "tmux.sock")
    try:
        terminal.start([str(FLOWDECK), "console"], console_env(project_dir), inherit=False)
        terminal.wait_for_text("daily_sales", "aggregate")
        terminal.keys(":")
        terminal.type(f"show {spill_run}")
        terminal.keys("Enter")
        seen = terminal.wait_for_text("hints", "▸ the run spilled", "docs/tuning.md#spilled-to-disk")
        flat = " ".join(" ".join(line.strip("│ ").split()) for line in seen.splitlines())
        assert "raise warehouse.memory_limit (now 100MB)" in flat
        assert all(len(line) <= 80 for line in seen.splitlines())
    finally:
        terminal.kill()
