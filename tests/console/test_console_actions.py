"""Pilot tests: launching, cancelling, filtering, alerts, toasts and engine errors, driven by keys."""

from __future__ import annotations

import os

import pytest
from textual.widgets import DataTable

from conftest import SIZES, drive, finished_run, make_app, notifications, screen_text, wait_for
from flowdeck.console.tui.screens.dialogs import ConfirmDialog, ErrorDialog
from flowdeck.console.tui.screens.launch import LaunchDialog
from flowdeck.console.tui.screens.run_detail import RunDetailScreen
from flowdeck.console.tui.screens.runs import RunsScreen
from flowdeck.engine.workspace import Workspace


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
def test_r_on_a_pipeline_asks_parameters_queues_the_run_and_a_detached_worker_runs_it(
        workspace: Workspace, size: tuple[int, int]) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.screen.query_one("#pipeline-table", DataTable).row_count == 2)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchDialog), what="the parameter dialog")
        field = app.screen.query_one("#param-since")
        assert field.value == "2026-01-01"  # prefilled with the default
        field.value = "2026-10-15"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen), what="the run view")
        run_id = app.screen.run_id
        await wait_for(pilot, lambda: app.screen.run is not None and app.screen.run.status == "succeeded",
                       timeout=60, what="the run to succeed")
        await wait_for(pilot, lambda: "✓ succeeded" in screen_text(app), what="the run view to say so")
        run = workspace.ledger.get_run(run_id)
        assert run is not None and run.params == {"since": "2026-10-15"}
        assert run.owner_pid != os.getpid()  # executed by a worker process, not inside the console
        assert run.trigger_kind == "manual"

    drive(app, scenario, size)


def test_colon_run_queues_with_the_parameters_typed(workspace: Workspace) -> None:
    launched: list[str] = []
    workspace.launch_detached = lambda run_id: launched.append(run_id) or 0  # type: ignore[method-assign]
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon")
        await pilot.press(*"run daily_sales since=2026-11-01")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        run = workspace.ledger.get_run(app.screen.run_id)
        assert run is not None and run.params == {"since": "2026-11-01"} and run.status == "queued"
        assert launched == [run.run_id]

    drive(app, scenario)


@pytest.mark.parametrize("size", SIZES)
def test_c_on_a_queued_run_asks_then_cancels_it(workspace: Workspace, size: tuple[int, int]) -> None:
    record, _ = workspace.submit("daily_sales")  # queued, no worker: it stays queued until canceled
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen)
                       and app.screen.query_one("#run-table", DataTable).row_count == 1)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")  # "no" leaves it alone
        await pilot.pause(0.2)
        assert workspace.ledger.get_run(record.run_id).status == "queued"  # type: ignore[union-attr]
        await pilot.press("f8")  # the F-key alias
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: workspace.ledger.get_run(record.run_id).status == "canceled")  # type: ignore[union-attr]
        await wait_for(pilot, lambda: "⊘ canceled" in screen_text(app), what="the list to show it")

    drive(app, scenario, size)


def _ledger_runs(workspace: Workspace) -> dict[str, str]:
    """One failed and one succeeded daily_sales run, and one failed ingest_orders run, written as a worker would."""
    ledger = workspace.ledger
    made: dict[str, str] = {}
    for pipeline, status, error in (("daily_sales", "failed", "boom in orders_clean"),
                                    ("daily_sales", "succeeded", None),
                                    ("ingest_orders", "failed", "no files matched")):
        record, _ = ledger.create_run(pipeline, trigger_kind="schedule")
        ledger.claim_run(record.run_id)
        ledger.finish_run(record.run_id, status, error)
        made[f"{pipeline}:{status}"] = record.run_id
    return made


@pytest.mark.parametrize("size", SIZES)
def test_runs_filter_narrows_by_status_pipeline_and_text(workspace: Workspace, size: tuple[int, int]) -> None:
    made = _ledger_runs(workspace)
    app = make_app(workspace)

    def shown() -> set[str]:
        table = app.screen.query_one("#run-table", DataTable)
        return {str(table.get_row_at(index)[0]) for index in range(table.row_count)}

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and len(shown()) == 3)
        await pilot.press("slash")
        await pilot.press(*"failed")
        await pilot.press("enter")
        await wait_for(pilot, lambda: shown() == {made["daily_sales:failed"], made["ingest_orders:failed"]})
        await pilot.press("slash")  # the line comes back with the filter; add a pipeline
        await pilot.press(*" ingest_orders", "enter")
        await wait_for(pilot, lambda: shown() == {made["ingest_orders:failed"]})
        await pilot.press("escape")  # clears the filter
        await wait_for(pilot, lambda: len(shown()) == 3)
        await pilot.press("colon", *"runs boom", "enter")  # free text matches the error
        await wait_for(pilot, lambda: shown() == {made["daily_sales:failed"]})
        await pilot.press("x")  # failed-only toggle keeps the text
        await wait_for(pilot, lambda: app.screen.filter.status == "failed" and app.screen.filter.text == "boom")

    drive(app, scenario, size)


