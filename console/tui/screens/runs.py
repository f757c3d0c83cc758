"""The runs screen: run history, newest first, filtered by status, pipeline and free text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from flowdeck.console.tui.actions import bindings
from flowdeck.console.tui.messages import RunsLoaded
from flowdeck.console.tui.screens.base import ConsoleScreen
from flowdeck.console.tui.widgets.footer import ConsoleFooter
from flowdeck.console.tui.widgets.status import format_duration, short_time, status_text
from flowdeck.console.tui.widgets.tables import ColumnSpec, cursor_key, lay_out, pick, refill
from flowdeck.console.tui.widgets.top_bar import TopBar
from flowdeck.state import RunRecord
from flowdeck.state.status import RUN_RESUMABLE, RunStatus

RUNS_SHOWN = 200
FILTER_PAUSE_SECONDS = 0.25


@dataclass(frozen=True)
class RunFilter:
    """What the runs list is narrowed to."""

    status: str | None = None  # as typed: a RunStatus, or a word no run has
    pipeline: str | None = None
    text: str | None = None

    @classmethod
    def parse(cls, line: str, pipelines: list[str]) -> RunFilter:
        """``failed daily_sales oops`` or ``status:failed pipeline:daily_sales oops``: words in any order."""
        status = pipeline = None
        text: list[str] = []
        for word in line.split():
            key, sep, value = word.partition(":")
            if sep and key in ("status", "pipeline"):
                if key == "status":
                    status = value
                else:
                    pipeline = value
            elif word in tuple(RunStatus):
                status = word
            elif word in pipelines:
                pipeline = word
            else:
                text.append(word)
        return cls(status=status, pipeline=pipeline, text=" ".join(text) or None)

    def describe(self) -> str:
        """The filter in words, for the title line."""
        parts = [f"status {self.status}" if self.status else "", f"pipeline {self.pipeline}" if self.pipeline else "",
                 f"text “{self.text}”" if self.text else ""]
        shown = ", ".join(part for part in parts if part)
        return f"filter: {shown}" if shown else "all runs"

    def as_line(self) -> str:
        """The filter as typed."""
        return " ".join(part for part in (self.status, self.pipeline, self.text) if part)


class RunsScreen(ConsoleScreen):
    """Every run of every pipeline (up to the newest 200 matching the filter)."""

    SCOPE = "runs"
    TITLE_TEXT = "Runs"
    BINDINGS = bindings("runs")
    pending_filter: ClassVar[str | None] = None  # set by `:runs ...` before switching here

    def __init__(self) -> None:
        super().__init__(id="runs")
        self.filter = RunFilter()
        self.runs: list[RunRecord] = []
        self._filter_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        """Top bar, filter line, table, footer."""
        yield TopBar(self.TITLE_TEXT)
        yield Input(placeholder="filter: failed · daily_sales · text (Enter: back to the list, Esc clears)", id="filter",
                    classes="filter")
        yield Static("all runs", id="runs-filter-line", classes="subtitle")
        yield DataTable(id="run-table", cursor_type="row")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        """Filter hidden, list focused."""
        self.query_one("#filter", Input).display = False
        self.query_one(DataTable).focus()

    def on_screen_resume(self) -> None:
        """Apply a filter given by `:runs ...`, then reload."""
        self.take_pending_filter()
        super().on_screen_resume()

    def take_pending_filter(self) -> None:
        """Use (once) the filter the app left for this screen."""
        line = RunsScreen.pending_filter
        if line is None:
            return
        RunsScreen.pending_filter = None
        self.set_filter(line)

    def set_filter(self, line: str) -> None:
        """Narrow the list to ``line`` (see ``RunFilter.parse``) and reload."""
        self.filter = RunFilter.parse(line, self.console.pipeline_names)
        self.query_one("#runs-filter-line", Static).update(self.filter.describe())
        self.reload()

    def load(self) -> Message:
        """The newest runs matching the filter (runs in a thread)."""
        chosen = self.filter
        return RunsLoaded(self.console.workspace.ledger.list_runs(
            pipeline=chosen.pipeline, status=chosen.status, text=chosen.text, limit=RUNS_SHOWN))

    def on_resize(self) -> None:
        """Columns follow the width: parameters get what is left, or go on a narrow screen."""
        self.call_after_refresh(self._render_rows)

    def _render_rows(self) -> None:
        now = self.console.clock()
        table = self.query_one(DataTable)
        longest = max((len(_pipeline_of(run)) for run in self.runs), default=8)
        keys = lay_out(table, [ColumnSpec("RUN", "run", 22), ColumnSpec("PIPELINE", "pipeline", min(max(longest, 8), 20)),
                               ColumnSpec("STATUS", "status", 11), ColumnSpec("STARTED", "started", 11),
                               ColumnSpec("TOOK", "took", 7), ColumnSpec("TRIGGER", "trigger", 9, min_table_width=100),
                               ColumnSpec("PARAMS", "params", None, min_width=12, min_table_width=100)])
        refill(table, ((run.run_id, pick({
            "run": run.run_id, "pipeline": _pipeline_of(run), "status": status_text(run.status),
            "started": short_time(run.started_at or run.created_at, now=now), "took": format_duration(run.duration),
            "trigger": run.trigger_kind, "params": " ".join(f"{name}={value}" for name, value in run.params.items())},
            keys)) for run in self.runs))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        """Fill the table, keeping the cursor on the same run."""
        self.runs = message.runs
        self._render_rows()
        self.call_after_refresh(self._render_rows)  # once laid out, the table knows its own width
        if not message.runs:
            self.query_one("#runs-filter-line", Static).update(
                f"{self.filter.describe()} — no runs"
                + ("" if self.filter.as_line() or self.console.read_only else "; press r on a pipeline"))
        else:
            self.query_one("#runs-filter-line", Static).update(f"{self.filter.describe()} — {len(message.runs)} shown")

    def why_not(self, action: str) -> str | None:
        """Cancel and resume follow the highlighted run's state; `/` is text while the filter has the focus."""
        typing = self.typing_in_field(action)
        if typing:
            return typing
        key = self.selected_run()
        run = next((candidate for candidate in self.runs if candidate.run_id == key), None)
        if run is None:
            return None
        if action == "cancel_run" and run.finished:
            return f"run {run.run_id} already {run.status}: nothing to cancel"
        if action == "resume_run" and run.status not in RUN_RESUMABLE:
            return f"run {run.run_id} {run.status}: only a failed, abandoned or canceled run can be resumed"
        return None

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()  # the footer offers what applies to this run

    def selected_run(self) -> str | None:
        """The run under the cursor."""
        return cursor_key(self.query_one(DataTable))

    def selected_pipeline(self) -> str | None:
        """The pipeline of the run under the cursor."""
        run = self.selected_run()
        if run is None:
            return self.filter.pipeline
        return str(self.query_one(DataTable).get_cell(run, "pipeline"))

    def action_open_selected(self) -> None:
        """Open the run under the cursor."""
        run = self.selected_run()
        if run:
            from flowdeck.console.tui.screens.run_detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(run))

    def action_filter(self) -> None:
        """Show the filter line, prefilled with the current filter."""
        field = self.query_one("#filter", Input)
        field.value = self.filter.as_line()
        self.open_field(field)

    def action_toggle_failed(self) -> None:
        """Show only failed runs, or all again."""
        current = self.filter
        status = None if current.status == RunStatus.FAILED else RunStatus.FAILED
        self.set_filter(" ".join(part for part in (status, current.pipeline, current.text) if part))

    def handle_back(self) -> bool:
        """Esc closes an open filter line first, then clears an active filter."""
        field = self.query_one("#filter", Input)
        if field.display:
            field.display = False
            self.query_one(DataTable).focus()
            return True
        if self.filter.as_line():
            self.set_filter("")
            return True
        return False

    @on(Input.Changed, "#filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        """Filter as you type, as the pipelines list does (after a short pause: each filter reads the ledger)."""
        if not event.input.display:
            return
        if self._filter_timer is not None:
            self._filter_timer.stop()
        value = event.value
        self._filter_timer = self.set_timer(FILTER_PAUSE_SECONDS, lambda: self.set_filter(value))

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        event.input.display = False
        self.set_filter(event.value)
        self.query_one(DataTable).focus()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_selected()


def _pipeline_of(run: RunRecord) -> str:
    """A run's pipeline, with its environment when that is not prod (``daily_sales (dev)``)."""
    return run.pipeline if run.environment == "prod" else f"{run.pipeline} ({run.environment})"
