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


def test_a_running_steps_elapsed_time_ticks_each_second_without_laying_the_screen_out(workspace: Workspace) -> None:
    """Watching a running step: its elapsed time and the run's duration are redrawn each second (the view
    stays live), but a tick redraws only those cells; it never lays the whole screen out again, which
    was most of an idle console's CPU on this view (bench/console_latency.py, issue 18)."""
    ledger = workspace.ledger
    record, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    assert ledger.claim_run(record.run_id)  # this process owns it: nobody reaps it
    ledger.add_steps(record.run_id, [("raw_orders", "extract", "raw_orders")])
    ledger.step_started(record.run_id, "raw_orders")  # no progress estimate: only the time moves
    app = make_app(workspace)

    def elapsed_shown() -> str:
        return str(app.screen.query_one("#step-raw_orders .step-elapsed").render())

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon", *f"show {record.run_id}", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and "running" in screen_text(app)
                       and elapsed_shown().endswith("s"), what="the running step with its elapsed time")
        await pilot.pause(1.5)  # the first draws settle
        screen = app.screen
        layouts: list[object] = []
        original = screen._refresh_layout

        def counted(*args: object, **kwargs: object) -> None:
            layouts.append(args)
            original(*args, **kwargs)

        screen._refresh_layout = counted
        seen = {elapsed_shown()}
        summaries = {str(screen.query_one("#run-summary").render())}
        for _ in range(12):
            await pilot.pause(0.25)
            seen.add(elapsed_shown())
            summaries.add(str(screen.query_one("#run-summary").render()))
        assert len(seen) >= 2 and len(summaries) >= 2, (seen, summaries)  # still live: both moved on
        assert layouts == []  # and no tick laid the screen out

    drive(app, scenario)
