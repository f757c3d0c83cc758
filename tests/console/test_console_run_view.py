"""Pilot tests of the run view: the log follows its tail at every size, live and after the end."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.widgets import Log

from conftest import drive, finished_run, make_app, screen_text, wait_for
from flowdeck.console.tui.screens.run_detail import RunDetailScreen
from flowdeck.engine.workspace import Workspace

BOTH_SIZES = [(80, 24), (200, 50)]


def _last_log_line_shown(app: object) -> bool:
    screen = app.screen  # type: ignore[attr-defined]
    if not isinstance(screen, RunDetailScreen):
        return False
    log = screen.query_one(Log)
    at_end = log.scroll_offset.y >= log.max_scroll_y
    return at_end and any("run succeeded" in line for line in log.lines[-3:]) and "run succeeded" in screen_text(app)


@pytest.mark.parametrize("size", BOTH_SIZES)
def test_a_finished_runs_log_shows_its_last_line_once_the_steps_and_checks_are_drawn(
        workspace: Workspace, size: tuple[int, int]) -> None:
    run_id = finished_run(workspace)  # its warned check makes the checks table appear under the steps
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon", *f"show {run_id}", "enter")
        await wait_for(pilot, lambda: _last_log_line_shown(app), what="the log's last line, run succeeded")
        assert "following" in screen_text(app)

    drive(app, scenario, size)


def test_a_live_runs_log_keeps_following_as_steps_and_checks_appear(workspace: Workspace, project_dir: Path) -> None:
    record, _ = workspace.submit("daily_sales")
    app = make_app(workspace)

    def execute() -> None:
        worker = Workspace.open(project_dir)  # as a worker process would: its own connection
        try:
            worker.execute(record.run_id)
        finally:
            worker.close()

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon", *f"show {record.run_id}", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen), what="the run view")
        runner = threading.Thread(target=execute)
        runner.start()
        try:
            await wait_for(pilot, lambda: _last_log_line_shown(app), timeout=60, what="the log to reach run succeeded")
        finally:
            runner.join()

    drive(app, scenario)


def _flat(text: str) -> str:
    """Screen text with the box borders and line breaks of wrapping taken out."""
    return " ".join(line.strip(" │╭╮╰╯─") for line in text.splitlines()).replace("  ", " ")


@pytest.mark.parametrize("size", BOTH_SIZES)
def test_the_parameters_a_run_was_launched_with_are_shown_in_its_view_and_the_run_list(
        workspace: Workspace, size: tuple[int, int]) -> None:
    workspace.launch_detached = lambda run_id: 0  # type: ignore[method-assign]  # queued, nobody runs it
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon", *"run daily_sales since=2026-10-15", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run is not None)
        await wait_for(pilot, lambda: "since=2026-10-15" in screen_text(app), what="the parameter in the run view")
        if size[0] >= 120:
            await pilot.press("2")
            await wait_for(pilot, lambda: "since=2026-10-15" in screen_text(app), what="the parameter in the run list")

    drive(app, scenario, size)


def test_the_whole_error_of_a_failed_step_can_be_read_at_80_columns(workspace: Workspace, project_dir: Path) -> None:
    from conftest import add_broken_pipeline

    add_broken_pipeline(project_dir)
    run_id = finished_run(workspace, "broken_sales")
    error = workspace.ledger.steps_of(run_id)[0].error
    assert error is not None and len(error.splitlines()[0]) > 160  # two lines and more at 80 columns
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon", *f"show {run_id}", "enter")
        await wait_for(pilot, lambda: "Conversion Error" in screen_text(app), what="the error")
        first_line = " ".join(error.splitlines()[0].split())
        await wait_for(pilot, lambda: first_line in _flat(screen_text(app)), what="the whole first line of the error")

    drive(app, scenario, (80, 24))
