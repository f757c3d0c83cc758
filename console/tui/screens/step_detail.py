"""One step of a run in full: its whole error, parameters, rows, checks with failing rows, the SQL
it ran (on Spark, the transpiled SQL that actually ran), its log lines, and why it ran.

Everything comes from ``Workspace.step_detail`` (the same as `flowdeck show RUN --step STEP`),
read in a worker; the screen reloads while the step's run is going on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from flowdeck.console.cli.charts import format_bytes
from flowdeck.console.tui.actions import bindings
from flowdeck.console.tui.messages import StepDetailLoaded
from flowdeck.console.tui.screens.base import ConsoleScreen
from flowdeck.console.tui.widgets.footer import ConsoleFooter
from flowdeck.console.tui.widgets.status import format_duration, format_rows, short_time, status_text, step_status, tone
from flowdeck.console.tui.widgets.top_bar import TopBar

if TYPE_CHECKING:
    from flowdeck.engine.monitor.views import StepDetail
    from flowdeck.state import EventRecord

PLAN_REASON_MISSING = "not recorded (the run predates fingerprints)"


class StepDetailScreen(ConsoleScreen):
    """Everything about one step of one run, scrollable."""

    SCOPE = "step"
    TITLE_TEXT = "Step"
    BINDINGS = bindings("step")

    def __init__(self, run_id: str, step: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.step = step
        self.detail: StepDetail | None = None

    def compose(self) -> ComposeResult:
        """Top bar, the sections in one scroller, footer."""
        yield TopBar(f"Run {self.run_id} › {self.step}")
        with VerticalScroll(id="step-body"):
            yield Static("loading…", id="step-summary")
            yield Static("", id="step-error", markup=False)
            yield Static("", id="step-checks")
            yield Static("", id="step-sql")
            yield Static("", id="step-log")
            yield Static("", id="step-plan")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        """Focus the scroller, so arrows and page keys move through the sections."""
        self.query_one("#step-body").focus()

    def load(self) -> Message:
        """The step in detail (runs in a thread)."""
        return StepDetailLoaded(self.console.workspace.step_detail(self.run_id, self.step))

    def ledger_changed(self, events: list[EventRecord]) -> None:
        """Reload while the step's run has news."""
        if any(event.run_id == self.run_id for event in events):
            self.reload()

    def on_step_detail_loaded(self, message: StepDetailLoaded) -> None:
        """Draw every section."""
        self.detail = detail = message.detail
        self.query_one("#step-summary", Static).update(_summary(detail, self.console.clock()))
        error = self.query_one("#step-error", Static)
        error.display = bool(detail.record.error)
        if detail.record.error:
            error.update(Text(detail.record.error, style=tone("bold red")))
        checks = self.query_one("#step-checks", Static)
        checks.display = bool(detail.checks)
        if detail.checks:
            checks.update(_checks(detail))
        self.query_one("#step-sql", Static).update(_sql(detail))
        self.query_one("#step-log", Static).update(_log(detail))
        reason = detail.plan_reason or PLAN_REASON_MISSING
        self.query_one("#step-plan", Static).update(Text.assemble(("plan reason  ", "bold"), reason))

    # -- actions ---------------------------------------------------------------------------------

    def action_scroll_down(self) -> None:
        """Down a line."""
        self.query_one("#step-body", VerticalScroll).scroll_down(animate=False)

    def action_scroll_up(self) -> None:
        """Up a line."""
        self.query_one("#step-body", VerticalScroll).scroll_up(animate=False)

    def action_scroll_top(self) -> None:
        """To the top."""
        self.query_one("#step-body", VerticalScroll).scroll_home(animate=False)

    def action_scroll_bottom(self) -> None:
        """To the end."""
        self.query_one("#step-body", VerticalScroll).scroll_end(animate=False)

    def selected_run(self) -> str | None:
        """This step's run."""
        return self.run_id

    def selected_step(self) -> str | None:
        """This step."""
        return self.step

    def selected_pipeline(self) -> str | None:
        """The run's pipeline."""
        return self.detail.run.pipeline if self.detail else None


def _summary(detail: StepDetail, now: float) -> Text:
    record, view, run = detail.record, detail.view, detail.run
    text = status_text(step_status(record, detail.checks))
    text.append(f" · {record.step} · {record.kind} · {run.pipeline}")
    if record.reused_from:
        text.append(f" · {'output of' if record.unchanged else 'reused from'} run {record.reused_from}")
    else:
        text.append(f" · {format_duration(record.duration) or 'not started'}")
        if record.attempts > 1:
            text.append(f" · {record.attempts} attempts")
    if record.started_at:
        text.append(f" · started {short_time(record.started_at, now=now)}")
    if record.engine:
        text.append(f" · {record.engine}")
    params = " ".join(f"{name}={value}" for name, value in run.params.items())
    text.append(f"\nparams {params or '(none)'}")
    text.append(f"\nrows in {format_rows(view.rows_in) or '-'} · rows out {format_rows(view.rows_out) or '-'}")
    if view.bytes_in or view.bytes_out:
        text.append(f" · bytes in {format_bytes(view.bytes_in) or '-'} · bytes out {format_bytes(view.bytes_out) or '-'}")
    for attempt in detail.attempts:
        if attempt.status == "failed" and attempt.retry_in is not None:
            text.append(f"\nattempt {attempt.attempt} failed (retried after {attempt.retry_in:g}s): {attempt.error}")
    return text


def _checks(detail: StepDetail) -> RenderableType:
    parts: list[RenderableType] = [Text("checks", style="bold")]
    for check in detail.checks:
        line = status_text(check.status)
        line.append(f" {check.check_name}")
        if check.status != "passed":
            line.append(f" · {check.failing_rows:,} failing rows")
        parts.append(line)
        if check.sample:
            table = Table(box=None, pad_edge=False, show_header=True, padding=(0, 1))
            columns = list(check.sample[0])
            for column in columns:
                table.add_column(column, no_wrap=True)
            for row in check.sample:
                table.add_row(*(str(row.get(column)) for column in columns))
            parts.append(table)
    return Group(*parts)


def _sql(detail: StepDetail) -> RenderableType:
    statements = detail.last_statements
    if not statements:
        return Text.assemble(("sql  ", "bold"), "none recorded (the step ran no SQL, or ran before flowdeck kept it)")
    parts: list[RenderableType] = []
    for statement in statements:
        parts.append(Text(f"sql · {statement.purpose} · {statement.engine} · attempt {statement.attempt}",
                          style="bold"))
        parts.append(Syntax(statement.sql.rstrip(), "sql", theme="ansi_dark", word_wrap=True,
                            background_color="default"))
    return Group(*parts)


def _log(detail: StepDetail) -> RenderableType:
    from datetime import datetime

    text = Text("log\n", style="bold")
    for event in detail.events:
        stamp = datetime.fromtimestamp(event.ts).strftime("%H:%M:%S")
        level = {"error": "ERR ", "warning": "WARN"}.get(event.level, "    ")
        text.append(f"{stamp} {level} {event.message}\n")
    if not detail.events:
        text.append("(no lines)\n")
    return text
