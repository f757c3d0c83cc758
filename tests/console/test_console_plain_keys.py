"""Pilot tests: what has only ctrl or function keys also has a plain way in (GNU screen takes ^a,
terminals take F1 and F10): the new-pipeline form's Save button, `:palette`."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandPalette
from textual.widgets import Button, DataTable

from conftest import drive, make_app, wait_for
from flowdeck.console.tui.screens.new_pipeline import NewPipelineScreen
from flowdeck.engine.workspace import Workspace


def test_the_new_pipeline_form_saves_from_its_save_button_with_tab_and_enter(workspace: Workspace,
                                                                            project_dir: Path) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.screen.query_one("#pipeline-table", DataTable).row_count == 2)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewPipelineScreen))
        await pilot.press(*"orders_copy", "tab", *"data/sample/customers.csv")
        await wait_for(pilot, lambda: "✓ valid" in str(app.screen.query_one("#new-problems").render()),
                       what="the answers to validate")
        save = app.screen.query_one("#new-save", Button)
        for _ in range(40):  # Tab through the form until the Save button has the focus
            if save.has_focus:
                break
            await pilot.press("tab")
        assert save.has_focus
        await pilot.press("enter")
        await wait_for(pilot, lambda: (project_dir / "pipelines" / "orders_copy" / "pipeline.yaml").exists(),
                       what="Enter on Save to write the pipeline")

    drive(app, scenario, (120, 40))


def test_colon_palette_opens_the_command_palette(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon", *"palette", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")

    drive(app, scenario)
