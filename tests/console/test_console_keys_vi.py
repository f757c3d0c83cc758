"""Pilot tests: j/k/g/G in every list and in the help, Tab completion in the `:` line, and `/` on
the runs list filtering as you type."""

from __future__ import annotations

from textual import events
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Input

from conftest import drive, finished_run, make_app, notifications, screen_text, wait_for
from flowdeck.console.tui.screens.alerts import AlertsScreen
from flowdeck.console.tui.screens.command_line import CommandLineScreen
from flowdeck.console.tui.screens.run_detail import RunDetailScreen
from flowdeck.console.tui.screens.runs import RunsScreen
from flowdeck.engine.workspace import Workspace


def _cursor(app: object, table_id: str) -> int:
    return app.screen.query_one(f"#{table_id}", DataTable).cursor_row  # type: ignore[attr-defined]


async def _jkgG(pilot, app, table_id: str, rows: int) -> None:  # type: ignore[no-untyped-def]
    table = app.screen.query_one(f"#{table_id}", DataTable)
    await wait_for(pilot, lambda: table.row_count == rows, what=f"{rows} rows in {table_id}")
    table.move_cursor(row=0)
    await pilot.press("j")
    await wait_for(pilot, lambda: _cursor(app, table_id) == 1, what="j to move down")
    await pilot.press("k")
    await wait_for(pilot, lambda: _cursor(app, table_id) == 0, what="k to move up")
    await pilot.press("G")
    await wait_for(pilot, lambda: _cursor(app, table_id) == rows - 1, what="G to go to the last row")
    await pilot.press("g")
    await wait_for(pilot, lambda: _cursor(app, table_id) == 0, what="g to go to the first row")


def test_j_k_g_G_move_in_the_pipelines_runs_and_alerts_lists(workspace: Workspace) -> None:
    for params in ({"since": "2026-01-01"}, {"since": "2026-02-01"}, {"since": "2026-03-01"}):
        finished_run(workspace, params=params)  # three runs, and a warned check's alert
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await _jkgG(pilot, app, "pipeline-table", 2)
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await _jkgG(pilot, app, "run-table", 3)
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen))
        table = app.screen.query_one("#alert-table", DataTable)
        await wait_for(pilot, lambda: table.row_count >= 1)
        await pilot.press("G")
        await wait_for(pilot, lambda: _cursor(app, "alert-table") == table.row_count - 1)

    drive(app, scenario)


def test_G_and_g_move_to_the_end_and_the_top_of_the_help(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: app.screen.id == "help")
        assert "Help and text dialogs" not in screen_text(app)  # the last section is below the fold
        await pilot.press("G")
        await wait_for(pilot, lambda: "Help and text dialogs" in screen_text(app), what="G to show the end")
        await pilot.press("g")
        await wait_for(pilot, lambda: "Everywhere" in screen_text(app), what="g to show the top")
        scroller = app.screen.query_one(VerticalScroll)
        await pilot.press("j", "j")
        await wait_for(pilot, lambda: scroller.scroll_y == 2, what="j to scroll a line at a time")
        await pilot.press("k")
        await wait_for(pilot, lambda: scroller.scroll_y == 1, what="k to scroll back")

    drive(app, scenario)


def test_tab_completes_verbs_and_their_arguments_in_the_command_line(workspace: Workspace) -> None:
    workspace.launch_detached = lambda run_id: 0  # type: ignore[method-assign]
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandLineScreen))
        field = app.screen.query_one(Input)
        await pilot.press("t", "h", "tab")
        await wait_for(pilot, lambda: field.value == "theme ", what="the verb completed")
        assert isinstance(app.screen, CommandLineScreen)  # Tab did not leave the prompt
        await pilot.press("n", "tab")
        await wait_for(pilot, lambda: field.value == "theme nord ", what="the theme completed")
        field.value = "ru"
        await pilot.press("tab")
        await wait_for(pilot, lambda: field.value == "run" and "runs" in screen_text(app), what="run, runs listed")
        await pilot.press("space", "d", "tab")
        await wait_for(pilot, lambda: field.value == "run daily_sales ", what="the pipeline completed")
        await pilot.press("tab")
        await wait_for(pilot, lambda: field.value == "run daily_sales since=", what="its parameter completed")
        await pilot.press(*"2026-11-01", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen), what="the run launched")
        run = workspace.ledger.get_run(app.screen.run_id)
        assert run is not None and run.params == {"since": "2026-11-01"}

    drive(app, scenario)


def test_tab_sent_in_a_burst_after_letters_completes_what_they_typed(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandLineScreen))
        field = app.screen.query_one(Input)
        for key, character in (("t", "t"), ("h", "h"), ("tab", None)):  # as tmux delivers them: all at once
            app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: field.value == "theme ", what="Tab to complete the letters typed before it")

    drive(app, scenario)


def test_tab_in_a_read_only_console_completes_only_commands_it_allows(workspace: Workspace) -> None:
    app = make_app(workspace, read_only=True)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandLineScreen))
        field = app.screen.query_one(Input)
        await pilot.press("r", "u", "tab")
        await wait_for(pilot, lambda: field.value == "runs ", what=":runs, not the hidden :run")
        field.value = "re"
        await pilot.press("tab")  # :rerun and :resume change things: nothing to complete
        await wait_for(pilot, lambda: field.value == "re" and "rerun" not in screen_text(app))

    drive(app, scenario)


def test_slash_on_the_runs_list_filters_as_you_type(workspace: Workspace) -> None:
    finished_run(workspace)
    other, _ = workspace.submit("ingest_orders")
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("2")
        table = app.screen.query_one("#run-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        await pilot.press("slash", *"ingest")
        await wait_for(pilot, lambda: table.row_count == 1 and str(table.get_row_at(0)[0]) == other.run_id,
                       what="the list to narrow without Enter")
        assert not notifications(app)

    drive(app, scenario)


def test_letters_typed_in_a_burst_after_slash_go_into_the_filter(workspace: Workspace) -> None:
    finished_run(workspace)
    other, _ = workspace.submit("ingest_orders")
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("1")
        pipelines = app.screen.query_one("#pipeline-table", DataTable)
        await wait_for(pilot, lambda: pipelines.row_count == 2)
        for key, character in (("slash", "/"), *((letter, letter) for letter in "ingest")):  # all at once, as tmux
            app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: pipelines.row_count == 1, what="the pipelines narrowed to ingest_orders")
        await pilot.press("escape", "2")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        runs = app.screen.query_one("#run-table", DataTable)
        await wait_for(pilot, lambda: runs.row_count == 2)
        for key, character in (("slash", "/"), *((letter, letter) for letter in "ingest")):
            app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: runs.row_count == 1 and str(runs.get_row_at(0)[0]) == other.run_id,
                       what="the runs narrowed to ingest_orders's")
        field = app.screen.query_one("#filter", Input)
        assert field.value == "ingest"
        await pilot.press("slash")  # in the filter, `/` is text
        await wait_for(pilot, lambda: field.value == "ingest/", what="the slash typed into the filter")
        assert not notifications(app)

    drive(app, scenario)
