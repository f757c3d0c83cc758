"""One line per step of a run: status by symbol and word, name, a progress bar, rows and elapsed time."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from flowdeck.console.tui.widgets.status import format_duration, format_rows, status_text
from flowdeck.state import StepRecord
from flowdeck.state.status import StepStatus


class StepProgress(Horizontal):
    """A step's live line; ``show`` updates it from a fresh ``StepRecord``."""

    DEFAULT_CSS = """
    StepProgress { height: 1; }
    StepProgress .step-status { width: 13; }
    StepProgress .step-name { width: 1fr; min-width: 12; }
    StepProgress ProgressBar { width: 18; display: none; }
    StepProgress.-running ProgressBar { display: block; }
    StepProgress ProgressBar Bar { width: 16; }
    StepProgress .step-rows { width: 11; text-align: right; }
    StepProgress .step-elapsed { width: 9; text-align: right; }
    StepProgress.-selected .step-name { text-style: reverse; }
    """

    def __init__(self, step: StepRecord) -> None:
        super().__init__(id=f"step-{step.step}")
        self.step = step
        self.progress: float | None = None
        self.shown_status = step.status
        self._composed = False  # a run's newest state can arrive before this line's parts exist
        self._elapsed_shown: str | None = None  # what the elapsed box shows: redrawn only when the text changes

    def compose(self) -> ComposeResult:
        """Status, name, bar, rows, elapsed."""
        yield Static(classes="step-status")
        yield Static(classes="step-name", markup=False)
        yield ProgressBar(total=1, show_percentage=False, show_eta=False)
        yield Static(classes="step-rows")
        yield Static(classes="step-elapsed")

    def on_mount(self) -> None:
        """Draw the newest state shown so far (``show`` before mounting only remembers it)."""
        self._composed = True
        self.show(self.step, progress=self.progress, shown_status=self.shown_status)

    def show(self, step: StepRecord, now: float | None = None, *, progress: float | None = None,
             shown_status: str | None = None) -> None:
        """Draw ``step``; a running step's bar shows DuckDB's query progress when known (else it is
        indeterminate) and its elapsed time ticks. ``shown_status`` is how it reads (reused, warned)."""
        self.step, self.progress = step, progress
        self.shown_status = shown_status or step.status
        if not self._composed:
            return
        self.query_one(".step-status", Static).update(status_text(self.shown_status))
        attempts = f" (try {step.attempts})" if step.attempts > 1 else ""
        self.query_one(".step-name", Static).update(Text(f"{step.step} · {step.kind}{attempts}"))
        # A bar only while DuckDB says how far the query is: a finished step's name needs the room, and
        # an indeterminate bar animates at the screen's frame rate, which kept a console watching a
        # long step at 5% of a core; the elapsed time ticking once a second says it is alive.
        measured = step.status == StepStatus.RUNNING and progress is not None
        self.set_class(measured, "-running")
        if measured:
            self.query_one(ProgressBar).update(total=100, progress=progress)
        self.query_one(".step-rows", Static).update(f"{format_rows(step.rows_out)} rows" if step.rows_out is not None else "")
        self.tick(now)

    def tick(self, now: float | None = None) -> None:
        """Refresh the elapsed time (each second while running)."""
        if not self._composed:
            return
        text = ""  # reused: not run, an earlier run's output was taken, so no time to show
        if not self.step.reused_from and self.step.started_at is not None:
            text = format_duration((self.step.ended_at or now or time.time()) - self.step.started_at)
        if text == self._elapsed_shown:
            return
        self._elapsed_shown = text
        # the box is 9 cells wide and one line high whatever it says: no layout of the screen each second,
        # only these cells are drawn again (a layout pass each tick was most of a watched run's idle CPU)
        self.query_one(".step-elapsed", Static).update(text, layout=False)
