"""Pilot tests: the screens, moving between them, and what they show, at 80x24 and 120x40."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from conftest import SIZES, cells_by_column, drive, finished_run, make_app, screen_text, wait_for
from flowdeck.console.tui.screens.alerts import AlertsScreen
from flowdeck.console.tui.screens.dashboard import DashboardScreen
from flowdeck.console.tui.screens.pipelines import PipelinesScreen
from flowdeck.console.tui.screens.run_detail import RunDetailScreen
from flowdeck.console.tui.screens.runs import RunsScreen
from flowdeck.engine.workspace import Workspace


def rows(table: DataTable) -> list[list[str]]:  # type: ignore[type-arg]
    """Cells as text."""
    return [[str(cell) for cell in table.get_row_at(index)] for index in range(table.row_count)]


@pytest.mark.parametrize("size", SIZES)
def test_pipelines_screen_lists_each_pipeline_with_last_run_next_time_and_trigger(workspace: Workspace, size: tuple[int, int]) -> None:
    finished_run(workspace)
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.screen.query_one("#pipeline-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, what="the pipeline list")
        listed = {row["name"]: row for row in cells_by_column(table)}
        assert set(listed) == {"daily_sales", "ingest_orders"}
        assert listed["daily_sales"]["status"] == "✓ succeeded"
        assert listed["ingest_orders"]["status"] == "· never"
        assert listed["daily_sales"]["trigger"].startswith("cron 0 6 * * *")
        assert listed["ingest_orders"]["trigger"].startswith("files landing/orders")
        assert listed["daily_sales"]["next"] != "" and listed["ingest_orders"]["next"] == ""  # cron has a next time
        await wait_for(pilot, lambda: "raw_orders (extract)" in screen_text(app), what="the DAG")
        text = screen_text(app)
        assert "daily_sales — 8 steps" in text
        assert "✓ raw_orders" in text  # the last run's step status marks the DAG

    drive(app, scenario, size)


@pytest.mark.parametrize("size", SIZES)
def test_number_and_function_keys_move_between_pipelines_runs_and_alerts(workspace: Workspace, size: tuple[int, int]) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        assert isinstance(app.screen, PipelinesScreen)
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen))
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, PipelinesScreen))
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await pilot.press("escape")  # back goes home
        await wait_for(pilot, lambda: isinstance(app.screen, PipelinesScreen))

    drive(app, scenario, size)


def test_enter_on_a_pipeline_shows_its_runs_and_enter_on_a_run_opens_it(workspace: Workspace) -> None:
    run_id = finished_run(workspace)
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.screen.query_one("#pipeline-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        runs = app.screen.query_one("#run-table", DataTable)
        await wait_for(pilot, lambda: runs.row_count == 1)
        assert app.screen.filter.pipeline == "daily_sales"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run_id == run_id
        await wait_for(pilot, lambda: "8/8 steps" in screen_text(app), what="the run summary")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))

    drive(app, scenario)


def test_help_lists_keys_and_commands_from_the_action_registry(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: app.screen.id == "help")
        text = screen_text(app)
        assert ":run PIPELINE" in text and "Cancel" in text and ":theme" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PipelinesScreen))

    drive(app, scenario, (120, 40))


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_shows_counts_trends_and_slowest_steps_and_follows_new_runs(workspace: Workspace,
                                                                              size: tuple[int, int]) -> None:
    finished_run(workspace)
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), what="the dashboard")
        table = lambda: app.screen.query_one("#stats-table", DataTable)  # noqa: E731
        await wait_for(pilot, lambda: table().row_count == 1, what="the statistics")
        assert rows(table())[0][:5] == ["daily_sales", "1", "1", "0", "100%"]
        await wait_for(pilot, lambda: "slowest steps:" in screen_text(app), what="the slowest steps")
        finished_run(workspace)  # another run, finished elsewhere
        await wait_for(pilot, lambda: rows(table())[0][1] == "2", what="the dashboard to follow the new run")

    drive(app, scenario, size)


def test_number_keys_go_to_their_list_not_the_last_screen_opened_under_them(workspace: Workspace) -> None:
    finished_run(workspace)
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen)
                       and app.screen.query_one("#run-table", DataTable).row_count == 1)
        await pilot.press("enter")  # a run opened under 2
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, PipelinesScreen))
        await pilot.press("v")  # a preview opened under 1
        await wait_for(pilot, lambda: not isinstance(app.screen, PipelinesScreen))
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), what="the run list, not the old run")
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, PipelinesScreen), what="the pipelines, not the preview")
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))

    drive(app, scenario)


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
def test_the_top_bar_names_all_four_screens_with_their_number_keys(workspace: Workspace, size: tuple[int, int]) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        top = screen_text(app).splitlines()[0]
        assert "1 Pipelines" in top and "2 Runs" in top and "3 Alerts" in top and "4 Dashboard" in top, top

    drive(app, scenario, size)