def test_a_failure_started_elsewhere_toasts_and_is_listed_as_an_alert_to_acknowledge(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app._cursor is not None, what="the first ledger poll")
        ledger = workspace.ledger  # another process (the CLI, a schedule) writing the ledger
        record, _ = ledger.create_run("ingest_orders", trigger_kind="schedule")
        ledger.claim_run(record.run_id)
        ledger.finish_run(record.run_id, "failed", "no files matched landing/orders/*.csv")
        await wait_for(pilot, lambda: any("run failed" in text for text in notifications(app)), what="a toast")
        await pilot.press("3")
        table = lambda: app.screen.query_one("#alert-table", DataTable)  # noqa: E731
        await wait_for(pilot, lambda: table().row_count == 1)
        assert "! new" in str(table().get_row_at(0)[0])
        await pilot.press("a")
        await wait_for(pilot, lambda: "✓ acked" in str(table().get_row_at(0)[0]), what="the acknowledgement")
        alerts = workspace.alerts()
        assert alerts[0].run_id == record.run_id and alerts[0].acknowledged

    drive(app, scenario)


def test_a_failed_check_started_elsewhere_toasts(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app._cursor is not None)
        record, _ = workspace.ledger.create_run("daily_sales", trigger_kind="manual")
        workspace.ledger.record_check(record.run_id, "orders_clean", "unique(order_id)", severity="error",
                                      status="failed", failing_rows=3, message="3 duplicate order_id")
        await wait_for(pilot, lambda: any("check failed" in text and "duplicate" in text
                                          for text in notifications(app)))

    drive(app, scenario)


def test_an_engine_error_appears_as_a_readable_dialog(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon", *"run no_such_pipeline", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorDialog), what="the error dialog")
        text = screen_text(app)
        assert "no pipeline named `no_such_pipeline`" in text
        assert "Traceback" not in text
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, ErrorDialog))

    drive(app, scenario)


def test_colon_run_of_a_path_outside_the_project_is_refused_in_words(workspace: Workspace, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "pipeline.yaml").write_text("steps:\n  - name: daily_sales\n    kind: transform\n")
    (outside / "daily_sales.sql").write_text("SELECT 1 AS loot\n")
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon", *f"run {outside}", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorDialog), what="the refusal")
        assert "is not a pipeline name" in app.screen.text
        assert workspace.ledger.list_runs(limit=5) == []

    drive(app, scenario)


def test_unknown_colon_command_suggests_the_nearest(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon", *"rnus failed", "enter")
        await wait_for(pilot, lambda: any("unknown command :rnus" in text for text in notifications(app)))
        assert any("did you mean :runs" in text for text in notifications(app))

    drive(app, scenario)


def test_run_detail_shows_failing_check_rows_with_samples(workspace: Workspace, project_dir) -> None:  # type: ignore[no-untyped-def]
    yaml_path = project_dir / "pipelines" / "daily_sales" / "pipeline.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("severity: warn", "severity: error"))
    workspace.project.forget()
    run_id = finished_run(workspace)
    assert workspace.ledger.get_run(run_id).status == "failed"  # type: ignore[union-attr]
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon", *f"show {run_id[:17]}", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        checks = app.screen.query_one("#checks", DataTable)
        await wait_for(pilot, lambda: checks.display and checks.row_count == 1, what="the failing check")
        row = [str(cell) for cell in checks.get_row_at(0)]
        assert row[0].startswith("relationships(customer_id")
        assert row[2] == "✗ failed" and row[3] == "1"
        assert "customer_id=" in row[4]  # a sample of the failing rows
        await wait_for(pilot, lambda: "✗ failed" in screen_text(app), what="the failed check on screen")

    drive(app, scenario, (120, 40))


def test_log_tail_follows_and_pauses(workspace: Workspace) -> None:
    record, _ = workspace.submit("daily_sales")
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon", *f"show {record.run_id}", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        log = app.screen.query_one("#log")
        await wait_for(pilot, lambda: log.line_count >= 1)
        for index in range(60):
            workspace.ledger.log(record.run_id, f"line {index}")
        await wait_for(pilot, lambda: log.line_count >= 61, what="the new lines")
        await wait_for(pilot, lambda: log.scroll_y == log.max_scroll_y > 0, what="the view following the tail")
        await pilot.press("p")
        await wait_for(pilot, lambda: "paused" in screen_text(app), what="the paused state")
        log.scroll_home(animate=False)
        for index in range(20):
            workspace.ledger.log(record.run_id, f"later {index}")
        await wait_for(pilot, lambda: log.line_count >= 81)
        await pilot.pause(0.2)
        assert log.scroll_y == 0  # paused: new lines do not move the view
        await pilot.press("p")
        await wait_for(pilot, lambda: log.scroll_y == log.max_scroll_y and "following" in screen_text(app),
                       what="the view back at the tail, following")

    drive(app, scenario)


def test_command_palette_offers_registry_actions_and_pipelines(workspace: Workspace) -> None:
    launched: list[str] = []
    workspace.launch_detached = lambda run_id: launched.append(run_id) or 0  # type: ignore[method-assign]
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("ctrl+p")
        await pilot.press(*"run daily")
        await wait_for(pilot, lambda: "Run daily_sales" in screen_text(app), what="the palette entry")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert len(launched) == 1

    drive(app, scenario)


def test_debug_screen_reports_terminal_colours_and_syntax_highlighting(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("f12")
        await wait_for(pilot, lambda: app.screen.id == "debug", what="the debug dialog")
        text = screen_text(app)
        assert "SQL/YAML highlighting: on" in text
        assert "TERM=" in text and "colour system:" in text and "textual 8.2.8" in text

    drive(app, scenario, (120, 40))
