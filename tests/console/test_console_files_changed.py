"""Pilot tests: an open console notices pipeline files changed on disk by someone else."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, TextArea

from conftest import cells_by_column, drive, make_app, screen_text, wait_for
from flowdeck.console.tui.screens.editor import EditorScreen
from flowdeck.engine.workspace import Workspace


def _status_of(app: object, pipeline: str) -> str:
    table = app.screen.query_one("#pipeline-table", DataTable)  # type: ignore[attr-defined]
    return next((row["status"] for row in cells_by_column(table) if row["name"] == pipeline), "")


def test_a_typo_made_outside_the_console_shows_as_invalid_and_mending_it_brings_the_dag_back(
        workspace: Workspace, project_dir: Path) -> None:
    app = make_app(workspace)
    config = project_dir / "pipelines" / "daily_sales" / "pipeline.yaml"
    good = config.read_text()

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: "daily_sales — 8 steps" in screen_text(app), what="the DAG")
        config.write_text(good.replace("    kind: transform\n    sql: sales.sql", "    kind: transform\n    sqll: sales.sql"))
        await wait_for(pilot, lambda: _status_of(app, "daily_sales") == "✗ invalid", what="daily_sales invalid")
        await wait_for(pilot, lambda: "sqll" in screen_text(app), what="the error in place of the DAG")
        config.write_text(good)
        await wait_for(pilot, lambda: _status_of(app, "daily_sales") == "· never", what="daily_sales valid again")
        await wait_for(pilot, lambda: "daily_sales — 8 steps" in screen_text(app), what="the DAG again")

    drive(app, scenario)


def test_the_editor_takes_a_change_made_elsewhere_unless_it_has_its_own_edit(
        workspace: Workspace, project_dir: Path) -> None:
    app = make_app(workspace)
    folder = project_dir / "pipelines" / "daily_sales"

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen) and app.screen.current is not None)
        screen: EditorScreen = app.screen
        area = screen.query_one(TextArea)
        yaml_text = (folder / "pipeline.yaml").read_text()
        (folder / "pipeline.yaml").write_text("# edited elsewhere\n" + yaml_text)
        await wait_for(pilot, lambda: area.text.startswith("# edited elsewhere"), what="the editor to follow the disk")
        await pilot.press(*"x")  # now an edit here, then another one elsewhere
        (folder / "pipeline.yaml").write_text("# again\n" + yaml_text)
        await wait_for(pilot, lambda: "changed on disk too" in screen_text(app), what="the warning")
        assert area.text.startswith("x# edited elsewhere")  # the operator's edit is kept

    drive(app, scenario)
