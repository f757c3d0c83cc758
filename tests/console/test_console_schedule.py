"""Pilot tests: the console says when nothing will fire a schedule, and names the zone of NEXT times."""

from __future__ import annotations

import os
import socket

from textual.widgets import DataTable

from conftest import cells_by_column, drive, make_app, screen_text, wait_for
from flowdeck.engine.workspace import Workspace


def _cell(app: object, pipeline: str, column: str) -> str:
    table = app.screen.query_one("#pipeline-table", DataTable)  # type: ignore[attr-defined]
    return next((row[column] for row in cells_by_column(table) if row["name"] == pipeline), "")


def test_without_a_daemon_next_says_nothing_will_fire_and_the_top_bar_says_why(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: _cell(app, "daily_sales", "next") == "⏸ no daemon", what="NEXT to say no daemon")
        assert "⏸ no daemon" in screen_text(app).splitlines()[0]
        await wait_for(pilot, lambda: "⏸ no daemon (never started)" in screen_text(app), what="the DAG panel's reason")
        assert "(Europe/Paris)" in screen_text(app)

    drive(app, scenario, (120, 40))


def test_with_a_daemon_next_is_in_the_schedules_own_zone_and_its_stop_is_noticed(workspace: Workspace) -> None:
    ledger = workspace.ledger
    ledger.take_daemon_lease("test-daemon", pid=os.getpid(), host=socket.gethostname(), http_address=None)
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: _cell(app, "daily_sales", "next").endswith(("CET", "CEST")),
                       what="NEXT in Europe/Paris, named")
        assert "no daemon" not in screen_text(app)
        ledger.release_daemon_lease("test-daemon", {})
        await wait_for(pilot, lambda: _cell(app, "daily_sales", "next") == "⏸ no daemon", what="the stop to be noticed")
        assert "⏸ no daemon" in screen_text(app).splitlines()[0]

    drive(app, scenario, (120, 40))
