"""Engine jobs the console runs in threads: a job replaced in an exclusive group never shows its stale result."""

from __future__ import annotations

import threading

from textual.message import Message
from textual.widgets import Static

from conftest import drive, make_app, wait_for
from flowdeck.engine.workspace import Workspace


class Drawn(Message):
    """What a job drew."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label


class Panel(Static):
    """Keeps what reached it, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def on_drawn(self, message: Drawn) -> None:
        self.seen.append(message.label)


def test_a_job_replaced_in_an_exclusive_group_does_not_post_its_stale_result(workspace: Workspace) -> None:
    # the pipelines screen redraws the DAG when the daemon's state arrives; the first drawing, still
    # running in its thread, used to land after the second and leave the panel without the reason
    app = make_app(workspace)
    running, release = threading.Event(), threading.Event()

    def stale() -> Drawn:
        running.set()
        release.wait(20)
        return Drawn("before the daemon's state was known")

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        panel = Panel()
        await app.screen.mount(panel)
        first = app.engine_worker(panel, stale, title="first", group="drawing", exclusive=True)
        await wait_for(pilot, running.is_set, what="the first job to be running in its thread")
        second = app.engine_worker(panel, lambda: Drawn("with the daemon's state"), title="second", group="drawing",
                                   exclusive=True)
        await wait_for(pilot, lambda: panel.seen == ["with the daemon's state"], what="the second job's result")
        release.set()
        await wait_for(pilot, lambda: first.is_finished and second.is_finished, what="both jobs to end")
        await pilot.pause(0.3)
        assert panel.seen == ["with the daemon's state"]

    drive(app, scenario, (80, 24))
