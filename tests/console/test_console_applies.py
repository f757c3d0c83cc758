"""Pilot tests: the footer offers only what applies to what is shown, and a key that does not
apply (or that read-only refuses) says why instead of doing nothing."""

from __future__ import annotations

from pathlib import Path

from conftest import add_broken_pipeline, drive, finished_run, make_app, notifications, screen_text, wait_for
from flowdeck.console.tui.screens.dialogs import ConfirmDialog
from flowdeck.console.tui.screens.run_detail import RunDetailScreen
from flowdeck.engine.workspace import Workspace


def _footer(app: object) -> str:
    return screen_text(app).splitlines()[-1]


async def _open(pilot, app, run_id: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("colon", *f"show {run_id}", "enter")
    await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run is not None
                   and "Pause/follow" in _footer(app), what="the run view and its footer")


def test_a_succeeded_run_offers_neither_resume_nor_cancel_and_r_says_what_to_do_instead(workspace: Workspace) -> None:
    run_id = finished_run(workspace)
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await _open(pilot, app, run_id)
        footer = _footer(app)
        assert "Resume" not in footer and "Cancel" not in footer and "Rerun from step" in footer
        await pilot.press("R")
        await wait_for(pilot, lambda: any("nothing to resume; f reruns" in n for n in notifications(app)),
                       what="R to say what to do instead")
        await pilot.press("colon", *f"resume {run_id}", "enter")
        await wait_for(pilot, lambda: any("press f on the step" in n for n in notifications(app)),
                       what=":resume to say it with the console's keys")
        assert not any("flowdeck run" in n for n in notifications(app))

    drive(app, scenario)


def test_a_failed_run_offers_resume_not_cancel_and_c_says_it_has_ended_without_asking(
        workspace: Workspace, project_dir: Path) -> None:
    add_broken_pipeline(project_dir)
    run_id = finished_run(workspace, "broken_sales")
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await _open(pilot, app, run_id)
        footer = _footer(app)
        assert "Resume" in footer and "Cancel" not in footer
        await pilot.press("c")
        await wait_for(pilot, lambda: any("already failed: nothing to cancel" in n for n in notifications(app)))
        assert not isinstance(app.screen, ConfirmDialog)
        await pilot.press("colon", *f"cancel {run_id}", "enter")
        await wait_for(pilot, lambda: sum("nothing to cancel" in n for n in notifications(app)) == 2,
                       what=":cancel to say so too")
        assert not isinstance(app.screen, ConfirmDialog)

    drive(app, scenario)


def test_a_key_read_only_refuses_says_so(workspace: Workspace) -> None:
    app = make_app(workspace, read_only=True)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("r")
        await wait_for(pilot, lambda: any("read-only console" in n for n in notifications(app)),
                       what="the refusal, in words")
        await pilot.press("e")
        await wait_for(pilot, lambda: sum("read-only console" in n for n in notifications(app)) == 2)

    drive(app, scenario)
