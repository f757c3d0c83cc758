"""Pilot tests: previewing a table nothing has published yet says so in words, on the screen."""

from __future__ import annotations

import pytest

from conftest import drive, finished_run, make_app, screen_text, wait_for
from flowdeck.console.tui.screens.dialogs import ErrorDialog
from flowdeck.console.tui.screens.pipelines import PipelinesScreen
from flowdeck.console.tui.screens.preview import PreviewScreen
from flowdeck.engine.workspace import Workspace


@pytest.mark.parametrize("warehouse", ["made by another pipeline", "not made yet"])
def test_previewing_a_never_run_pipeline_says_to_run_it_without_a_raw_error(workspace: Workspace, warehouse: str) -> None:
    if warehouse == "made by another pipeline":
        finished_run(workspace, "ingest_orders")  # the warehouse exists; daily_sales's tables do not
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: isinstance(app.screen, PipelinesScreen) and app.screen.selected_pipeline())
        assert app.screen.selected_pipeline() == "daily_sales"
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen) and "reading" not in screen_text(app)
                       and "✗" in screen_text(app), what="the preview to say why it shows nothing")
        text = screen_text(app)
        assert "Catalog Error" not in text and "does not exist!" not in text
        assert not any(isinstance(screen, ErrorDialog) for screen in app.screen_stack)
        if warehouse == "made by another pipeline":
            assert "nothing has published it yet" in text and ":run daily_sales" in text
        else:
            assert "does not exist yet" in text

    drive(app, scenario)


def test_query_of_a_missing_table_says_nothing_published_it(workspace: Workspace) -> None:
    from flowdeck.engine.errors import NotFound

    finished_run(workspace, "ingest_orders")
    with pytest.raises(NotFound, match="no table `daily_sales` in the warehouse: nothing has published it yet"):
        workspace.query('SELECT * FROM "daily_sales"')
