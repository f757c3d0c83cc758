"""A small preview of a published table: the first rows, capped, read without blocking the screen.

While a run holds the warehouse the preview waits in a worker and says which run holds it;
the raw DuckDB lock error is never shown.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Static

from flowdeck.console.tui.actions import bindings
from flowdeck.console.tui.messages import PreviewFailed, PreviewLoaded, PreviewWaiting, TablesListed
from flowdeck.console.tui.screens.base import ConsoleScreen
from flowdeck.console.tui.widgets.footer import ConsoleFooter
from flowdeck.console.tui.widgets.status import tone
from flowdeck.console.tui.widgets.top_bar import TopBar
from flowdeck.engine.errors import FlowdeckError
from flowdeck.state import EventRecord

CELL_WIDTH = 40  # longer values are cut: a preview is for looking, not reading documents


class PreviewScreen(ConsoleScreen):
    """The first rows of one table; ``n`` steps through the pipeline's tables."""

    SCOPE = "preview"
    TITLE_TEXT = "Preview"
    BINDINGS = bindings("preview")

    def __init__(self, *, pipeline: str | None = None, table: str | None = None) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.tables: list[str] = [table] if table else []
        self.table = table

    def compose(self) -> ComposeResult:
        """Top bar, status line, rows, footer."""
        yield TopBar("Preview")
        yield Static("", id="preview-status", classes="subtitle")
        yield DataTable(id="preview-table", cursor_type="cell")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        """List the pipeline's tables, or read the named table."""
        self.query_one(DataTable).focus()
        if self.table is None and self.pipeline is not None:
            workspace, pipeline = self.console.workspace, self.pipeline
            self.console.engine_worker(self, lambda: TablesListed(workspace.published_tables(pipeline)),
                                       title=f"listing tables of {pipeline}", group="tables")
        else:
            self.refresh_preview()

    def on_screen_resume(self) -> None:
        """A preview is read on request only."""
        self.refresh_top_bar()

    def ledger_changed(self, events: list[EventRecord]) -> None:
        """A preview is read on request only (r refreshes)."""

    def on_tables_listed(self, message: TablesListed) -> None:
        """Start with the pipeline's last table (usually its result)."""
        self.tables = message.tables
        if not self.tables:
            self.query_one("#preview-status", Static).update(f"{self.pipeline} publishes no tables")
            return
        self.table = self.tables[-1]
        self.refresh_preview()

    def refresh_preview(self) -> None:
        """Read the table's first rows in a worker."""
        table = self.table
        if table is None:
            return
        self.query_one(TopBar).screen_title = f"Preview {table}"
        self.query_one(TopBar).update_from_app()
        self.query_one("#preview-status", Static).update(f"reading {table}…")
        workspace, limit = self.console.workspace, self.console.preview_rows

        def read() -> Message:
            try:
                result = workspace.preview_table(table, limit=limit,
                                                 on_wait=lambda text: self.post_message(PreviewWaiting(table, text)))
            except FlowdeckError as error:  # not there yet, busy too long: said on this screen, not in a dialog
                return PreviewFailed(table, error.what, error.hint)
            return PreviewLoaded(table, result)

        self.console.engine_worker(self, read, title=f"reading {table}", group="preview", exclusive=True)

    def action_refresh_preview(self) -> None:
        """Read again."""
        self.refresh_preview()

    def action_next_table(self) -> None:
        """Preview the pipeline's next table."""
        if len(self.tables) > 1 and self.table in self.tables:
            self.table = self.tables[(self.tables.index(self.table) + 1) % len(self.tables)]
            self.refresh_preview()

    def on_preview_waiting(self, message: PreviewWaiting) -> None:
        """Say who holds the warehouse while we wait."""
        if message.table == self.table:
            self.query_one("#preview-status", Static).update(f"⏳ {message.text}")

    def on_preview_failed(self, message: PreviewFailed) -> None:
        """Why there is nothing to show, and what to do: the status line says it, the screen stays usable."""
        if message.table != self.table:
            return
        grid = self.query_one(DataTable)
        grid.clear(columns=True)
        text = Text(f"✗ {message.what}", style=tone("bold red"))
        if self.pipeline and "nothing has published it yet" in message.what:
            text.append(f"\n  run {self.pipeline} first: r on the pipelines screen, or :run {self.pipeline}")
        elif message.hint:
            text.append(f"\n  hint: {message.hint}")
        self.query_one("#preview-status", Static).update(text)

    def on_preview_loaded(self, message: PreviewLoaded) -> None:
        """Show the rows."""
        if message.table != self.table:
            return
        result = message.result
        grid = self.query_one(DataTable)
        grid.clear(columns=True)
        grid.add_columns(*result.columns)
        grid.add_rows([[_cell(value) for value in row] for row in result.rows])
        more = f" (first {len(result.rows):,}; more exist)" if result.truncated else ""
        others = f" · n: next of {len(self.tables)} tables" if len(self.tables) > 1 else ""
        engine = f" · on {result.engine}" if result.engine else ""
        stale = "".join(f"\n⚠ {warning}" for warning in result.warnings)
        self.query_one("#preview-status", Static).update(
            f"{message.table}: {len(result.rows):,} rows{more} · {len(result.columns)} columns{engine}{others}{stale}")

    def selected_pipeline(self) -> str | None:
        """The pipeline whose tables are shown."""
        return self.pipeline


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    text = str(value)
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"
