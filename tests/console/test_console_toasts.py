"""Pilot tests: toasts never pile up over the screen, a key dismisses them, and a resolved alert
reads as good news."""

from __future__ import annotations

from pathlib import Path

from conftest import add_broken_pipeline, drive, finished_run, make_app, notifications, wait_for
from flowdeck.engine.workspace import Workspace


def _alert_toast(workspace: Workspace, pipeline: str, kind: str = "firing") -> None:
    """What the console channel writes for one alert (engine/alerts/channels.py), as a worker would."""
    workspace.ledger.log(None, f"[FIRING:critical] run of {pipeline} failed", kind="alert.toast", level="error",
                         payload={"kind": kind, "severity": "critical", "rule": "run_failed", "pipeline": pipeline,
                                  "summary": f"run of {pipeline} failed at step amounts"})


def test_a_burst_of_alerts_makes_one_toast_and_no_more_than_two_stay_on_a_small_screen(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app._cursor is not None)
        for pipeline in ("a", "b", "c", "d"):
            _alert_toast(workspace, pipeline)
        await wait_for(pilot, lambda: any("‼ 4 alerts" in text for text in notifications(app)), what="one toast")
        assert not any("run failed · a" in text for text in notifications(app))
        for pipeline in ("e", "f", "g"):  # one at a time now
            _alert_toast(workspace, pipeline)
            await wait_for(pilot, lambda p=pipeline: any(f"run failed · {p}" in t for t in notifications(app)))
        await pilot.pause(0.1)
        assert len(list(app._notifications)) <= 2  # the newest; the alerts screen has every one

    drive(app, scenario, (80, 24))


def test_ctrl_l_and_colon_clear_dismiss_every_toast(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app._cursor is not None)
        _alert_toast(workspace, "a")
        await wait_for(pilot, lambda: len(list(app._notifications)) == 1, what="a toast")
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: not list(app._notifications), what="^l to dismiss it")
        _alert_toast(workspace, "b")
        await wait_for(pilot, lambda: len(list(app._notifications)) == 1)
        await pilot.press("colon", *"clear", "enter")
        await wait_for(pilot, lambda: not list(app._notifications), what=":clear to dismiss it")

    drive(app, scenario)


def test_a_resolved_alert_says_it_is_over_not_that_the_run_failed(workspace: Workspace, project_dir: Path) -> None:
    add_broken_pipeline(project_dir)
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app._cursor is not None)
        finished_run(workspace, "broken_sales")
        await wait_for(pilot, lambda: any(t.startswith("‼ run failed · broken_sales") for t in notifications(app)))
        (project_dir / "pipelines" / "broken_sales" / "amounts.sql").write_text("SELECT 12 AS amount\n")
        workspace.project.forget()
        finished_run(workspace, "broken_sales")
        await wait_for(pilot, lambda: any(t.startswith("✓ alert resolved · broken_sales: was: run of broken_sales")
                                          for t in notifications(app)), what="the resolution, as good news")
        assert not any("run failed resolved" in text for text in notifications(app))

    drive(app, scenario)


def test_two_polls_that_read_the_same_alert_make_one_toast(workspace: Workspace) -> None:
    """Under load a poll can start before the previous poll's news is handled: both read the alert."""
    from flowdeck.console.tui.messages import LedgerChanged

    app = make_app(workspace, poll_interval=3600)  # no poll of its own after the first: this test plays both

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app._cursor is not None)
        before = app._cursor
        _alert_toast(workspace, "a")
        events = workspace.ledger.events(after=before)
        for _ in range(2):  # the same events, from the same older cursor, twice
            app.post_message(LedgerChanged(events=events, cursor=events[-1].event_id, previous_cursor=before))
        await wait_for(pilot, lambda: len(list(app._notifications)) >= 1, what="the toast")
        await pilot.pause(0.3)
        assert notifications(app) == ["‼ run failed · a: run of a failed at step amounts"]
        assert app._cursor == events[-1].event_id

    drive(app, scenario)
