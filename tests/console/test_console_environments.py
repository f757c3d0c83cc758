"""The console launches a run in a development environment (issue 17): the launch dialog's environment field
plans the run there (steps read from prod say so) and queues it there; the run view and the run list show it.

Against a copy of the example project and its real ledger, with daily_sales run once in prod through the engine.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input

from conftest import drive, make_app, screen_text, wait_for
from flowdeck.console.tui.screens.launch import LaunchDialog
from flowdeck.console.tui.screens.run_detail import RunDetailScreen
from flowdeck.engine.workspace import Workspace


def test_the_launch_dialog_plans_and_queues_a_run_in_the_environment_typed(workspace: Workspace,
                                                                             project_dir: Path) -> None:
    submitted = workspace.submit("daily_sales")
    assert workspace.execute(submitted.record.run_id) == "succeeded"
    sql = project_dir / "pipelines" / "daily_sales" / "daily_sales.sql"
    sql.write_text(sql.read_text().replace("AS revenue", "AS revenue, 1 AS one", 1))
    workspace.launch_detached = lambda run_id: 0  # type: ignore[method-assign]  # queued; nobody needs to run it
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.screen.query_one("#pipeline-table", DataTable).row_count == 2)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchDialog), what="the launch dialog")
        await wait_for(pilot, lambda: "2 steps will run, 6 unchanged" in screen_text(app), timeout=60,
                       what="prod's plan")
        app.screen.query_one("#environment", Input).value = "dev"
        await wait_for(pilot, lambda: "will run in dev" in screen_text(app), timeout=60, what="dev's plan")
        shown = screen_text(app)
        assert "read from prod" in shown and "unchanged (prod)" in shown
        app.screen.query_one("#environment", Input).value = "../prod"
        await wait_for(pilot, lambda: "not an environment name" in screen_text(app), timeout=60,
                       what="a bad environment name said in the dialog")
        assert workspace.ledger.list_runs(environment="dev") == []
        app.screen.query_one("#environment", Input).value = "dev"
        await wait_for(pilot, lambda: "will run in dev" in screen_text(app), timeout=60, what="dev's plan again")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen), what="the run view")
        run = workspace.ledger.get_run(app.screen.run_id)
        assert run is not None and run.environment == "dev"
        await wait_for(pilot, lambda: "env dev" in screen_text(app), what="the environment in the run view")

    drive(app, scenario, (120, 40))
