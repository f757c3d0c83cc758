"""Pilot tests: statuses say what happened. A step a resume reused reads ↺ reused (no time), a step
whose check warned reads ! warned, a canceled run names its canceled step, and a resolved alert is
not counted as new."""

from __future__ import annotations

from pathlib import Path

from conftest import drive, finished_run, make_app, screen_text, wait_for
from flowdeck.console.tui.screens.run_detail import RunDetailScreen
from flowdeck.engine.workspace import Workspace


def _flat(app: object) -> str:
    return " ".join(" ".join(line.split()) for line in screen_text(app).splitlines())


def _step_line(app: object, step: str) -> str:
    return next((line for line in screen_text(app).splitlines() if f" {step} · " in line), "")


async def _open(pilot, app, run_id: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("colon", *f"show {run_id}", "enter")
    await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run is not None
                   and "export_daily_sales" in screen_text(app), what="the run view")


def test_steps_a_resume_reused_read_reused_without_a_time(workspace: Workspace, project_dir: Path) -> None:
    sql = project_dir / "pipelines" / "daily_sales" / "daily_sales.sql"
    good = sql.read_text()
    sql.write_text(good.replace("count(*)", "CAST('x' AS INTEGER)", 1))
    failed = finished_run(workspace)
    sql.write_text(good)
    workspace.project.forget()
    resumed, _ = workspace.resume(failed)
    workspace.execute(resumed.run_id)
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await _open(pilot, app, resumed.run_id)
        await wait_for(pilot, lambda: "↺ reused" in _step_line(app, "orders_clean"), what="orders_clean reused")
        line = _step_line(app, "orders_clean")
        assert "succeeded" not in line and "0.00s" not in line and "2,962 rows" in line
        assert "✓ succeeded" in _step_line(app, "export_daily_sales")
        assert "8/8 steps · 6 reused" in _flat(app)  # the warned check ran in the first run

    drive(app, scenario)


def test_a_step_whose_check_warned_reads_warned_in_the_run_and_the_dag(workspace: Workspace) -> None:
    run_id = finished_run(workspace)
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: "! check_orders_reference_customers" in screen_text(app),
                       what="the DAG to mark the warned step !")
        await _open(pilot, app, run_id)
        await wait_for(pilot, lambda: "! warned" in _step_line(app, "check_orders_reference_customers"))
        assert "✓ succeeded" in _step_line(app, "orders_clean")
        assert "8/8 steps · 1 warned" in _flat(app)

    drive(app, scenario, (120, 40))


def test_a_canceled_run_names_the_step_that_was_canceled(workspace: Workspace) -> None:
    ledger = workspace.ledger
    record, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    ledger.claim_run(record.run_id)
    plan = workspace.plan("daily_sales")
    ledger.add_steps(record.run_id, [(plan.steps[n].name, plan.steps[n].kind, plan.steps[n].output) for n in plan.order])
    for name in plan.order[:-1]:
        ledger.step_started(record.run_id, name)
        ledger.step_finished(record.run_id, name, "succeeded", rows=1)
    ledger.step_started(record.run_id, plan.order[-1])
    ledger.step_finished(record.run_id, plan.order[-1], "canceled", error="canceled on request")
    ledger.finish_run(record.run_id, "canceled", "canceled on request")
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await _open(pilot, app, record.run_id)
        await wait_for(pilot, lambda: "7/8 steps succeeded · 1 canceled" in _flat(app),
                       what="the summary to name the canceled step")

    drive(app, scenario)


def test_the_alerts_header_does_not_count_a_resolved_alert_as_new(workspace: Workspace, project_dir: Path) -> None:
    from conftest import add_broken_pipeline

    add_broken_pipeline(project_dir)
    finished_run(workspace, "broken_sales")
    (project_dir / "pipelines" / "broken_sales" / "amounts.sql").write_text("SELECT 12 AS amount\n")
    workspace.project.forget()
    finished_run(workspace, "broken_sales")  # resolves the run_failed alert
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("3")
        await wait_for(pilot, lambda: "✓ resolved" in screen_text(app))
        await wait_for(pilot, lambda: "0 new · 1 shown" in screen_text(app), what="no new alert")

    drive(app, scenario)
