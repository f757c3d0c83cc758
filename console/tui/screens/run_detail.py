"""One run, live: each step's progress with rows and elapsed time, the log tail, failing checks, and
once it has ended, its performance hints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from flowdeck.console.cli.charts import format_bytes, sparkline
from flowdeck.console.tui.actions import bindings
from flowdeck.console.tui.messages import RunDetailLoaded
from flowdeck.console.tui.screens.base import ConsoleScreen
from flowdeck.console.tui.widgets.footer import ConsoleFooter
from flowdeck.console.tui.widgets.status import (
    format_duration,
    short_time,
    status_text,
    step_status,
    steps_summary,
    tone,
)
from flowdeck.console.tui.widgets.run_log import RunLog
from flowdeck.console.tui.widgets.step_progress import StepProgress
from flowdeck.console.tui.widgets.top_bar import TopBar
from flowdeck.state import CheckRecord, EventRecord, RunRecord, StepRecord
from flowdeck.state.status import RUN_RESUMABLE, RunStatus, StepStatus

if TYPE_CHECKING:
    from flowdeck.engine.monitor.hints import Hint
    from flowdeck.engine.monitor.views import RunMetrics

LOG_LINES_KEPT = 5000  # the tail in memory; the ledger keeps everything
EVENTS_PER_READ = 2000


class RunDetailScreen(ConsoleScreen):
    """The live view of one run; it reattaches to a running run whoever started it."""

    SCOPE = "run"
    TITLE_TEXT = "Run"
    BINDINGS = bindings("run")

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.run: RunRecord | None = None
        self.metrics: RunMetrics | None = None
        self.steps: list[StepRecord] = []
        self.checks: list[CheckRecord] = []
        self.following = True
        self.selected_index = 0
        self._cursor = 0
        self._ticker_started = False
        self._summary_shown: Text | None = None  # the summary and the error as drawn: each redrawn only on change
        self._error_shown: str | None = None
        self.hints: list[Hint] | None = None  # read once the run has finished; they do not change after

    def compose(self) -> ComposeResult:
        """Summary, steps, failing checks (when any), log, footer."""
        yield TopBar(f"Run {self.run_id}")
        yield Static("loading…", id="run-summary", classes="subtitle")
        yield Static("", id="run-error", markup=False)
        yield VerticalScroll(id="steps")
        checks: DataTable[object] = DataTable(id="checks", cursor_type="row")
        checks.add_column("CHECK", key="check")
        checks.add_column("STEP", key="step")
        checks.add_column("STATUS", key="status", width=10)
        checks.add_column("ROWS", key="rows")
        checks.add_column("SAMPLE", key="sample")
        yield checks
        yield Static("", id="hints", markup=False)
        yield Static("", id="log-title", classes="subtitle")
        yield RunLog(max_lines=LOG_LINES_KEPT, auto_scroll=True, id="log")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        """Hide the checks until a check fails, and the hints until the run has some; tick elapsed times each second."""
        self.query_one("#checks").display = False
        self.query_one("#hints").display = False
        self.query_one("#run-error").display = False
        self._update_log_title()
        self.set_interval(1.0, self._tick)

    def load(self) -> Message | None:
        """The run, its steps and checks, and its new events (runs in a thread)."""
        ledger = self.console.workspace.ledger
        run = ledger.get_run(self.run_id)
        if run is None:
            return None
        cursor = self._cursor
        events: list[EventRecord] = []
        while True:  # read everything new; keep only what the log holds
            chunk = ledger.events(run_id=self.run_id, after=cursor, limit=EVENTS_PER_READ)
            if not chunk:
                break
            cursor = chunk[-1].event_id
            events.extend(chunk)
            events = events[-LOG_LINES_KEPT:]
            if len(chunk) < EVENTS_PER_READ:
                break
        metrics = self.console.workspace.run_metrics(run.run_id)
        hints = self.console.workspace.run_hints(metrics) if run.finished and self.hints is None else None
        return RunDetailLoaded(run=run, steps=[view.record for view in metrics.steps], checks=metrics.checks,
                               events=events, cursor=cursor, reset_log=self._cursor == 0, metrics=metrics,
                               hints=hints)

    def ledger_changed(self, events: list[EventRecord]) -> None:
        """Reload when this run has news."""
        if any(event.run_id == self.run_id for event in events):
            self.reload()

    def on_run_detail_loaded(self, message: RunDetailLoaded) -> None:
        """Draw the run; append new log lines (following the tail unless paused)."""
        if message.cursor < self._cursor:
            return  # an older load finishing late
        self._cursor = message.cursor
        if self.run is None or self.run.status != message.run.status:
            self.refresh_bindings()  # what applies (cancel, resume) follows the run's state
        self.run = message.run
        self.metrics = message.metrics
        self.checks = message.checks  # before the steps: a warned check changes how its step reads
        self._draw_steps(message.steps)  # and the summary, which counts the steps
        self._draw_error()
        self._draw_checks(message.checks)
        if message.hints is not None:
            self.hints = message.hints
            self._draw_hints(message.hints)
        if message.events:
            self.query_one(RunLog).append([line for event in message.events for line in _log_lines(event)])

    def _draw_summary(self) -> None:
        run = self.run
        if run is None:
            return
        summary = status_text(run.status)
        took = format_duration(run.duration) or "not started"
        started = short_time(run.started_at or run.created_at, now=self.console.clock())
        steps = steps_summary(self.steps, run.finished, self.checks)
        where = "" if run.environment == "prod" else f" · env {run.environment}"  # prod's runs read as before
        summary.append(f" · {run.pipeline}{where} · {steps} · {took} · {run.trigger_kind} · {started}")
        if run.cancel_requested and not run.finished:
            summary.append("  ·  cancel requested")
        details: list[str] = []
        if run.params:
            details.append("params " + " ".join(f"{name}={value}" for name, value in run.params.items()))
        metrics = self.metrics
        if metrics is not None and metrics.resources:
            details.append(f"cpu {sparkline(metrics.series('cpu_percent'), 12)} {metrics.mean_cpu_percent or 0:.0f}%"
                           f" · memory {sparkline(metrics.series('rss_bytes'), 12)} "
                           f"{format_bytes(metrics.peak_rss_bytes)} peak")
        if details:
            summary.append("\n" + "  ·  ".join(details))
        shown = self._summary_shown
        if shown is not None and summary == shown:
            return  # nothing changed since the last draw (past an hour a duration shows minutes: most ticks)
        # the same length in the same lines wraps the same: the elapsed time ticking redraws the line, it
        # does not lay the screen out again; a longer or shorter text may wrap otherwise, so it does
        same_shape = shown is not None and summary.cell_len == shown.cell_len and summary.plain.count("\n") == \
            shown.plain.count("\n")
        self._summary_shown = summary
        self.query_one("#run-summary", Static).update(summary, layout=not same_shape)

    def _draw_error(self) -> None:
        """The whole error of the first failed step (or of the run), wrapped to the screen's width."""
        run = self.run
        failed = next((step for step in self.steps if step.status == "failed" and step.error), None)
        text = f"{failed.step}: {failed.error}" if failed is not None else (run.error if run is not None else None)
        if (text or "") == self._error_shown:
            return
        self._error_shown = text or ""
        box = self.query_one("#run-error", Static)
        box.display = bool(text)
        if text:
            box.update(Text(text, style=tone("bold red")))

    def _draw_steps(self, steps: list[StepRecord]) -> None:
        container = self.query_one("#steps", VerticalScroll)
        if [step.step for step in steps] != [step.step for step in self.steps] or not container.children:
            container.remove_children()
            lines = [StepProgress(step) for step in steps]
            for line, step in zip(lines, steps):
                line.shown_status = step_status(step, self.checks)
            container.mount_all(lines)
        else:
            progress = {view.record.step: view.progress for view in self.metrics.steps} if self.metrics else {}
            for widget, step in zip(container.query(StepProgress), steps):
                widget.show(step, progress=progress.get(step.step), shown_status=step_status(step, self.checks))
        self.steps = steps
        self._mark_selected()
        self._draw_summary()

    def _draw_checks(self, checks: list[CheckRecord]) -> None:
        failing = [check for check in checks if check.status != "passed"]
        table = self.query_one("#checks", DataTable)
        table.display = bool(failing)
        if [c.check_name for c in failing] == [str(table.get_row_at(i)[0]) for i in range(table.row_count)]:
            return
        table.clear()
        for check in failing:
            sample = "; ".join(", ".join(f"{k}={v}" for k, v in row.items()) for row in check.sample[:3])
            table.add_row(check.check_name, check.step, status_text(check.status), f"{check.failing_rows:,}",
                          sample or (check.message or ""))
        self.checks = checks

    def _draw_hints(self, hints: list[Hint]) -> None:
        """What the run's measures suggest changing, each with the docs section that explains it."""
        box = self.query_one("#hints", Static)
        box.display = bool(hints)
        if not hints:
            return
        text = Text("hints", style=tone("bold"))
        for hint in hints:
            text.append("\n▸ ", style=tone("bold yellow"))
            text.append(hint.text)
            text.append(f" (see {hint.doc})", style=tone("dim"))
        box.update(text)

    def _tick(self) -> None:
        now = self.console.clock()
        for widget in self.query(StepProgress):
            if widget.step.status == StepStatus.RUNNING:
                widget.tick(now)
        if self.run is not None and not self.run.finished:
            self._draw_summary()

    # -- selection and log ---------------------------------------------------------------------------------

    def _mark_selected(self) -> None:
        for index, widget in enumerate(self.query(StepProgress)):
            widget.set_class(index == self.selected_index, "-selected")

    def action_next_step(self) -> None:
        """Select the next step (for rerun-from)."""
        self.selected_index = min(self.selected_index + 1, max(len(self.steps) - 1, 0))
        self._mark_selected()

    def action_previous_step(self) -> None:
        """Select the previous step."""
        self.selected_index = max(self.selected_index - 1, 0)
        self._mark_selected()

    def action_open_step(self) -> None:
        """Everything about the highlighted step: whole error, log lines, checks, the SQL it ran."""
        step = self.selected_step()
        if step:
            from flowdeck.console.tui.screens.step_detail import StepDetailScreen

            self.app.push_screen(StepDetailScreen(self.run_id, step))

    @on(DataTable.RowSelected, "#checks")
    def _check_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a failing check: its step in detail (with the failing rows)."""
        step = str(event.data_table.get_row_at(event.cursor_row)[1])  # CHECK, STEP, STATUS, ROWS, SAMPLE
        if step:
            from flowdeck.console.tui.screens.step_detail import StepDetailScreen

            self.app.push_screen(StepDetailScreen(self.run_id, step))

    def action_toggle_follow(self) -> None:
        """Pause the log where it is, or follow the tail again."""
        self.following = not self.following
        self.query_one(RunLog).follow(self.following)
        self._update_log_title()

    def _update_log_title(self) -> None:
        state = "▶ following" if self.following else "⏸ paused (p follows again)"
        self.query_one("#log-title", Static).update(f"log · {state}")

    def why_not(self, action: str) -> str | None:
        """Cancel only while the run goes on; resume only once it failed, was abandoned or canceled."""
        run = self.run
        if run is None:
            return None
        if action == "cancel_run" and run.finished:
            return f"run {run.run_id} already {run.status}: nothing to cancel"
        if action == "resume_run" and run.status not in RUN_RESUMABLE:
            return (f"run {run.run_id} {run.status}: nothing to resume; f reruns it from the highlighted step"
                    if run.status == RunStatus.SUCCEEDED else f"run {run.run_id} is {run.status}: wait for it to end")
        return None

    def selected_run(self) -> str | None:
        """This run."""
        return self.run_id

    def selected_pipeline(self) -> str | None:
        """This run's pipeline."""
        return self.run.pipeline if self.run else None

    def selected_step(self) -> str | None:
        """The highlighted step."""
        if not self.steps:
            return None
        return self.steps[min(self.selected_index, len(self.steps) - 1)].step


def _log_lines(event: EventRecord) -> list[str]:
    """An event as log lines: time, level word, step, message (continuation lines indented)."""
    from datetime import datetime

    stamp = datetime.fromtimestamp(event.ts).strftime("%H:%M:%S")
    level = {"error": "ERR ", "warning": "WARN"}.get(event.level, "    ")
    step = f"[{event.step}] " if event.step else ""
    first, *rest = event.message.splitlines() or [""]
    return [f"{stamp} {level} {step}{first}", *(f"{'':14}{line}" for line in rest)]
