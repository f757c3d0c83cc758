"""The pipelines screen: each pipeline's last run, next scheduled time and trigger, and its DAG."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Container, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from flowdeck.console.tui.actions import bindings
from flowdeck.console.tui.messages import DagLoaded, PipelinesLoaded
from flowdeck.console.tui.screens.base import ConsoleScreen
from flowdeck.console.tui.widgets.footer import ConsoleFooter
from flowdeck.console.tui.widgets.status import (
    short_time,
    status_style,
    status_symbol,
    status_text,
    step_status,
    tone,
    zoned_time,
)
from flowdeck.console.tui.widgets.tables import ColumnSpec, cursor_key, lay_out, pick, refill
from flowdeck.console.tui.widgets.top_bar import TopBar
from flowdeck.engine.errors import FlowdeckError

if TYPE_CHECKING:
    from flowdeck.engine.plan.describe import PipelineSummary
    from flowdeck.state import EventRecord


WHEN_FROM_WIDTH = 100  # the list's WHEN column needs this much room; the DAG panel names the last run anyway


class PipelinesScreen(ConsoleScreen):
    """The pipeline list and the selected pipeline's DAG."""

    SCOPE = "pipelines"
    TITLE_TEXT = "Pipelines"
    BINDINGS = bindings("pipelines")
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]

    def __init__(self) -> None:
        super().__init__(id="pipelines")
        self.summaries: list[PipelineSummary] = []
        self.filter_text = ""
        self._dag_for: str | None = None

    def compose(self) -> ComposeResult:
        """Top bar, filter, list and DAG side by side (stacked when narrow), footer."""
        yield TopBar(self.TITLE_TEXT)
        yield Input(placeholder="filter pipelines (Esc clears)", id="filter", classes="filter")
        with Container(id="pipelines-body"):
            yield DataTable(id="pipeline-table", cursor_type="row", zebra_stripes=False)
            with VerticalScroll(id="dag-panel"):
                yield Static("", id="dag")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        """Start with the filter hidden and the list focused."""
        self.query_one("#filter", Input).display = False
        self.query_one(DataTable).focus()

    def load(self) -> Message:
        """Every pipeline's summary (runs in a thread)."""
        return PipelinesLoaded(self.console.workspace.pipeline_summaries(now=self.console.clock()))

    def ledger_changed(self, events: list[EventRecord]) -> None:
        """Only run state changes alter this screen."""
        if any(event.kind.startswith("run.") for event in events):
            self.reload()

    def files_changed(self, *, visible: bool) -> None:
        """Pipelines edited elsewhere: their validity, triggers and DAG are read again."""
        self._dag_for = None
        self.reload()

    def on_pipelines_loaded(self, message: PipelinesLoaded) -> None:
        """Fill the table, keeping the cursor on the same pipeline."""
        self.summaries = message.summaries
        self.console.pipeline_names = [summary.name for summary in self.summaries]
        self.console.pipeline_params = {summary.name: summary.params for summary in self.summaries}
        self._render_rows()
        self.call_after_refresh(self._render_rows)  # once laid out, the table knows its own width

    def on_resize(self) -> None:
        """Columns follow the width: the trigger gets what is left, WHEN goes on narrow screens."""
        if self.summaries:
            self.call_after_refresh(self._render_rows)

    def _columns(self) -> list[ColumnSpec]:
        longest = max((len(summary.name) for summary in self.summaries), default=8)
        return [ColumnSpec("PIPELINE", "name", min(max(longest, 8), 24)), ColumnSpec("LAST RUN", "status", 12),
                ColumnSpec("WHEN", "when", 11, min_table_width=WHEN_FROM_WIDTH), ColumnSpec("NEXT", "next", 15),
                ColumnSpec("TRIGGER", "trigger", None, min_width=12)]

    def _render_rows(self) -> None:
        now = self.console.clock()
        table = self.query_one(DataTable)
        keys = lay_out(table, self._columns())
        rows = []
        for summary in self.summaries:
            if self.filter_text and self.filter_text.lower() not in summary.name.lower():
                continue
            last = summary.last_run
            cells = {
                "name": summary.name,
                "status": status_text("invalid" if not summary.valid else last.status if last else "never"),
                "when": short_time((last.ended_at or last.started_at or last.created_at) if last else None, now=now),
                "next": self._next_text(summary, now),
                "trigger": summary.trigger,
            }
            rows.append((summary.name, pick(cells, keys)))
        refill(table, rows)
        self._load_dag()

    def _next_text(self, summary: PipelineSummary, now: float) -> str:
        """When the daemon fires it next, in the schedule's own zone; without a daemon, that nothing will."""
        if summary.next_run_at is None:
            return ""
        if self.console.daemon_running is False:
            return "⏸ no daemon"
        return zoned_time(summary.next_run_at, summary.schedule_timezone, now=now)

    def daemon_changed(self) -> None:
        """The daemon started or stopped: NEXT and the DAG's schedule line say it."""
        self._render_rows()

    def _schedule_line(self, summary: PipelineSummary | None) -> str:
        if summary is None:
            return ""
        last = summary.last_run
        header = ""
        if last is not None:  # beside the list, whole: on a narrow screen the list has no WHEN column
            when = short_time(last.ended_at or last.started_at or last.created_at, now=self.console.clock())
            header = f"last run {status_symbol(last.status)} {last.status} {when} (run {last.run_id})\n"
        if not summary.needs_daemon:
            return header + ("\n" if header else "")
        header += f"trigger {_escape(summary.trigger)}\n"
        next_at = zoned_time(summary.next_run_at, summary.schedule_timezone, now=self.console.clock())
        when = f"{header}next {next_at} ({summary.schedule_timezone})" if next_at else header.rstrip("\n")
        if self.console.daemon_running is False:
            why = self.console.daemon_reason or "not running"
            return f"{when}\n[b]⏸ no daemon ({_escape(why)})[/b]: nothing fires it; start one: flowdeck daemon\n\n"
        return f"{when}\n\n"

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_runs_of_pipeline()

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._load_dag()

    def _load_dag(self) -> None:
        name = self.selected_pipeline()
        if name is None:
            self.query_one("#dag", Static).update("no pipelines" if not self.summaries else "")
            return
        summary = next((s for s in self.summaries if s.name == name), None)
        last = summary.last_run if summary else None
        workspace = self.console.workspace
        schedule = self._schedule_line(summary)

        def draw() -> Message:
            from flowdeck.engine.plan.describe import graph_text

            try:
                plan = workspace.plan(name)
            except FlowdeckError as error:
                return DagLoaded(name, f"[b]✗ {name} is invalid[/b]\n\n{_escape(error.render())}\n\n"
                                       "press e to edit it")
            marks: dict[str, str] = {}
            if last is not None:

                checks = workspace.ledger.checks_of(last.run_id)
                for step in workspace.ledger.steps_of(last.run_id):
                    shown = step_status(step, checks)  # reused ↺ and warned ! read as such, not as ✓
                    symbol, style = status_symbol(shown), status_style(shown)
                    marks[step.step] = f"[{style}]{symbol}[/]" if style else symbol
            text = schedule + graph_text(plan, marks=marks)
            description = summary.description if summary else None
            if description:
                shade = tone("dim")
                text += f"\n\n[{shade}]{_escape(description)}[/]" if shade else f"\n\n{_escape(description)}"
            return DagLoaded(name, text)

        self.console.engine_worker(self, draw, title=f"drawing {name}", group="dag", exclusive=True)

    def on_dag_loaded(self, message: DagLoaded) -> None:
        """Show the DAG if it is still the selected pipeline's."""
        if message.pipeline == self.selected_pipeline():
            self.query_one("#dag", Static).update(message.markup)

    # -- actions -----------------------------------------------------------------------------------------

    def selected_pipeline(self) -> str | None:
        """The pipeline under the cursor."""
        return cursor_key(self.query_one(DataTable))

    def selected_params(self) -> dict[str, str | None] | None:
        """The selected pipeline's parameters and defaults."""
        name = self.selected_pipeline()
        summary = next((s for s in self.summaries if s.name == name), None)
        return summary.params if summary else None

    def action_runs_of_pipeline(self) -> None:
        """Show the selected pipeline's runs."""
        name = self.selected_pipeline()
        if name:
            self.console.action_show_runs(name)

    def action_filter(self) -> None:
        """Show and focus the filter."""
        self.open_field(self.query_one("#filter", Input))

    def why_not(self, action: str) -> str | None:
        """`/` is text while the filter has the focus."""
        return self.typing_in_field(action)

    def handle_back(self) -> bool:
        """Esc first clears and hides an open filter."""
        field = self.query_one("#filter", Input)
        if not field.display:
            return False
        field.value = ""
        field.display = False
        self.query_one(DataTable).focus()
        return True

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._render_rows()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.query_one(DataTable).focus()


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
