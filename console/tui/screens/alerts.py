"""The alerts screen: alerts firing (and recently resolved), newest first; acknowledge them."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Static

from flowdeck.console.tui.actions import bindings
from flowdeck.console.tui.messages import AlertAcknowledged, AlertsLoaded
from flowdeck.console.tui.screens.base import ConsoleScreen
from flowdeck.console.tui.widgets.footer import ConsoleFooter
from flowdeck.console.tui.widgets.status import short_time, status_text
from flowdeck.console.tui.widgets.tables import ColumnSpec, cursor_key, lay_out, pick, refill
from flowdeck.console.tui.widgets.top_bar import TopBar
from flowdeck.state import AlertRecord
from flowdeck.state import EventRecord


class AlertsScreen(ConsoleScreen):
    """What went wrong, newest first, until someone acknowledges it."""

    SCOPE = "alerts"
    TITLE_TEXT = "Alerts"
    BINDINGS = bindings("alerts")

    def __init__(self) -> None:
        super().__init__(id="alerts")
        self.alerts: list[AlertRecord] = []
        self.show_acknowledged = True

    def compose(self) -> ComposeResult:
        """Top bar, counts, table, footer."""
        yield TopBar(self.TITLE_TEXT)
        yield Static("", id="alerts-line", classes="subtitle")
        yield DataTable(id="alert-table", cursor_type="row")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        """Focus the list."""
        self.query_one(DataTable).focus()

    def load(self) -> Message:
        """The alerts (runs in a thread)."""
        return AlertsLoaded(self.console.workspace.alerts(include_acknowledged=self.show_acknowledged))

    def ledger_changed(self, events: list[EventRecord]) -> None:
        """Runs finishing, checks and acknowledgements change this list."""
        if any(event.kind.startswith(("run.", "check.", "alert.")) for event in events):
            self.reload()

    def on_alerts_loaded(self, message: AlertsLoaded) -> None:
        """Fill the table, keeping the cursor on the same alert."""
        self.alerts = message.alerts
        self._render_rows()
        self.call_after_refresh(self._render_rows)  # once laid out, the table knows its own width
        new = sum(1 for alert in message.alerts if alert.status != "resolved" and not alert.acknowledged)  # firing
        shown = "including acknowledged" if self.show_acknowledged else "acknowledged hidden"
        self.query_one("#alerts-line", Static).update(f"{new} new · {len(message.alerts)} shown ({shown})")

    def on_resize(self) -> None:
        """Columns follow the width: WHAT gets what is left."""
        self.call_after_refresh(self._render_rows)

    def _render_rows(self) -> None:
        now = self.console.clock()
        table = self.query_one(DataTable)
        longest = max((len(alert.pipeline or "-") for alert in self.alerts), default=8)
        keys = lay_out(table, [ColumnSpec("STATE", "state", 10), ColumnSpec("LEVEL", "level", 10),
                               ColumnSpec("WHEN", "when", 11),
                               ColumnSpec("PIPELINE", "pipeline", min(max(longest, 8), 20)),
                               ColumnSpec("WHAT", "what", None, min_width=16)])
        refill(table, ((alert.alert_id, pick({
            "state": status_text("resolved" if alert.status == "resolved" else "acked" if alert.acknowledged else "new"),
            "level": status_text(alert.severity), "when": short_time(alert.ts, now=now), "pipeline": alert.pipeline or "-",
            "what": f"{alert.title}: {alert.detail}" if alert.detail else alert.title}, keys)) for alert in self.alerts))

    def _selected_alert(self) -> AlertRecord | None:
        key = cursor_key(self.query_one(DataTable))
        return next((alert for alert in self.alerts if alert.alert_id == key), None)

    def selected_run(self) -> str | None:
        """The run the highlighted alert is about."""
        alert = self._selected_alert()
        return alert.run_id if alert else None

    def selected_pipeline(self) -> str | None:
        """The pipeline the highlighted alert is about."""
        alert = self._selected_alert()
        return alert.pipeline if alert else None

    def action_acknowledge(self) -> None:
        """Acknowledge the highlighted alert."""
        if self.console.refuse_if_read_only("acknowledging an alert", "acknowledge"):
            return
        alert = self._selected_alert()
        if alert is None:
            return
        workspace = self.console.workspace
        self.console.engine_worker(
            self, lambda: AlertAcknowledged(alert.alert_id, workspace.acknowledge_alert(alert.alert_id)),
            title="acknowledging", group="ack")

    def on_alert_acknowledged(self, message: AlertAcknowledged) -> None:
        """Say so and refresh."""
        self.notify("acknowledged" if message.newly else "already acknowledged", timeout=2)
        self.reload()

    def action_toggle_acknowledged(self) -> None:
        """Show or hide acknowledged alerts."""
        self.show_acknowledged = not self.show_acknowledged
        self.reload()

    def action_open_selected(self) -> None:
        """Open the run of the highlighted alert."""
        run = self.selected_run()
        if run:
            from flowdeck.console.tui.screens.run_detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(run))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_selected()
