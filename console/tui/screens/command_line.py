"""The `:` command line: a one-line prompt at the bottom, with history; it returns the typed line."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from flowdeck.console.tui.completion import complete


class CommandLineScreen(ModalScreen[str | None]):
    """Type ``run daily_sales``, ``runs failed``, ``theme nord``...; Enter runs it, Esc closes."""

    BINDINGS = [
        Binding("escape", "close", "Close", show=False),
        Binding("up", "history(-1)", "Previous", show=False),
        Binding("down", "history(1)", "Next", show=False),
        Binding("tab", "complete", "Complete", show=False),  # not "next field": completion
    ]

    def __init__(self, history: list[str], prefix: str = "", *, verbs: Sequence[str] = (),
                 arguments: Callable[[str, list[str]], Sequence[str]] = lambda verb, words: ()) -> None:
        super().__init__()
        self.history = history
        self.prefix = prefix
        self.verbs = verbs
        self.arguments = arguments
        self._history_index = len(history)
        self._completed = ""

    def compose(self) -> ComposeResult:
        """The candidates of the last Tab, and a single input, docked at the bottom."""
        yield Static("", id="command-candidates", markup=False)
        yield Input(value=self.prefix, placeholder="run PIPELINE · runs failed · theme nord · help · quit (Tab completes)",
                    id="command-input")

    def on_mount(self) -> None:
        """Focus the input with the cursor after the prefix."""
        field = self.query_one(Input)
        field.focus()
        field.cursor_position = len(field.value)
        self.query_one("#command-candidates", Static).display = False

    def action_close(self) -> None:
        """Close without running anything."""
        self.dismiss(None)

    def action_complete(self) -> None:
        """Complete the word being typed (a verb, a pipeline, a run, a theme ...); list the choices left."""
        field = self.query_one(Input)
        done = complete(field.value.lstrip(":"), self.verbs, self.arguments)
        self._completed = done.line
        field.value = done.line
        field.cursor_position = len(field.value)
        shown = self.query_one("#command-candidates", Static)
        shown.update("  ".join(done.candidates))
        shown.display = bool(done.candidates)

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        if event.value != self._completed:  # typing (not the completion itself) makes the list stale
            self.query_one("#command-candidates", Static).display = False

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
