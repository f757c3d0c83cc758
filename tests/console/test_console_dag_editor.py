"""Pilot tests at 80x24: the DAG editor adds, renames, removes steps and sets depends_on, each change
validated as it is made and pending until saved; undo takes the last one back; refusals say why;
leaving with pending changes asks; read-only consoles refuse it."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input

from conftest import drive, make_app, notifications, screen_text, wait_for
from flowdeck.console.tui.screens.dag_editor import DagEditorScreen
from flowdeck.console.tui.screens.dialogs import ConfirmDialog, ErrorDialog, FormDialog
from flowdeck.console.tui.screens.pipelines import PipelinesScreen
from flowdeck.engine.workspace import Workspace


async def _open_dag(pilot, app) -> DagEditorScreen:  # type: ignore[no-untyped-def]
    """D on daily_sales (the first pipeline of the list)."""
    await wait_for(pilot, lambda: app.screen.query_one("#pipeline-table", DataTable).row_count == 2)
    await pilot.press("D")
    await wait_for(pilot, lambda: isinstance(app.screen, DagEditorScreen) and app.screen.session is not None
                   and app.screen.query_one(DataTable).row_count == 8, what="the DAG editor")
    return app.screen


async def _fill(pilot, app, values: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="the form")
    for field_id, value in values.items():
        app.screen.query_one(f"#field-{field_id}", Input).value = value
    await pilot.press("enter")


def test_add_a_step_see_it_in_the_dag_undo_it_add_again_and_save(workspace: Workspace, project_dir: Path) -> None:
    app = make_app(workspace)
    yaml = project_dir / "pipelines" / "daily_sales" / "pipeline.yaml"
    before = yaml.read_text()

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = await _open_dag(pilot, app)
        table = screen.query_one(DataTable)
        table.move_cursor(row=[str(key.value) for key in table.rows].index("daily_sales"))
        await pilot.press("a")
        await _fill(pilot, app, {"name": "top_days"})  # kind transform, reads daily_sales (the selected step's table)
        await wait_for(pilot, lambda: table.row_count == 9, what="the new step in the table")
        text = screen_text(app)
        assert "top_days" in text and "1 change not saved" in text
        assert "top_days" in str(screen.query_one("#dag-graph").render())
        assert yaml.read_text() == before  # pending until saved
        await pilot.press("u")
        await wait_for(pilot, lambda: table.row_count == 8, what="the undo")
        assert "undone: added transform step `top_days`" in screen_text(app)
        await pilot.press("a")
        await _fill(pilot, app, {"name": "top_days"})
        await wait_for(pilot, lambda: table.row_count == 9)
        await pilot.press("s")
        await wait_for(pilot, lambda: not screen.session.dirty, what="the save")
        assert yaml.read_text().startswith(before) and "  - name: top_days\n" in yaml.read_text()
        assert (yaml.parent / "top_days.sql").read_text().endswith("FROM daily_sales\n")
        assert any("saved top_days.sql, pipeline.yaml" in toast for toast in notifications(app))

    drive(app, scenario)


def test_a_change_that_makes_a_cycle_is_refused_with_its_reason_and_nothing_changes(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = await _open_dag(pilot, app)
        table = screen.query_one(DataTable)
        table.move_cursor(row=0)  # raw_orders, which everything reads
        await pilot.press("w")
        await _fill(pilot, app, {"depends_on": "daily_sales"})
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorDialog), what="the refusal")
        assert "cycle" in app.screen.text and "pipeline.yaml:" in app.screen.text
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen)
        assert not screen.session.dirty and "no pending change" in screen_text(app)

    drive(app, scenario)


def test_rename_and_remove_ask_and_leaving_with_pending_changes_asks(workspace: Workspace, project_dir: Path) -> None:
    app = make_app(workspace)
    yaml = project_dir / "pipelines" / "daily_sales" / "pipeline.yaml"
    before = yaml.read_text()

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = await _open_dag(pilot, app)
        table = screen.query_one(DataTable)
        table.move_cursor(row=[str(key.value) for key in table.rows].index("export_daily_sales"))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        await pilot.press("enter")  # No has the focus
        await wait_for(pilot, lambda: app.screen is screen)
        assert table.row_count == 8
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: table.row_count == 7, what="the removal")
        table.move_cursor(row=[str(key.value) for key in table.rows].index("sales"))
        await pilot.press("r")
        await _fill(pilot, app, {"name": "sales_joined"})
        await wait_for(pilot, lambda: "sales_joined" in [str(key.value) for key in table.rows], what="the rename")
        assert "2 changes not saved" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question before leaving")
        assert "Discard unsaved changes to daily_sales's DAG (2 changes)?" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, PipelinesScreen))
        assert yaml.read_text() == before

    drive(app, scenario)


def test_the_dag_editor_is_refused_in_read_only_mode(workspace: Workspace) -> None:
    app = make_app(workspace, read_only=True)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.screen.query_one("#pipeline-table", DataTable).row_count == 2)
        assert "Edit DAG" not in screen_text(app)
        await pilot.press("colon", *"dag daily_sales", "enter")
        await wait_for(pilot, lambda: any(":dag is not allowed" in toast for toast in notifications(app)),
                       what="the refusal")
        await pilot.press("D")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, DagEditorScreen)

    drive(app, scenario)
