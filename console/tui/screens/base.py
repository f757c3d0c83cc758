"""What every console screen shares: the read-only gate, the top bar, and reloading from the ledger.

A screen loads its data in a thread worker (``load`` builds a message ready to render) and
applies it in a message handler. New ledger events ask for a reload; while one is running,
further requests collapse into one more reload after it, so a stream of events cannot queue
up work or stall the screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol, cast, runtime_checkable

from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Input
from textual.worker import Worker, WorkerState

from flowdeck.console.tui.actions import is_refused
from flowdeck.state import EventRecord

if TYPE_CHECKING:
    from flowdeck.console.tui.app import FlowdeckConsole


@runtime_checkable
class FollowsProjectFiles(Protocol):
    """A screen or dialog showing what the project's files say (every console screen; the launch dialog's plan)."""

    def files_changed(self, *, visible: bool) -> None:
        """The project's pipeline files changed on disk (edited elsewhere): read them again."""


class ConsoleScreen(Screen[None]):
    """A full screen of the console."""

    SCOPE: ClassVar[str] = ""
    TITLE_TEXT: ClassVar[str] = ""

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self._load_worker: Worker[None] | None = None
        self._reload_wanted = False

    @property
    def console(self) -> FlowdeckConsole:
        """The app, typed."""
        return cast("FlowdeckConsole", self.app)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide and refuse actions that change things in read-only mode, and those that do not apply."""
        if is_refused(action, self.console.read_only, self.console.allowed):
            return False
        return self.why_not(action) is None

    def why_not(self, action: str) -> str | None:
        """Why ``action`` does not apply to what this screen shows (a sentence), or None when it does."""
        return None

    def open_field(self, field: Input) -> None:
        """Show ``field`` and give it the focus now, not at the next turn of the event loop as ``focus()``
        does: the keys typed right after the one that opened it are already on their way, and go into it."""
        field.display = True
        self.set_focus(field)

    def typing_in_field(self, action: str) -> str | None:
        """Why a key that opens a field (a priority binding, ``opens_field``) does not act while that field
        has the focus: the key is text there (`/` in a filter)."""
        if action != "filter":
            return None
        fields = self.query("#filter")
        return "the filter has the focus: the key is text there" if fields and self.focused is fields.first() else None

    # -- loading ---------------------------------------------------------------------------------

    def load(self) -> Message | None:
        """Read what the screen shows (runs in a thread; must not touch widgets)."""
        return None

    def reload(self) -> None:
        """Load again now, or right after the load in progress."""
        if self._load_worker is not None and not self._load_worker.is_finished:
            self._reload_wanted = True
            return
        self._reload_wanted = False
        self._load_worker = self.console.engine_worker(self, self.load, title=f"loading {self.TITLE_TEXT.lower()}",
                                                       group="load")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Start the reload that was asked for while loading."""
        if event.worker is self._load_worker and event.state in (WorkerState.SUCCESS, WorkerState.ERROR,
                                                                  WorkerState.CANCELLED):
            if self._reload_wanted:
                self.reload()

    def on_screen_resume(self) -> None:
        """Show fresh data whenever the screen comes back."""
        self.refresh_top_bar()
        self.reload()

    def refresh_top_bar(self) -> None:
        """Redraw this screen's top bar (mode, counts and badges may have changed meanwhile)."""
        from flowdeck.console.tui.widgets.top_bar import TopBar

        for bar in self.query(TopBar):
            bar.update_from_app()

    def ledger_changed(self, events: list[EventRecord]) -> None:
        """New ledger events (the app calls this on the visible screen); reload by default."""
        self.reload()

    def daemon_changed(self) -> None:
        """The daemon started or stopped; screens that show schedules redraw."""

    def files_changed(self, *, visible: bool) -> None:
        """The project's pipeline files changed on disk (edited elsewhere); screens showing them reload."""

    def unsaved_work(self) -> list[str]:
        """What would be lost if this screen closed now (edited files, a filled form); empty when nothing."""
        return []

    def handle_back(self) -> bool:
        """Handle Esc/back inside the screen (close a filter...); ``False`` lets the app go back."""
        return False

    # -- moving in the screen's list (j/k/g/G) -----------------------------------------------------

    def list_table(self) -> DataTable[object] | None:
        """The list j/k/g/G move in (the screen's first table)."""
        tables = self.query(DataTable)
        return tables.first() if tables else None

    def action_cursor_down(self) -> None:
        """Down one row."""
        if (table := self.list_table()) is not None:
            table.action_cursor_down()

    def action_cursor_up(self) -> None:
        """Up one row."""
        if (table := self.list_table()) is not None:
            table.action_cursor_up()

    def action_cursor_top(self) -> None:
        """To the first row."""
        if (table := self.list_table()) is not None and table.row_count:
            table.move_cursor(row=0)

    def action_cursor_bottom(self) -> None:
        """To the last row."""
        if (table := self.list_table()) is not None and table.row_count:
            table.move_cursor(row=table.row_count - 1)

    # -- what the app's actions act on -------------------------------------------------------------

    def selected_pipeline(self) -> str | None:
        """The pipeline under the cursor, if this screen has one."""
        return None

    def selected_params(self) -> dict[str, str | None] | None:
        """The parameters (name → default) of the selected pipeline, when known."""
        return None

    def selected_run(self) -> str | None:
        """The run under the cursor (or shown), if any."""
        return None

    def selected_step(self) -> str | None:
        """The step under the cursor, if any."""
        return None
