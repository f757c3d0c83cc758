"""Pilot tests: the pipelines screen runs the selected pipeline's SQL unit tests and shows how they went."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from conftest import drive, make_app, screen_text, wait_for
from flowdeck.console.tui.screens.dialogs import TextDialog
from flowdeck.engine.workspace import Workspace

FAILING = """\
wrong_revenue:
  step: daily_sales
  inputs:
    sales:
      rows: [{order_date: 2026-01-02, status: paid, country: FR, category: books, quantity: 2, amount: 10.0}]
  expect:
    rows: [{order_date: 2026-01-02, country: FR, category: books, orders: 1, units: 2, revenue: 12.5}]
"""


def test_t_runs_the_selected_pipelines_tests_and_shows_the_rows_that_differ(workspace: Workspace,
                                                                            project_dir: Path) -> None:
    (project_dir / "pipelines" / "daily_sales" / "tests" / "wrong.yaml").write_text(FAILING)
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.screen.query_one("#pipeline-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        assert app.screen.selected_pipeline() == "daily_sales"
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TextDialog), timeout=60, what="the tests' report")
        assert app.screen.title_text == "daily_sales: 2 SQL unit tests, ✗ 1 failed"
        text = screen_text(app)
        assert "✓ passed  counts_only_paid_orders" in text
        assert "✗ failed  wrong_revenue" in text
        assert "revenue=12.5" in text and "revenue=10.0" in text  # the missing and the unexpected row
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TextDialog))
        await pilot.press("colon")
        await pilot.press(*"test ingest_orders")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TextDialog), timeout=60, what="the other report")
        assert app.screen.title_text == "ingest_orders: no SQL unit tests"

    drive(app, scenario, (120, 40))


def test_the_tests_run_in_read_only_mode_too(workspace: Workspace) -> None:
    app = make_app(workspace, read_only=True)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.screen.query_one("#pipeline-table", DataTable).row_count == 2)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, TextDialog), timeout=60, what="the tests' report")
        assert app.screen.title_text == "daily_sales: 1 SQL unit test, ✓ all passed"

    drive(app, scenario)
