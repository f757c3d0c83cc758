"""The console does no work it does not need: nothing animates while a step runs without a progress
estimate (it kept an idle console at 5% of a core), the first screen's paint waits for no other
screen, nor for the editor's syntax highlighting, and the footer is not rebuilt to show the same keys
(bench/console_latency.py measures the figures)."""

from __future__ import annotations

import subprocess
import sys

from textual.widgets import DataTable, ProgressBar
from textual.widgets._footer import FooterKey

from conftest import drive, make_app, wait_for
from flowdeck.console.tui.screens.run_detail import RunDetailScreen
from flowdeck.engine.workspace import Workspace


def test_a_step_running_without_a_progress_estimate_draws_no_moving_bar(workspace: Workspace) -> None:
    ledger = workspace.ledger
    record, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    ledger.claim_run(record.run_id)
    ledger.add_steps(record.run_id, [("raw_orders", "extract", "raw_orders")])
    ledger.step_started(record.run_id, "raw_orders")
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon", *f"show {record.run_id}", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.steps)
        await pilot.pause(0.2)
        bars = list(app.screen.query(ProgressBar))
        assert bars and not any(bar.display and bar.total is None for bar in bars)  # an indeterminate bar animates
        assert not any(bar.display for bar in bars)

    drive(app, scenario)


def test_importing_the_console_loads_neither_the_other_screens_nor_tree_sitter() -> None:
    probe = ("import sys, flowdeck.console.cli.main, flowdeck.console.tui.app; "
             "print(sorted(m for m in ('tree_sitter', 'flowdeck.console.tui.screens.editor', "
             "'flowdeck.console.tui.screens.runs', 'flowdeck.console.tui.screens.new_pipeline', 'rich.syntax') "
             "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]", loaded


def test_the_footer_keeps_its_keys_while_the_bindings_it_shows_stay_the_same(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        table = app.screen.query_one("#pipeline-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        await pilot.pause(0.2)
        keys = list(app.screen.query(FooterKey))
        assert "Filter" in {key.description for key in keys}
        assert all(not key.has_class("-compact") for key in keys)  # made in the footer's own (roomy) style
        app.screen.refresh_bindings()  # what focus moves and screen resumes do: the same keys come out
        await pilot.pause(0.2)
        assert list(app.screen.query(FooterKey)) == keys  # not rebuilt
        await pilot.press("slash")  # the filter has the focus: `/` types there, so the footer drops it
        await wait_for(pilot, lambda: "Filter" not in {key.description for key in app.screen.query(FooterKey)},
                       what="the footer to drop the filter key")

    drive(app, scenario)
