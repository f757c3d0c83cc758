"""Pilot tests: words are not cut at 80x24 nor at 200x50 (alert levels and states, triggers, step
names, a run's id in the top bar)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import add_broken_pipeline, drive, finished_run, make_app, screen_text, wait_for
from flowdeck.console.tui.screens.run_detail import RunDetailScreen
from flowdeck.engine.workspace import Workspace

BOTH_SIZES = [(80, 24), (200, 50)]


@pytest.mark.parametrize("size", BOTH_SIZES)
def test_alert_levels_and_states_are_whole_words(workspace: Workspace, project_dir: Path, size: tuple[int, int]) -> None:
    add_broken_pipeline(project_dir)
    finished_run(workspace, "broken_sales")  # fires a critical alert
    (project_dir / "pipelines" / "broken_sales" / "amounts.sql").write_text("SELECT 12 AS amount\n")
    workspace.project.forget()
    finished_run(workspace, "broken_sales")  # and resolves it
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("3")
        await wait_for(pilot, lambda: "✓ resolved" in screen_text(app) and "‼ critical" in screen_text(app),
                       what="the resolved critical alert, whole")

    drive(app, scenario, size)


@pytest.mark.parametrize("size", BOTH_SIZES)
def test_the_trigger_column_shows_a_whole_trigger(workspace: Workspace, size: tuple[int, int]) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: "files landing/orders/*.csv" in screen_text(app), what="the whole trigger")
        assert "cron 0 6 * * *" in screen_text(app)

    drive(app, scenario, size)


@pytest.mark.parametrize("size", BOTH_SIZES)
def test_step_names_and_the_run_id_in_the_top_bar_are_whole(workspace: Workspace, size: tuple[int, int]) -> None:
    run_id = finished_run(workspace)
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon", *f"show {run_id}", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and "export_daily_sales" in screen_text(app))
        await wait_for(pilot, lambda: "check_orders_reference_customers · check" in screen_text(app),
                       what="the longest step name, whole")
        assert run_id in screen_text(app).splitlines()[0]  # where you are: the run, by its whole id

    drive(app, scenario, size)
