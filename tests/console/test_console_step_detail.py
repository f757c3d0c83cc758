"""Pilot tests of the step view (Enter on a step of a run): the whole error, parameters, rows,
checks with their failing rows, the SQL that ran, the step's log lines, and a place for why it ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import add_broken_pipeline, drive, finished_run, make_app, screen_text, wait_for
from flowdeck.console.tui.screens.run_detail import RunDetailScreen
from flowdeck.console.tui.screens.step_detail import StepDetailScreen
from flowdeck.engine.workspace import Workspace
from tests.conftest import run_flowdeck


def _flat(app: object) -> str:
    return " ".join(" ".join(line.split()) for line in screen_text(app).splitlines())


async def _open_step(pilot, app, run_id: str, step: str) -> StepDetailScreen:  # type: ignore[no-untyped-def]
    await pilot.press("colon", *f"show {run_id}", "enter")
    await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and len(app.screen.steps) > 0,
                   what="the run's steps")
    while app.screen.selected_step() != step:
        await pilot.press("j")
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, StepDetailScreen) and app.screen.detail is not None,
                   what="the step view")
    return app.screen


def test_enter_on_a_failed_step_shows_its_whole_error_the_sql_it_ran_and_its_log(
        workspace: Workspace, project_dir: Path) -> None:
    add_broken_pipeline(project_dir)
    run_id = finished_run(workspace, "broken_sales")
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await _open_step(pilot, app, run_id, "amounts")
        await wait_for(pilot, lambda: "Conversion Error" in screen_text(app), what="the error")
        flat = _flat(app)
        assert "to INT32 when casting from source column text" in flat  # the end of a long error, wrapped
        assert "hint: a value does not fit its column type" in flat
        assert "sql · stage · duckdb · attempt 1" in flat and "SELECT CAST(text AS INTEGER)" in flat
        assert "params (none)" in flat
        await pilot.press("G")  # the end: the log and the place for the plan reason
        await wait_for(pilot, lambda: "plan reason" in screen_text(app), what="the end of the step view")
        assert "amounts started on duckdb" in _flat(app)

    drive(app, scenario, (80, 24))


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
def test_a_steps_checks_show_their_failing_rows_and_the_view_its_parameters_and_rows(
        workspace: Workspace, size: tuple[int, int]) -> None:
    run_id = finished_run(workspace, params={"since": "2026-02-01"})
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await _open_step(pilot, app, run_id, "check_orders_reference_customers")
        await wait_for(pilot, lambda: "! warned relationships" in _flat(app), what="the warned check")
        flat = _flat(app)
        assert "customer_id occurrences" in flat and "999 8" in flat  # its failing rows
        assert "params since=2026-02-01" in flat
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        while app.screen.selected_step() != "orders_clean":  # k moves up the steps
            await pilot.press("k")
        await pilot.press("enter")  # orders_clean: rows in and out
        await wait_for(pilot, lambda: isinstance(app.screen, StepDetailScreen) and app.screen.step == "orders_clean"
                       and app.screen.detail is not None)
        await wait_for(pilot, lambda: "rows out 2,962" in _flat(app), what="the rows")
        assert "rows in 3,100" in _flat(app)

    drive(app, scenario, size)


def test_show_step_on_the_command_line_prints_the_same_detail(workspace: Workspace, project_dir: Path) -> None:
    run_id = finished_run(workspace, params={"since": "2026-02-01"})

    def flowdeck(*args: str, check: bool = True):  # type: ignore[no-untyped-def]
        result = run_flowdeck(*args, project=project_dir)
        assert not check or result.returncode == 0, result.output
        return result

    text = flowdeck("show", run_id, "--step", "daily_sales").stdout
    assert "step daily_sales (transform)" in text and "params since=2026-02-01" in text
    assert "order_date >= DATE '2026-02-01'" in text  # the SQL as it ran, parameters bound
    assert "check revenue_not_negative passed" in text and "plan reason: new: new step" in text
    document = flowdeck("show", run_id, "--step", "daily_sales", "--json").json()
    assert [s["purpose"] for s in document["statements"]] == ["stage", "check", "check"]
    missing = flowdeck("show", run_id, "--step", "nope", check=False)
    assert missing.returncode == 2 and "has no step `nope`" in missing.stderr and "daily_sales" in missing.stderr
