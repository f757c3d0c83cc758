"""The `:` command line: a one-line prompt at the bottom, with history; it returns the typed line."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Input


class CommandLineScreen(ModalScreen[str | None]):
    """Type ``run daily_sales``, ``runs failed``, ``theme nord``...; Enter runs it, Esc closes."""

    BINDINGS = [
        Binding("escape", "close", "Close", show=False),
        Binding("up", "history(-1)", "Previous", show=False),
        Binding("down", "history(1)", "Next", show=False),
    ]

    def __init__(self, history: list[str], prefix: str = "") -> None:
        super().__init__()
        self.history = history
        self.prefix = prefix
        self._history_index = len(history)

    def compose(self) -> ComposeResult:
        """A single input docked at the bottom."""
        yield Input(value=self.prefix, placeholder="run PIPELINE · runs failed · theme nord · help · quit",
                    id="command-input")

    def on_mount(self) -> None:
        """Focus the input with the cursor after the prefix."""
        field = self.query_one(Input)
        field.focus()
        field.cursor_position = len(field.value)

    def action_close(self) -> None:
        """Close without running anything."""
        self.dismiss(None)

    def action_history(self, step: int) -> None:
        """Walk through earlier commands."""
        if not self.history:
            return
        self._history_index = max(0, min(len(self.history), self._history_index + step))
        field = self.query_one(Input)
        field.value = self.history[self._history_index] if self._history_index < len(self.history) else ""
        field.cursor_position = len(field.value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        line = event.value.strip().removeprefix(":").strip()
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
        self.dismiss(line or None)
