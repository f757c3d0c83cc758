"""Before a launch the console shows the run's plan (issue 16): which steps would run and why, or
`unchanged`, from the steps' fingerprints in the real ledger, computed through the engine; the force
box runs every step, as `flowdeck run --force` does.

Against a copy of the example project and its real ledger: daily_sales runs once through the engine,
then the launch dialog reads every step `= unchanged`; a SQL file changed on disk makes its step read
`SQL changed` and the steps downstream of it run too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable

from conftest import copy_example_project, drive, make_app, screen_text, wait_for
from flowdeck.console.tui.screens.launch import LaunchDialog
from flowdeck.console.tui.screens.run_detail import RunDetailScreen
from flowdeck.engine.workspace import Workspace
from tests.tmuxkit import Terminal, console_env

FLOWDECK = Path(sys.executable).with_name("flowdeck")
STEPS = ("raw_orders", "raw_customers", "raw_products", "orders_clean", "sales", "check_orders_reference_customers",
         "daily_sales", "export_daily_sales")
DOWNSTREAM_OF_ORDERS_CLEAN = ("sales", "check_orders_reference_customers", "daily_sales", "export_daily_sales")


def run_once(workspace: Workspace) -> None:
    """daily_sales run to its end through the engine, with its default parameter."""
    submitted = workspace.submit("daily_sales")
    assert workspace.execute(submitted.record.run_id) == "succeeded"


def change_orders_clean(project: Path) -> None:
    """A real change of orders_clean's SQL (not whitespace or a comment): one more filter."""
    sql = project / "pipelines" / "daily_sales" / "orders_clean.sql"
    sql.write_text(sql.read_text().replace("  AND order_date IS NOT NULL\n",
                                           "  AND order_date IS NOT NULL\n  AND quantity > 0\n"))


def step_line(screen: str, step: str) -> str:
    """The line of the plan that names ``step`` (the step name, then what the run does with it)."""
    return next((line for line in screen.splitlines() if f" {step} " in line and ("unchanged" in line or "runs" in line)),
                "")


def test_the_launch_dialog_shows_unchanged_steps_and_then_the_step_whose_sql_changed(
        workspace: Workspace, project_dir: Path) -> None:
    run_once(workspace)
    workspace.launch_detached = lambda run_id: 0  # type: ignore[method-assign]  # queued; nobody needs to run it
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.screen.query_one("#pipeline-table", DataTable).row_count == 2)
        await pilot.press("r")  # daily_sales, the first row
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchDialog), what="the launch dialog")
        await wait_for(pilot, lambda: "0 steps will run, 8 unchanged" in screen_text(app), timeout=60,
                       what="the plan: nothing changed since the run")
        shown = screen_text(app)
        for step in STEPS:
            assert "= unchanged" in step_line(shown, step), (step, shown)

        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, LaunchDialog))
        change_orders_clean(project_dir)
        await pilot.press("r")
        await wait_for(pilot, lambda: "5 steps will run, 3 unchanged" in screen_text(app), timeout=60,
                       what="the plan after the SQL change")
        shown = screen_text(app)
        assert "▶ runs" in step_line(shown, "orders_clean") and "SQL changed" in step_line(shown, "orders_clean")
        for step in DOWNSTREAM_OF_ORDERS_CLEAN:
            assert "▶ runs" in step_line(shown, step), (step, shown)
        for step in ("raw_orders", "raw_customers", "raw_products"):
            assert "= unchanged" in step_line(shown, step), (step, shown)

        await pilot.press("tab", "space")  # the force box: every step runs
        await wait_for(pilot, lambda: "8 steps will run, 0 unchanged (forced)" in screen_text(app), timeout=60,
                       what="the forced plan")
        assert "force ON" in screen_text(app)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen), what="the run view")
        run = workspace.ledger.get_run(app.screen.run_id)
        assert run is not None and run.options.get("force") is True and run.params == {"since": "2026-01-01"}

    drive(app, scenario, (120, 40))  # tall enough for the whole plan unscrolled (at 80x24 it scrolls: the tmux test)


def test_a_parameter_the_plan_cannot_take_is_said_in_the_dialog_and_nothing_is_queued(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.screen.query_one("#pipeline-table", DataTable).row_count == 2)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchDialog), what="the launch dialog")
        app.screen.query_one("#param-since").value = "not a date"
        await wait_for(pilot, lambda: "✗" in screen_text(app) and "since" in screen_text(app).split("✗", 1)[1],
                       timeout=60, what="the parameter's problem, in the dialog")
        assert isinstance(app.screen, LaunchDialog)  # no error dialog over it while typing
        assert workspace.ledger.list_runs() == []

    drive(app, scenario)


@pytest.mark.slow
def test_the_plan_reads_at_80x24_in_a_real_terminal(tmp_path: Path) -> None:
    project = copy_example_project(tmp_path / "project")
    workspace = Workspace.open(project)
    try:
        run_once(workspace)
    finally:
        workspace.close()
    change_orders_clean(project)
    terminal = Terminal(tmp_path / "tmux.sock")
    try:
        terminal.start([str(FLOWDECK), "console"], console_env(project), inherit=False)
        terminal.wait_for(lambda s: "daily_sales" in s and "ingest_orders" in s, 30, "the pipeline list")
        terminal.keys("r")
        shown = terminal.wait_for(lambda s: "5 steps will run, 3 unchanged" in s and "SQL changed" in s, 60,
                                  "the plan at 80x24")
        assert "▶ run daily_sales" in shown and "since" in shown
        assert "SQL changed" in step_line(shown, "orders_clean")
        for step in ("raw_orders", "raw_customers", "raw_products"):
            assert "= unchanged" in step_line(shown, step), (step, shown)
        for step in DOWNSTREAM_OF_ORDERS_CLEAN[:-1]:  # the last row is below the fold: the plan scrolls
            assert "▶ runs" in step_line(shown, step), (step, shown)
        assert "Enter or ^r: run" in shown  # the dialog fits: its keys stay on screen
        terminal.keys("Escape")
        terminal.wait_for(lambda s: "▶ run daily_sales" not in s, 10, "the dialog closed, nothing queued")
    finally:
        terminal.kill()
