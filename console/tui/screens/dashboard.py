"""The dashboard: every pipeline's run counts, success rate, duration trend and percentiles,
errors by kind and the slowest steps (`flowdeck stats`, on screen)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Static

from flowdeck.console.cli.charts import sparkline
from flowdeck.console.tui.actions import bindings
from flowdeck.console.tui.messages import StatsLoaded
from flowdeck.console.tui.screens.base import ConsoleScreen
from flowdeck.console.tui.widgets.footer import ConsoleFooter
from flowdeck.console.tui.widgets.status import format_duration, tone
from flowdeck.console.tui.widgets.tables import refill
from flowdeck.console.tui.widgets.top_bar import TopBar
from flowdeck.state import EventRecord
from flowdeck.state.status import RUN_FAILURES, RunStatus

DAYS = 30.0


class DashboardScreen(ConsoleScreen):
    """History and trends of the last 30 days, refreshed as runs finish."""

    SCOPE = "dashboard"
    TITLE_TEXT = "Dashboard"
    BINDINGS = bindings("dashboard")

    def compose(self) -> ComposeResult:
        """Top bar, totals, pipelines table, errors and slowest steps, footer."""
        yield TopBar(self.TITLE_TEXT)
        yield Static("loading…", id="dashboard-line", classes="subtitle")
        table: DataTable[object] = DataTable(id="stats-table", cursor_type="row")
        for label, key, width in (("PIPELINE", "pipeline", 16), ("RUNS", "runs", 5), ("OK", "ok", 5),
                                  ("FAIL", "failed", 5), ("RATE", "rate", 5), ("P50", "p50", 8),
                                  ("P95", "p95", 8), ("TREND", "trend", None)):
            table.add_column(label, key=key, width=width)
        yield table
        yield Static("", id="dashboard-details")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        """Focus the table."""
        self.query_one(DataTable).focus()

    def load(self) -> Message:
        """The statistics (runs in a thread)."""
        return StatsLoaded(self.console.workspace.stats(days=DAYS))

    def ledger_changed(self, events: list[EventRecord]) -> None:
        """A run that ends changes the figures."""
        if any(event.kind in ("run.succeeded", "run.failed", "run.abandoned", "run.canceled") for event in events):
            self.reload()

    def on_stats_loaded(self, message: StatsLoaded) -> None:
        """Fill the table and the details."""
        report = message.report
        refill(self.query_one(DataTable), ((item.pipeline, (
            item.pipeline, str(item.total), str(item.counts.get(RunStatus.SUCCEEDED, 0)),
            str(sum(item.counts.get(status, 0) for status in RUN_FAILURES)),
            "" if item.success_rate is None else f"{item.success_rate:.0f}%",
            format_duration(item.percentile(0.5)), format_duration(item.percentile(0.95)),
            Text(sparkline(item.durations(None), 30), style=tone("cyan")))) for item in report.pipelines))
        runs = sum(item.total for item in report.pipelines)
        self.query_one("#dashboard-line", Static).update(f"{runs} runs of {len(report.pipelines)} pipelines "
                                                         f"in the last {DAYS:g} days")
        details = Text()
        if report.error_kinds:
            details.append("errors by kind: ", style="bold")
            details.append(", ".join(f"{kind} {count}" for kind, count in report.error_kinds[:6]) + "\n")
        if report.slowest_steps:
            details.append("slowest steps: ", style="bold")
            details.append(", ".join(f"{pipeline}.{history.step} {format_duration(history.mean_seconds)}"
                                     for pipeline, history in report.slowest_steps[:5]))
        self.query_one("#dashboard-details", Static).update(details)

    def selected_pipeline(self) -> str | None:
        """The highlighted pipeline."""
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return str(row_key.value)
